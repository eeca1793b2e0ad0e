import { describe, expect, it } from 'vitest';
import { defaultPolicy } from '../../kernel/policy/default.ts';
import { expectConfined, LONG_PATH, report, syscallRecords } from './harness.ts';

interface Stat {
  type: string;
  size: number;
  mtimeMs: number;
}

describe('SYS_STAT', () => {
  it('describes a file: type, size in UTF-8 bytes, modification time', async () => {
    const { value } = await report<Stat[]>(`
      sys.writeFile('mem/f', 'é€😀');
      sys.writeFile('mem/empty', '');
      report([sys.stat('mem/f'), sys.stat('mem/empty')]);
    `);
    expect(value.map((s) => [s.type, s.size])).toEqual([['file', 9], ['file', 0]]);
    for (const s of value) expect(Number.isFinite(s.mtimeMs) && s.mtimeMs > 0).toBe(true);
    expect(Object.keys(value[0] ?? {}).toSorted()).toEqual(['mtimeMs', 'size', 'type']);
  });

  it('tracks the size as the file grows', async () => {
    const { value } = await report(`
      const fd = sys.open('mem/f', 'w');
      const sizes = [sys.stat('mem/f').size];
      sys.write(fd, 'abc');
      sizes.push(sys.stat('mem/f').size);
      sys.write(fd, 'de');
      sizes.push(sys.stat('mem/f').size);
      report(sizes);
    `);
    expect(value).toEqual([0, 3, 5]);
  });

  it('describes directories: the root, a standard directory, the policy mount, by relative and absolute path', async () => {
    const { value } = await report(`
      report(['.', 'mem', 'mem/working', 'state/checkpoints', 'ipc', 'policy', '/agent/a', '/agent/a/mem/semantic', 'mem//episodic/./'].map((p) => sys.stat(p).type));
    `, { agentId: 'a' });
    expect(value).toEqual(Array(9).fill('dir'));
  });

  it('describes the read-only policy source and its version', async () => {
    const { value } = await report<Stat[]>("report([sys.stat('policy/policy.yaml'), sys.stat('policy/VERSION')]);");
    expect(value.map((s) => s.type)).toEqual(['file', 'file']);
    expect(value.map((s) => s.size)).toEqual([new TextEncoder().encode(defaultPolicy().source).byteLength, 'sha256:'.length + 64 + 1]);
  });

  it('treats %2e%2e as an ordinary name inside the tree', async () => {
    const { value } = await report(`
      const before = errnoOf(() => sys.stat('%2e%2e'));
      sys.writeFile('%2e%2e', 'x');
      report({ before, after: sys.stat('%2e%2e').type, listed: sys.readdir('.').map((e) => e.name).includes('%2e%2e') });
    `);
    expect(value).toEqual({ before: 'ENOENT', after: 'file', listed: true });
  });

  it('ENOENT for a missing path, a missing parent and an empty path', async () => {
    const { value } = await report(`report([errnoOf(() => sys.stat('mem/missing')), errnoOf(() => sys.stat('nope/deeper/x')), errnoOf(() => sys.stat(''))]);`);
    expect(value).toEqual(['ENOENT', 'ENOENT', 'ENOENT']);
  });

  it('ENOTDIR when a parent is a file', async () => {
    const { value } = await report(`sys.writeFile('mem/f', 'x'); report(errnoOf(() => sys.stat('mem/f/child')));`);
    expect(value).toBe('ENOTDIR');
  });

  it('EACCES for paths outside the agent tree, recorded as denied', async () => {
    await expectConfined('SYS_STAT', '(p) => sys.stat(p)');
  });

  it('EINVAL for malformed arguments; ENAMETOOLONG for an over-long path', async () => {
    const { value } = await report(`
      report([
        raw(SYS.SYS_STAT, 42),
        raw(SYS.SYS_STAT, { path: 'mem' }),
        raw(SYS.SYS_STAT, ['mem']),
        raw(SYS.SYS_STAT, null),
        raw(SYS.SYS_STAT),
        raw(SYS.SYS_STAT, 'mem\\0/x'),
        raw(SYS.SYS_STAT, 'mem', 'extra'),
        raw(SYS.SYS_STAT, ${JSON.stringify(LONG_PATH)}),
      ]);
    `);
    expect(value).toEqual([...Array.from({ length: 7 }, () => ({ errno: 'EINVAL' })), { errno: 'ENAMETOOLONG' }]);
  });

  it('records each stat with its resolved path and the rule that allowed it', async () => {
    const { result } = await report(`sys.stat('mem'); errnoOf(() => sys.stat('./mem/missing')); report(0);`, { agentId: 'a' });
    expect(syscallRecords(result.kernel, 'SYS_STAT').map((r) => [r.effect, r.rule, r.path, r.agentId, r.pid])).toEqual([
      ['allow', 'own-tree', '/agent/a/mem', 'a', result.exit.pid],
      ['allow', 'own-tree', '/agent/a/mem/missing', 'a', result.exit.pid],
    ]);
  });
});
