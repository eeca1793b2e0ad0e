/**
 * examples/external-agent.ts against a real agentd under
 * examples/policies/external.yaml: an agent outside the kernel, with an agent
 * credential made by `agentctl principal create`, asks before each action,
 * and its email waits for an operator's agentctl approve / deny.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentctl, node, REPO, startAgentd, until, type Agentd } from './helpers.ts';

let agentd: Agentd;
let agentToken: string;
beforeAll(async () => {
  agentd = await startAgentd(`policy: ${join(REPO, 'examples', 'policies', 'external.yaml')}\n`);
  const created = await agentctl(agentd, 'principal', 'create', '--agent', 'report-bot', '--label', 'team=finance', '--token-only');
  expect(created).toMatchObject({ status: 0, stderr: '' });
  agentToken = created.stdout.trim();
});
afterAll(() => agentd.remove());

/** runExample starts the example, answers its approval with `verdict`, and returns what it printed. */
async function runExample(verdict: 'approve' | 'deny', reason: string): Promise<{ status: number | null; stdout: string; id: string }> {
  const run = node('examples/external-agent.ts', agentd, [], { AGENT_TOKEN: agentToken });
  await until(() => /agentctl approve (ap-\d+)/.test(run.stdout()), 'the example to ask for an operator');
  const id = /agentctl approve (ap-\d+)/.exec(run.stdout())![1]!;
  expect(await agentctl(agentd, verdict, id, '--reason', reason)).toMatchObject({ status: 0 });
  const done = await run.done;
  return { status: done.status, stdout: done.stdout, id };
}

describe('examples/external-agent.ts', () => {
  it('reads, fetches, waits for approval, sends once approved, and is refused the delete', async () => {
    const { status, stdout, id } = await runExample('approve', 'report looks right');
    expect(status).toBe(0);
    expect(stdout.replace(/record #\d+/g, 'record #N')).toBe(
      [
        'acting as agent report-bot (credential report-bot, labels team=finance)',
        'file.read /data/ledger.csv: allow (rule finance-reads-data, record #N)',
        '  … read the ledger',
        'http.get http: allow (rule rates-api-only, record #N)',
        '  … fetched the rates',
        'email.send email: require_approval (rule email-needs-a-human, record #N)',
        `  waiting for an operator: agentctl approve ${id}`,
        '  approved by operator: report looks right',
        '  … sent the report',
        'file.delete /data/ledger.csv: deny (rule never-delete-ledgers, record #N)',
        '',
      ].join('\n'),
    );
    const records = (await agentd.api('GET', '/v1/decisions?agent=report-bot')).body as { type: string; syscall?: string; decision?: string; detail?: string }[];
    expect(records.filter((r) => r.type === 'syscall').map((r) => [r.syscall, r.decision])).toEqual([
      ['file.read', 'allow'],
      ['http.get', 'allow'],
      ['email.send', 'require_approval'],
      ['file.delete', 'deny'],
    ]);
    expect(records.find((r) => r.type === 'approval')?.detail).toBe(`granted email.send (${id}) by operator: report looks right`);
  });

  it('does not send when the operator denies', async () => {
    const { status, stdout } = await runExample('deny', 'not this week');
    expect(status).toBe(0);
    expect(stdout).toContain('  denied by operator: not this week\n');
    expect(stdout).not.toContain('sent the report');
    expect(stdout).toMatch(/file\.delete \/data\/ledger\.csv: deny/);
  });

  it("refuses to run with the operator's token", async () => {
    const done = await node('examples/external-agent.ts', agentd, []).done;
    expect(done.status).toBe(2);
    expect(done.stderr).toContain('acts as an agent, not as the operator');
    expect(done.stdout).toBe('');
  });
});
