/**
 * Trust scores (kernel/trust.ts), on the kernel's clock: each denial costs
 * 10, a violation 50, a refused approval 20, clean time gives back a point a
 * second up to 1,000. A rule can match on it (`trust: { below: N }`); when a
 * penalty takes an agent below the policy's `defaults.trust_floor`, every
 * live process of the agent gets SIGTRUST, recorded. agentd shows the score
 * in ps (a TRUST column once some agent lost trust) and /metrics.
 */
import { describe, expect, it } from 'vitest';
import { fixedApprover } from '../../kernel/approvals.ts';
import type { MemoryDecisionLog } from '../../kernel/decision-log.ts';
import { Kernel } from '../../kernel/kernel.ts';
import { PolicyEngine } from '../../kernel/policy/engine.ts';
import { parsePolicy } from '../../kernel/policy/load.ts';
import { programFromSource } from '../../kernel/program.ts';
import { TrustScores } from '../../kernel/trust.ts';
import { agentctl, startAgentd, until } from '../service/helpers.ts';

const POLICY = `version: 1
defaults: { trust_floor: 960 }
rules:
  - { id: no-secrets, effect: deny, syscalls: [SYS_OPEN], paths: ["/agent/*/mem/secret*"] }
  - { id: ask-the-doubted, effect: require_approval, syscalls: [SYS_EXEC], trust: { below: 990 } }
  - { id: the-rest, effect: allow }
`;

describe('trust scores', () => {
  it('the formula: penalties by kind, a point back per clean second, forgotten at 1,000', () => {
    let now = 1_800_000_000_000;
    const trust = new TrustScores(() => now);
    expect(trust.score('a')).toBe(1000);
    expect(trust.lower('a', 'denial')).toEqual({ before: 1000, after: 990 });
    expect(trust.lower('a', 'violation')).toEqual({ before: 990, after: 940 });
    expect(trust.lower('a', 'approvalDenied')).toEqual({ before: 940, after: 920 });
    now += 30_500;
    expect(trust.score('a')).toBe(950);
    expect(trust.lowered()).toEqual([['a', 950]]);
    now += 60_000;
    expect(trust.score('a')).toBe(1000);
    expect(trust.lowered()).toEqual([]);
  });

  it('a rule matches on trust below a bound; a bad bound is refused naming the field', () => {
    const engine = new PolicyEngine(parsePolicy(POLICY, 'trust.yaml'));
    const exec = { agentId: 'a', syscall: 'SYS_EXEC', tool: 'time.now' };
    expect(engine.decide({ ...exec, trust: 995 }).effect).toBe('allow');
    expect(engine.decide({ ...exec, trust: 989 })).toMatchObject({ effect: 'require_approval', rule: 'ask-the-doubted' });
    expect(engine.decide(exec).effect).toBe('allow');
    expect(() => parsePolicy('version: 1\nrules:\n  - { id: r, effect: allow, trust: { below: 0 } }\n', 'bad.yaml')).toThrow(/bad\.yaml:3.*rules\[0\]\.trust\.below/);
  });

  it('denials lower an agent’s trust until a rule asks a human; a refused answer takes it below the floor and SIGTRUST ends it, recorded', async () => {
    let now = 1_800_000_000_000;
    const kernel = new Kernel({ policy: parsePolicy(POLICY, 'trust.yaml'), approver: fixedApprover(false), clock: () => now, stdout: () => {}, stderr: () => {} });
    try {
      const program = programFromSource(
        'doubted.js',
        `for (let i = 0; i < 3; i++) { try { sys.readFile('mem/secret.txt'); } catch {} }
         try { sys.exec('time.now', {}); } catch (e) { console.log(e.errno); }
         console.log('still here');`,
      );
      const proc = kernel.spawn(program, { agentId: 'doubted', manifest: { capabilities: ['tool:time.now'] } });
      const exit = await kernel.wait(proc.pid);
      // Three denials (970) made the tool call need an approval; the refusal (950) crossed the floor of 960.
      expect(exit).toMatchObject({ status: 137, reason: { kind: 'signal', signal: 'SIGTRUST' } });
      expect(kernel.trust.score('doubted')).toBe(950);
      const records = (kernel.recorder as MemoryDecisionLog).list();
      expect(records.filter((r) => r.type === 'syscall' && r.rule === 'ask-the-doubted')).toHaveLength(1);
      expect(records.find((r) => r.type === 'signal' && r.agentId === 'doubted')).toMatchObject({ detail: "SIGTRUST: SIGTRUST from the kernel: trust 950 fell below the policy's floor 960" });
      // Clean time gives it back on the kernel's clock.
      now += 20_000;
      expect(kernel.trust.score('doubted')).toBe(970);
    } finally {
      await kernel.shutdown();
    }
  });

  it('agentd shows the score in ps --json, as a TRUST column in ps, and in /metrics', async () => {
    const agentd = await startAgentd('policy: policy.yaml\n', { 'policy.yaml': POLICY });
    try {
      const spawned = await agentd.api('POST', '/v1/processes', { source: "for (let i = 0; i < 2; i++) { try { sys.readFile('mem/secret.txt'); } catch {} } console.log('ready'); await new Promise(() => {});", filename: 'agent.js', manifest: { id: 'peeker' } });
      const pid = (spawned.body as { pid: number }).pid;
      await until(async () => ((await agentd.api('GET', `/v1/processes/${pid}/output`)).body as { stdout: string }).stdout === 'ready\n', 'the agent to be ready');
      const listed = ((await agentd.api('GET', '/v1/processes')).body as { pid: number; trust: number }[]).find((p) => p.pid === pid)!;
      expect(listed.trust).toBeGreaterThanOrEqual(980);
      expect(listed.trust).toBeLessThan(1000);
      const ps = await agentctl(agentd, 'ps');
      expect(ps.stdout.split('\n')[0]).toMatch(/PROGRAM\s+TRUST/);
      expect(ps.stdout).toMatch(new RegExp(`^${pid}\\s.*agent\\.js\\s+9[89]\\d`, 'm'));
      expect((await agentd.api('GET', '/metrics')).text).toMatch(/^agentk_trust\{agent="peeker"\} 9[89]\d$/m);
    } finally {
      await agentd.remove();
    }
  });
});
