import { describe, expect, it } from 'vitest';
import { expectConfined, report, syscallRecords } from './harness.ts';

const ROOT = [
  { name: 'ipc', type: 'dir' },
  { name: 'mem', type: 'dir' },
  { name: 'policy', type: 'dir' },
  { name: 'state', type: 'dir' },
];

describe('SYS_READDIR', () => {
  it('lists the root of a fresh tree, the policy mount included, sorted', async () => {
    const { value } = await report("report([sys.readdir('.'), sys.readdir(), sys.readdir('/agent/' + sys.agentId)]);");
    expect(value).toEqual([ROOT, ROOT, ROOT]);
  });

  it('lists the standard subdirectories', async () => {
    const { value } = await report("report({ mem: sys.readdir('mem'), state: sys.readdir('state'), ipc: sys.readdir('ipc') });");
    expect(value).toEqual({
      mem: [{ name: 'episodic', type: 'dir' }, { name: 'semantic', type: 'dir' }, { name: 'working', type: 'dir' }],
      state: [{ name: 'checkpoints', type: 'dir' }],
      ipc: [],
    });
  });

  it('lists files and directories with their types, sorted by name', async () => {
    const { value } = await report(`
      const d = 'mem/working/d';
      sys.mkdir(d);
      for (const name of ['zeta', 'Alpha', 'beta', '10', '9']) sys.writeFile(d + '/' + name, name);
      sys.mkdir(d + '/middle');
      report(sys.readdir(d));
    `);
    expect(value).toEqual([
      { name: '10', type: 'file' },
      { name: '9', type: 'file' },
      { name: 'Alpha', type: 'file' },
      { name: 'beta', type: 'file' },
      { name: 'middle', type: 'dir' },
      { name: 'zeta', type: 'file' },
    ]);
  });

  it('does not list removed entries', async () => {
    const { value } = await report(`sys.writeFile('ipc/a', ''); sys.writeFile('ipc/b', ''); sys.unlink('ipc/a'); report(sys.readdir('ipc'));`);
    expect(value).toEqual([{ name: 'b', type: 'file' }]);
  });

  it('lists the read-only policy mount', async () => {
    const { value } = await report("report(sys.readdir('policy'));");
    expect(value).toEqual([
      { name: 'VERSION', type: 'file' },
      { name: 'policy.yaml', type: 'file' },
    ]);
  });

  it('ENOENT for a missing directory, ENOTDIR for a file', async () => {
    const { value } = await report(`
      sys.writeFile('mem/f', 'x');
      report([errnoOf(() => sys.readdir('mem/missing')), errnoOf(() => sys.readdir('mem/f')), errnoOf(() => sys.readdir('policy/VERSION')), errnoOf(() => sys.readdir(''))]);
    `);
    expect(value).toEqual(['ENOENT', 'ENOTDIR', 'ENOTDIR', 'ENOENT']);
  });

  it('EACCES for paths outside the agent tree, recorded as denied', async () => {
    await expectConfined('SYS_READDIR', '(p) => sys.readdir(p)');
  });

  it('EACCES for /agent, which would list other agents', async () => {
    const { value } = await report("report([errnoOf(() => sys.readdir('/agent')), errnoOf(() => sys.readdir('..'))]);");
    expect(value).toEqual(['EACCES', 'EACCES']);
  });

  it('EINVAL for malformed arguments', async () => {
    const { value } = await report(`
      report([
        raw(SYS.SYS_READDIR, 1),
        raw(SYS.SYS_READDIR, { path: '.' }),
        raw(SYS.SYS_READDIR),
        raw(SYS.SYS_READDIR, '.\\0'),
        raw(SYS.SYS_READDIR, '.', true),
      ]);
    `);
    expect(value).toEqual(Array.from({ length: 5 }, () => ({ errno: 'EINVAL' })));
  });

  it('records each readdir with its resolved path and the rule that allowed it', async () => {
    const { result } = await report("sys.readdir(); sys.readdir('mem/../state'); report(0);", { agentId: 'a' });
    expect(syscallRecords(result.kernel, 'SYS_READDIR').map((r) => [r.effect, r.rule, r.path, r.agentId])).toEqual([
      ['allow', 'own-tree', '/agent/a', 'a'],
      ['allow', 'own-tree', '/agent/a/state', 'a'],
    ]);
  });
});
