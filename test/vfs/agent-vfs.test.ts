import { describe, expect, it } from 'vitest';
import { Kernel } from '../../kernel/kernel.ts';
import { defaultPolicy } from '../../kernel/policy/default.ts';
import { errnoOf } from '../helpers.ts';
import { AGENT_TREE_DIRS, AgentVfs, agentRoot } from '../../vfs/agent-vfs.ts';
import { MemfsBackend } from '../../vfs/memfs-backend.ts';
import { StaticBackend } from '../../vfs/static-backend.ts';
import { report } from '../syscalls/harness.ts';


const STANDARD = ['mem/working', 'mem/episodic', 'mem/semantic', 'state/checkpoints', 'ipc', 'policy'];

describe('AgentVfs: the standard tree', () => {
  it('lists the layout of ARCHITECTURE.md', () => {
    expect([...AGENT_TREE_DIRS]).toEqual(['/mem/working', '/mem/episodic', '/mem/semantic', '/state/checkpoints', '/ipc']);
    expect(agentRoot('a')).toBe('/agent/a');
  });

  it('exists, empty, when an agent is spawned', async () => {
    const { value } = await report(`
      const dirs = ${JSON.stringify(STANDARD)};
      report({ types: dirs.map((d) => sys.stat(d).type), root: sys.readdir('.').map((e) => e.name), checkpoints: sys.readdir('state/checkpoints'), working: sys.readdir('mem/working') });
    `, { agentId: 'fresh' });
    expect(value).toEqual({ types: Array(6).fill('dir'), root: ['ipc', 'mem', 'policy', 'state'], checkpoints: [], working: [] });
  });

  it('is built in the root backend it is given, with policy/ on its own mount', () => {
    const backend = new MemfsBackend();
    const vfs = new AgentVfs('x', { root: backend, policy: new StaticBackend(() => ({ '/rules.json': '{"rules":[]}' })) });
    expect(vfs.root).toBe('/agent/x');
    for (const dir of AGENT_TREE_DIRS) expect(backend.stat(dir).type).toBe('dir');
    expect(errnoOf(() => backend.stat('/policy/rules.json'))).toBe('ENOENT');
    expect(vfs.readdir('/agent/x/policy')).toEqual([{ name: 'rules.json', type: 'file' }]);
    expect(vfs.mounts.list().map((m) => [m.point, m.readOnly])).toEqual([['/agent/x/policy', true], ['/agent/x', false]]);
  });

  it('resolves relative paths against the tree root', () => {
    const vfs = new AgentVfs('x');
    expect(vfs.resolve('mem/working')).toBe('/agent/x/mem/working');
    expect(vfs.resolve('.')).toBe('/agent/x');
    expect(vfs.resolve('../y')).toBe('/agent/y');
  });
});

describe('AgentVfs: policy/ is read-only', () => {
  it('from ring 3: reads work, every write is EROFS', async () => {
    const { value } = await report(`
      report({
        text: sys.readFile('policy/policy.yaml'),
        version: sys.readFile('policy/VERSION'),
        listing: sys.readdir('policy'),
        writes: [
          errnoOf(() => sys.writeFile('policy/policy.yaml', 'allow all')),
          errnoOf(() => sys.appendFile('policy/policy.yaml', 'allow all')),
          errnoOf(() => sys.open('policy/policy.yaml', 'r+')),
          errnoOf(() => sys.writeFile('policy/VERSION', 'sha256:0')),
          errnoOf(() => sys.writeFile('policy/new', 'x')),
          errnoOf(() => sys.mkdir('policy/d')),
          errnoOf(() => sys.unlink('policy/policy.yaml')),
          errnoOf(() => sys.unlink('policy')),
          errnoOf(() => sys.writeFile('mem/../policy/policy.yaml', 'x')),
          errnoOf(() => sys.writeFile('/agent/' + sys.agentId + '/policy/policy.yaml', 'x')),
        ],
        after: sys.readFile('policy/policy.yaml'),
      });
    `);
    expect(value).toEqual({
      text: defaultPolicy().source,
      version: `${defaultPolicy().version}\n`,
      listing: [
        { name: 'VERSION', type: 'file' },
        { name: 'policy.yaml', type: 'file' },
      ],
      writes: Array(10).fill('EROFS'),
      after: defaultPolicy().source,
    });
  });

  it('from ring 0 too: the mount refuses writes, whoever asks', async () => {
    const vfs = new AgentVfs('x', { policy: new StaticBackend(() => ({ '/README': 'text' })) });
    expect(['r+', 'w', 'w+', 'a', 'a+'].map((m) => errnoOf(() => vfs.open('/agent/x/policy/README', m as 'w')))).toEqual(Array(5).fill('EROFS'));
    expect([errnoOf(() => vfs.mkdir('/agent/x/policy/d', true)), errnoOf(() => vfs.unlink('/agent/x/policy/README'))]).toEqual(['EROFS', 'EROFS']);
    const file = (await vfs.open('/agent/x/policy/README', 'r')).file;
    expect(new TextDecoder().decode(await file.read(100, 0))).toBe('text');
    await file.close();
  });

  it('the root of the tree lists policy even though the root backend has no such directory', async () => {
    const vfs = new AgentVfs('x');
    expect((await vfs.readdir('/agent/x')).map((e) => e.name)).toEqual(['ipc', 'mem', 'policy', 'state']);
  });
});

