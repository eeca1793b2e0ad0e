/**
 * Shadow policies through agentd and agentctl: `agentctl policy shadow set`
 * refuses a shadow that does not load (one line naming file and line,
 * status 2, nothing set); a valid one decides every request beside the
 * policy in force without changing any answer; `diff` shows the
 * disagreements by direction and rule, `/metrics` counts them, the log holds
 * them as `shadow` records in the chain; `promote` makes the shadow the
 * policy in force through the normal replacement (recorded) and clears it.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyLog } from '../../kernel/recorder/verify.ts';
import { agentctl, startAgentd, type Agentd } from './helpers.ts';

const IN_FORCE = `version: 1
rules:
  - { id: reads, effect: allow, syscalls: [file.read] }
  - { id: mail, effect: allow, syscalls: [email.send] }
`;
const CANDIDATE = `version: 1
rules:
  - { id: reads, effect: allow, syscalls: [file.read] }
  - { id: mail-needs-a-human, effect: require_approval, syscalls: [email.send] }
  - { id: deletes, effect: allow, syscalls: [file.delete] }
`;

describe('agentctl policy shadow', { timeout: 60_000 }, () => {
  let agentd: Agentd;
  let files: { candidate: string; broken: string };

  beforeAll(async () => {
    agentd = await startAgentd('policy: policy.yaml\napprovals: { mode: deny }\n', { 'policy.yaml': IN_FORCE });
    files = { candidate: agentd.write('candidate.yaml', CANDIDATE), broken: agentd.write('broken.yaml', 'version: 1\nrules:\n  - { id: x, effect: perhaps }\n') };
  }, 30_000);
  afterAll(() => agentd?.remove());

  const evaluate = async (action: string) => ((await agentd.api('POST', '/v1/evaluate', { agent: 'ext', action })).body as { decision: string; rule: string }).decision;

  it('a shadow that does not load is refused in one line (status 2) and nothing is set', async () => {
    const r = await agentctl(agentd, 'policy', 'shadow', 'set', files.broken);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^agentctl: shadow policy refused: .*broken\.yaml:3:\d+: rules\[0\]\.effect/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect((await agentd.api('GET', '/v1/policy/shadow')).status).toBe(404);
  });

  it('set: every answer stays the policy’s; diff, metrics and the log show where the shadow differs', async () => {
    const set = await agentctl(agentd, 'policy', 'shadow', 'set', files.candidate);
    expect(set).toMatchObject({ status: 0, stdout: expect.stringMatching(/^shadow policy set: sha256:\w+ \(the policy in force stays sha256:\w+\)\n$/) });
    expect([await evaluate('file.read'), await evaluate('email.send'), await evaluate('email.send'), await evaluate('file.delete')]).toEqual(['allow', 'allow', 'allow', 'deny']);

    const diff = await agentctl(agentd, 'policy', 'shadow', 'diff');
    expect(diff.status).toBe(0);
    expect(diff.stdout).toMatch(/: 3 of 4 decisions differ\n/);
    expect(diff.stdout).toMatch(/^2\s+allow->require_approval\s+mail\s+mail-needs-a-human$/m);
    expect(diff.stdout).toMatch(/^1\s+deny->allow\s+default-deny\s+deletes$/m);
    const json = JSON.parse((await agentctl(agentd, 'policy', 'shadow', 'get', '--json')).stdout) as { decisions: number; disagreements: number; source: string };
    expect(json).toMatchObject({ decisions: 4, disagreements: 3, source: CANDIDATE });

    const metrics = (await agentd.api('GET', '/metrics')).text;
    expect(metrics).toMatch(/agentk_shadow_disagreements\{shadow="sha256:\w+",direction="allow->require_approval"\} 2/);
    expect(metrics).toMatch(/agentk_shadow_decisions\{shadow="sha256:\w+"\} 4/);

    const log = readFileSync(agentd.logFile, 'utf8');
    expect(verifyLog(log)).toMatchObject({ ok: true });
    const shadows = log.trim().split('\n').map((l) => JSON.parse(l) as { type: string; detail?: string }).filter((r) => r.type === 'shadow');
    expect(shadows.map((r) => r.detail)).toEqual([
      expect.stringMatching(/^record \d+: shadow sha256:\w+ would require_approval email\.send by rule mail-needs-a-human where the policy in force gave allow by rule mail/),
      expect.stringMatching(/would require_approval email\.send/),
      expect.stringMatching(/would allow file\.delete by rule deletes where the policy in force gave deny by rule default-deny/),
    ]);
  });

  it('promote: the shadow becomes the policy in force (recorded) and is cleared; clear without one says so', async () => {
    const before = ((await agentd.api('GET', '/v1/policy')).body as { version: string }).version;
    const promoted = await agentctl(agentd, 'policy', 'shadow', 'promote');
    expect(promoted).toMatchObject({ status: 0, stdout: expect.stringMatching(new RegExp(`^shadow promoted: policy replaced: ${before} -> sha256:\\w+\\n$`)) });
    // The candidate's rule decides: a question (denied at once here, approvals: deny, so answered as the deny it is).
    expect((await agentd.api('POST', '/v1/evaluate', { agent: 'ext', action: 'email.send' })).body).toMatchObject({ decision: 'deny', rule: 'mail-needs-a-human', reason: expect.stringMatching(/^approval \S+ was denied as it was asked, by auto:deny/) });
    expect(await evaluate('file.delete')).toBe('allow');
    expect((await agentd.api('GET', '/v1/policy/shadow')).status).toBe(404);
    const clear = await agentctl(agentd, 'policy', 'shadow', 'clear');
    expect(clear.status).toBe(1);
    expect(clear.stderr).toMatch(/no shadow policy is set/);
    const log = readFileSync(agentd.logFile, 'utf8');
    expect(log).toMatch(/"detail":"shadow policy promoted after 4 decisions, 3 disagreements; policy replaced: sha256:\w+ -> sha256:\w+"/);
  });
});
