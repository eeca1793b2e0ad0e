import { describe, expect, it } from 'vitest';
import type { MemoryDecisionLog } from '../../kernel/decision-log.ts';
import { parsePolicy } from '../../kernel/policy/load.ts';
import { kernelFor } from '../live-agents.ts';
import { report, syscallRecords } from './harness.ts';

describe('SYS_CHECKPOINT', () => {
  it("snapshots mem/ under state/checkpoints/<n> and returns n, path, bytes and files", async () => {
    const { value, result } = await report(`
      sys.writeFile('mem/working/a.txt', 'alpha');
      sys.mkdir('mem/semantic/deep/er', { recursive: true });
      sys.writeFile('mem/semantic/deep/er/b.json', '{"b":2}');
      const first = raw(SYS.SYS_CHECKPOINT);
      const dir = first.v.path;
      report({
        first,
        listing: sys.readdir(dir).map((e) => e.name),
        a: sys.readFile(dir + '/mem/working/a.txt'),
        b: sys.readFile(dir + '/mem/semantic/deep/er/b.json'),
        manifest: JSON.parse(sys.readFile(dir + '/manifest.json')),
      });
    `, { agentId: 'cp' });
    const { manifest, ...rest } = value as { manifest: Record<string, unknown> };
    expect(rest).toEqual({
      first: { v: { n: 1, path: '/agent/cp/state/checkpoints/1', bytes: 12, files: 2 } },
      listing: ['manifest.json', 'mem'],
      a: 'alpha',
      b: '{"b":2}',
    });
    expect(manifest).toEqual({ agent: 'cp', n: 1, time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/), policyVersion: result.kernel.engine.version, bytes: 12, files: 2 });
  });

  it('numbers checkpoints 1, 2, 3 and each holds mem/ as it was then', async () => {
    const { value } = await report(`
      const ns = [];
      for (const word of ['one', 'two', 'three']) { sys.writeFile('mem/word', word); ns.push(sys.checkpoint().n); }
      report({ ns, words: ns.map((n) => sys.readFile('state/checkpoints/' + n + '/mem/word')) });
    `);
    expect(value).toEqual({ ns: [1, 2, 3], words: ['one', 'two', 'three'] });
  });

  it('an empty mem/ gives an empty checkpoint; state/ and policy/ are never included', async () => {
    const { value } = await report(`
      const first = sys.checkpoint();
      const second = sys.checkpoint();
      report({ first, second, inSecond: sys.readdir(second.path).map((e) => e.name) });
    `, { agentId: 'e' });
    expect(value).toEqual({
      first: { n: 1, path: '/agent/e/state/checkpoints/1', bytes: 0, files: 0 },
      second: { n: 2, path: '/agent/e/state/checkpoints/2', bytes: 0, files: 0 },
      inSecond: ['manifest.json'],
    });
  });

  it('EINVAL for any argument, since the row takes none', async () => {
    const { value } = await report("report([raw(SYS.SYS_CHECKPOINT, 1), raw(SYS.SYS_CHECKPOINT, 'x'), raw(SYS.SYS_CHECKPOINT, {})]);");
    expect(value).toEqual([{ errno: 'EINVAL' }, { errno: 'EINVAL' }, { errno: 'EINVAL' }]);
  });

  it('EACCES under a policy with no rule for it, and nothing is written', async () => {
    const policy = parsePolicy('version: 1\nrules:\n  - id: some\n    effect: allow\n    syscalls: [SYS_WRITE, SYS_READDIR]\n', 'no-checkpoint.yaml');
    const { value } = await report("report([raw(SYS.SYS_CHECKPOINT), sys.readdir('state/checkpoints').length]);", { kernel: kernelFor({ policy }) });
    expect(value).toEqual([{ errno: 'EACCES' }, 0]);
  });

  it('a flood of checkpoints runs one snapshot at a time: those asked while one runs share the next, which holds what they wrote (found by an attacker pass: 520 snapshots of an 8 MiB file ran at once)', async () => {
    const { value, result } = await report(`
      sys.writeFile('mem/big', 'x'.repeat(1 << 20));
      const first = sys.async.checkpoint();
      sys.writeFile('mem/word', 'later');
      const more = Array.from({ length: 200 }, () => sys.async.checkpoint());
      const ns = (await Promise.all([first, ...more])).map((c) => c.n);
      const rest = [...new Set(ns.slice(1))];
      // The newest of them (only the last five are kept): asked after the write, it holds it.
      const word = sys.readFile('state/checkpoints/' + rest.at(-1) + '/mem/word');
      for (let i = 0; i < 300; i++) sys.kill(sys.pid, 'SIGUSR1');
      await sys.async.sleep(200);
      report({ first: ns[0], rest, word });
    `, { agentId: 'flood' });
    // 200 checkpoints asked while the first ran: a few snapshots, never one each. How few depends on the machine's
    // load: the calls reach the kernel's thread one crossing at a time, and each snapshot that ends while they still
    // arrive starts the next, shared by those that came meanwhile (14 in a CI run beside two other test runs, 61 in
    // one beside a third); one each was the bug.
    const { first, rest, word } = value as { first: number; rest: number[]; word: string };
    expect({ first, word }).toEqual({ first: 1, word: 'later' });
    expect(rest.length).toBeLessThanOrEqual(100);
    // 300 signals: a few snapshots (one running and the next, shared, while the signals keep coming; more under load), each recorded once.
    const records = (result.kernel.recorder as MemoryDecisionLog).list().filter((r) => r.type === 'checkpoint').map((r) => ('detail' in r ? r.detail.split(':')[0] : ''));
    expect(records.slice(0, 2)).toEqual(['checkpoint 1', 'checkpoint 2']);
    expect(records.length).toBeGreaterThanOrEqual(3);
    expect(records.length).toBeLessThan(60);
  });

  it('records the decision (own-fds-and-self) and a checkpoint record naming n, files and bytes', async () => {
    const { result } = await report("sys.writeFile('mem/x', 'xyz'); sys.checkpoint(); report(0);", { agentId: 'rec' });
    expect(syscallRecords(result.kernel, 'SYS_CHECKPOINT').map((r) => [r.effect, r.rule, r.agentId, r.access])).toEqual([['allow', 'own-fds-and-self', 'rec', 'write']]);
    const records = (result.kernel.recorder as MemoryDecisionLog).list().filter((r) => r.type === 'checkpoint');
    expect(records.map((r) => [r.agentId, 'detail' in r ? r.detail : ''])).toEqual([['rec', 'checkpoint 1: 1 files, 3 bytes']]);
  });
});