describe('AgentVfs: agents are separate', () => {
  it("agent a cannot see agent b's files, by relative or absolute path", async () => {
    const kernel = new Kernel();
    await report("sys.mkdir('mem/semantic/secret'); sys.writeFile('mem/semantic/secret/key', 'b-only'); report(0);", { agentId: 'b', kernel });
    const { value } = await report(`
      report({
        ownTree: errnoOf(() => sys.stat('mem/semantic/secret')),
        ownListing: sys.readdir('mem/semantic'),
        absolute: ['/agent/b/mem/semantic/secret/key', '/agent/b', '/agent/a/../b/mem', '../b/mem/semantic', 'mem/../../b/mem'].map((p) => errnoOf(() => sys.stat(p))),
        read: errnoOf(() => sys.readFile('/agent/b/mem/semantic/secret/key')),
        list: errnoOf(() => sys.readdir('/agent/b/mem/semantic')),
        overwrite: errnoOf(() => sys.writeFile('/agent/b/mem/semantic/secret/key', 'a was here')),
      });
    `, { agentId: 'a', kernel });
    expect(value).toEqual({ ownTree: 'ENOENT', ownListing: [], absolute: Array(5).fill('EACCES'), read: 'EACCES', list: 'EACCES', overwrite: 'EACCES' });
    const b = kernel.vfs('b');
    const file = (await b.open('/agent/b/mem/semantic/secret/key', 'r')).file;
    expect(new TextDecoder().decode(await file.read(100, 0))).toBe('b-only');
    await file.close();
  });

  it('ring 0 confines each operation to the tree as well', () => {
    const vfs = new AgentVfs('a');
    expect([
      errnoOf(() => vfs.stat('/agent/b')),
      errnoOf(() => vfs.readdir('/agent')),
      errnoOf(() => vfs.mkdir('/agent/ab', true)),
      errnoOf(() => vfs.unlink('/etc/passwd')),
      errnoOf(() => vfs.open('/agent/b/x', 'w')),
    ]).toEqual(Array(5).fill('EACCES'));
  });

  it('two AgentVfs objects for different agents share no storage', async () => {
    const a = new AgentVfs('a');
    const b = new AgentVfs('b');
    await (await a.open('/agent/a/mem/working/f', 'w')).file.close();
    expect((await a.stat('/agent/a/mem/working/f')).type).toBe('file');
    expect(await b.readdir('/agent/b/mem/working')).toEqual([]);
  });
});

describe('AgentVfs: lifetime', () => {
  it('one kernel keeps an agent tree across two runs of the same agentId', async () => {
    const kernel = new Kernel();
    const first = await report("sys.writeFile('mem/episodic/day1', 'met Alice'); sys.mkdir('mem/semantic/c1'); report(0);", { agentId: 'keeper', kernel });
    const second = await report("report({ note: sys.readFile('mem/episodic/day1'), cp: sys.stat('mem/semantic/c1').type });", { agentId: 'keeper', kernel });
    expect(second.value).toEqual({ note: 'met Alice', cp: 'dir' });
    expect(second.result.exit.pid).not.toBe(first.result.exit.pid);
    expect(kernel.vfs('keeper')).toBe(kernel.vfs('keeper'));
  });

  it('a different kernel, or a different agentId, starts from a fresh tree', async () => {
    const kernel = new Kernel();
    await report("sys.writeFile('mem/episodic/day1', 'met Alice'); report(0);", { agentId: 'keeper', kernel });
    const other = await report("report(errnoOf(() => sys.stat('mem/episodic/day1')));", { agentId: 'keeper', kernel: new Kernel() });
    const sibling = await report("report(errnoOf(() => sys.stat('mem/episodic/day1')));", { agentId: 'keeper2', kernel });
    expect([other.value, sibling.value]).toEqual(['ENOENT', 'ENOENT']);
  });
});
