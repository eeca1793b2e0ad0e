/**
 * Autonomy levels (kernel/autonomy.ts): `observe` refuses an agent's
 * write-access calls (reads go on), `supervised` turns every change the
 * policy allows into a question for a human, `full` leaves it to the policy.
 * The level comes from the manifest and an operator changes it while the
 * agent runs (`agentctl autonomy`), recorded; a bad level is refused.
 */
import { describe, expect, it } from 'vitest';
import { fixedApprover } from '../../kernel/approvals.ts';
import type { MemoryDecisionLog } from '../../kernel/decision-log.ts';
import { Kernel } from '../../kernel/kernel.ts';
import { parsePolicy } from '../../kernel/policy/load.ts';
import { programFromSource } from '../../kernel/program.ts';
import { agentctl, startAgentd, until } from '../service/helpers.ts';

const ALLOW_ALL = parsePolicy('version: 1\nrules:\n  - { id: all, effect: allow }\n', 'all.yaml');
const PROGRAM = `const r = [];
try { sys.writeFile('mem/a.txt', 'x'); r.push('wrote'); } catch (e) { r.push(e.errno); }
try { sys.readdir('mem'); r.push('read'); } catch (e) { r.push(e.errno); }
sys.exit(r.join(' ') === 'wrote read' ? 0 : r.join(' ') === 'EACCES read' ? 3 : 4);`;

describe('autonomy levels', () => {
  it('observe refuses changes and lets reads through; supervised asks a human for each change; full lets the policy decide', async () => {
    const kernel = new Kernel({ policy: ALLOW_ALL, approver: fixedApprover(false), stdout: () => {}, stderr: () => {} });
    try {
      const status = async (autonomy?: 'full' | 'supervised' | 'observe') =>
        (await kernel.wait(kernel.spawn(programFromSource('p.js', PROGRAM), { agentId: `a-${autonomy ?? 'none'}`, ...(autonomy !== undefined ? { manifest: { autonomy } } : {}) }).pid)).status;
      expect(await status()).toBe(0);
      expect(await status('full')).toBe(0);
      expect(await status('observe')).toBe(3);
      expect(await status('supervised')).toBe(3);
      const records = (kernel.recorder as MemoryDecisionLog).list();
      const byAutonomy = records.filter((r) => r.type === 'syscall' && r.rule === 'kernel.autonomy').map((r) => [r.agentId, r.type === 'syscall' && r.effect]);
      // The first change of each: observe denies it, supervised asks (and the approver here refuses).
      expect(byAutonomy).toContainEqual(['a-observe', 'deny']);
      expect(byAutonomy).toContainEqual(['a-supervised', 'require_approval']);
      expect(() => kernel.spawn(programFromSource('p.js', PROGRAM), { agentId: 'bad', manifest: { autonomy: 'reckless' as never } })).toThrow(/autonomy must be one of full, supervised, observe, not 'reckless'/);
    } finally {
      await kernel.shutdown();
    }
  });

  it('an operator changes a running agent’s level with agentctl autonomy: recorded, and its next change is refused', async () => {
    const agentd = await startAgentd('policy: policy.yaml\n', { 'policy.yaml': 'version: 1\nrules:\n  - { id: all, effect: allow }\n' });
    try {
      const source = "sys.signal.on('SIGUSR1', () => { try { sys.writeFile('mem/n.txt', 'x'); console.log('wrote'); } catch (e) { console.log(e.errno); } }); console.log('ready'); await new Promise(() => {});";
      const spawned = await agentd.api('POST', '/v1/processes', { source, filename: 'agent.js', manifest: { id: 'writer' } });
      const pid = (spawned.body as { pid: number }).pid;
      const stdout = async () => ((await agentd.api('GET', `/v1/processes/${pid}/output`)).body as { stdout: string }).stdout;
      await until(async () => (await stdout()) === 'ready\n', 'the agent to be ready');
      expect((await agentctl(agentd, 'autonomy', 'writer')).stdout).toBe('writer: full\n');
      expect(await agentctl(agentd, 'autonomy', 'writer', 'observe')).toMatchObject({ status: 0, stdout: 'writer: observe\n' });
      await agentd.api('POST', `/v1/processes/${pid}/signal`, { signal: 'SIGUSR1' });
      await until(async () => (await stdout()) === 'ready\nEACCES\n', 'the change to be refused');
      expect(((await agentd.api('GET', `/v1/processes/${pid}`)).body as { autonomy?: string }).autonomy).toBe('observe');
      // An agent outside the kernel of that id is held back the same way.
      expect((await agentd.api('POST', '/v1/evaluate', { agent: 'writer', action: 'file.write', resource: '/data/x', access: 'write' })).body).toMatchObject({ decision: 'deny', rule: 'kernel.autonomy' });
      expect((await agentd.api('POST', '/v1/evaluate', { agent: 'writer', action: 'file.read', resource: '/data/x', access: 'read' })).body).toMatchObject({ decision: 'allow' });
      const logs = await agentctl(agentd, 'logs', '--json');
      expect(logs.stdout).toContain('"detail":"autonomy of agent writer: full -> observe by operator"');
      const bad = await agentctl(agentd, 'autonomy', 'writer', 'reckless');
      expect(bad.status).not.toBe(0);
      expect(bad.stderr).toMatch(/autonomy must be one of full, supervised, observe, not 'reckless'/);
    } finally {
      await agentd.remove();
    }
  });
});
