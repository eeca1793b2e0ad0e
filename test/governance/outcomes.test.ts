/**
 * Outcome records: every write-access action that ran — allowed or approved,
 * a tool call included — gets a record of what it came to, after it and
 * naming the record that let it run: ok with the result's size and SHA-256
 * (the result itself is never logged), or the errno it failed with. A denied
 * call ran nothing and has none; a call that ended its own process (exit)
 * has the exit record. `agentctl audit show` prints each outcome naming its
 * decision.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fixedApprover } from '../../kernel/approvals.ts';
import { Kernel } from '../../kernel/kernel.ts';
import { parsePolicy } from '../../kernel/policy/load.ts';
import { programFromSource } from '../../kernel/program.ts';
import type { ChainRecord } from '../../kernel/recorder/chain.ts';
import { FileDecisionLog } from '../../kernel/recorder/file-log.ts';
import { verifyLog } from '../../kernel/recorder/verify.ts';
import { agentctl, scratch } from './helpers.ts';

const files = scratch();
afterAll(() => files.remove());

const POLICY = parsePolicy(
  `version: 1
rules:
  - { id: no-secrets, effect: deny, syscalls: [SYS_OPEN], paths: ["/agent/*/mem/secret*"] }
  - { id: ask-unlink, effect: require_approval, syscalls: [SYS_UNLINK] }
  - { id: the-rest, effect: allow }
`,
  'outcomes.yaml',
);

const PROGRAM = `
sys.writeFile('mem/note.txt', 'hello');
try { sys.writeFile('mem/secret.txt', 'x'); } catch (e) { console.log(e.code); }
try { sys.unlink('mem/none.txt'); } catch (e) { console.log(e.code); }
sys.unlink('mem/note.txt');
sys.exec('time.now', {});
sys.exit(0);
`;

describe('outcome records', () => {
  it('each write-access action that ran has one outcome after it, naming its record; denied and read calls have none', async () => {
    const path = join(files.dir, 'outcomes.jsonl');
    const log = new FileDecisionLog(path);
    const kernel = new Kernel({ policy: POLICY, recorder: log, approver: fixedApprover(true), stdout: () => {}, stderr: () => {} });
    const proc = kernel.spawn(programFromSource('outcomes.js', PROGRAM), { agentId: 'o', manifest: { capabilities: ['tool:time.now'] } });
    expect((await kernel.wait(proc.pid)).status).toBe(0);
    await kernel.shutdown();
    log.close();
    const text = readFileSync(path, 'utf8');
    expect(verifyLog(text).ok).toBe(true);
    const records = text.trim().split('\n').map((l) => JSON.parse(l) as ChainRecord);
    const bySeq = new Map(records.map((r) => [r.seq, r]));
    const outcomes = records.filter((r) => r.type === 'outcome');

    // Every outcome follows the record it names, of the same syscall: a decision that let it run, or the approval of one.
    for (const o of outcomes) {
      const of = Number(/^of (\d+): /.exec(o.detail!)![1]);
      expect(of).toBeLessThan(o.seq);
      const cause = bySeq.get(of)!;
      expect(cause.type === 'approval' ? cause.detail!.startsWith(`granted ${o.syscall}`) : cause.syscall === o.syscall && cause.decision === 'allow').toBe(true);
    }
    // Every allowed write-access decision (but the exit) has exactly one outcome; reads, denials and questions have none of their own.
    const named = outcomes.map((o) => Number(/^of (\d+): /.exec(o.detail!)![1]));
    for (const r of records.filter((record) => record.type === 'syscall')) {
      const count = named.filter((n) => n === r.seq).length;
      expect(count, `${r.syscall} ${r.decision} ${r.path ?? ''}`).toBe(r.decision === 'allow' && r.access === 'write' && r.syscall !== 'SYS_EXIT' ? 1 : 0);
    }
    // What they came to: a write's byte count, ENOENT, the approved unlink's result, the tool's result digested.
    const write = outcomes.find((o) => o.syscall === 'SYS_WRITE' && bySeq.get(Number(/^of (\d+)/.exec(o.detail!)![1]))?.agent === 'o')!;
    expect(write.detail).toMatch(/^of \d+: ok, 1 bytes, sha256:[0-9a-f]{64}$/);
    expect(write.detail!.endsWith(createHash('sha256').update('5').digest('hex'))).toBe(true);
    const unlinks = outcomes.filter((o) => o.syscall === 'SYS_UNLINK').map((o) => o.detail!.replace(/^of \d+: /, ''));
    expect(unlinks[0]).toMatch(/^ENOENT /);
    expect(unlinks[1]).toMatch(/^ok, /);
    expect(outcomes.filter((o) => o.syscall === 'SYS_EXEC').map((o) => o.detail)).toEqual([expect.stringMatching(/^of \d+: ok, \d+ bytes, sha256:[0-9a-f]{64}$/)]);
    expect(records.filter((r) => r.syscall === 'SYS_OPEN' && r.decision === 'deny')).toHaveLength(1);

    // audit show prints each outcome with the record it belongs to.
    const shown = await agentctl(['audit', 'show', path, '--agent', 'o']);
    expect(shown.status).toBe(0);
    expect(shown.stdout).toMatch(/ pid \d+ o outcome SYS_EXEC of \d+: ok, \d+ bytes, sha256:[0-9a-f]{64}\n/);
  });

  it('an outcome whose result cannot be serialised is recorded as such, and the chain stays contiguous', () => {
    const path = join(files.dir, 'undigestable.jsonl');
    const log = new FileDecisionLog(path);
    log.record({ type: 'spawn', pid: 1, agentId: 'o', detail: 'o.js' });
    log.record({ type: 'outcome', pid: 1, agentId: 'o', syscall: 'SYS_EXEC', of: 1, result: 10n });
    log.record({ type: 'exit', pid: 1, agentId: 'o', detail: 'status 0' });
    log.close();
    const text = readFileSync(path, 'utf8');
    expect(verifyLog(text)).toMatchObject({ ok: true, records: 3 });
    expect((JSON.parse(text.split('\n')[1]!) as ChainRecord).detail).toMatch(/^of 1: ok, a result that cannot be serialised \(/);
  });
});
