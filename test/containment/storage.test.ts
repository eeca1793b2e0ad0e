/**
 * What the kernel keeps on an agent's behalf is bounded and charged to it
 * (found against main: no VFS quota — one agent with a 64 MiB heap grew the
 * kernel to 2.3 GB; checkpoints copied mem/ without bound; an agent could
 * write its own state/checkpoints and break every later checkpoint; readdir
 * copied a whole directory into the isolate at once).
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS } from '../../kernel/limits.ts';
import { exited, IDLE, kernelFor, listTree, printed, start } from '../live-agents.ts';
import { report } from '../syscalls/harness.ts';

const MIB = 1024 * 1024;

describe('VFS quota', () => {
  it('writes past the bytes quota get ENOSPC and change nothing; the kernel holds no more than the quota', async () => {
    const kernel = kernelFor();
    const { value } = await report(
      `const chunk = 'x'.repeat(1 << 20);
       const fd = sys.open('mem/working/big', 'w');
       let written = 0, errno = '';
       for (let i = 0; i < 64; i++) { try { written += sys.write(fd, chunk); } catch (e) { errno = e.errno; break; } }
       sys.close(fd);
       report({ written, errno, size: sys.stat('mem/working/big').size });`,
      { kernel, agentId: 'hog', limits: { vfsBytes: 4 * MIB } },
    );
    expect(value).toEqual({ written: 4 * MIB, errno: 'ENOSPC', size: 4 * MIB });
  });

  it('ps shows what the tree holds and may hold', async () => {
    const kernel = kernelFor();
    const agent = start(kernel, `sys.writeFile('mem/working/a', 'x'.repeat(1000)); console.log('ready'); ${IDLE}`, { agentId: 'shown', limits: { vfsBytes: 4 * MIB } });
    await printed(agent, 'ready');
    expect(kernel.ps()).toEqual([expect.objectContaining({ pid: agent.pid, tree: expect.objectContaining({ root: agent.pid, processes: 1, vfsBytes: 1000, vfsBytesLimit: 4 * MIB, vfsInodes: 8, syscalls: expect.any(Number), kernelMs: expect.any(Number) }) })]);
    await kernel.shutdown();
  });

  it('files and directories past the inode quota get ENOSPC; removing them gives the room back', async () => {
    const { value } = await report(
      `let made = 0, errno = '';
       for (;;) { try { sys.writeFile('mem/working/f' + made, ''); made++; } catch (e) { errno = e.errno; break; } }
       let mk = ''; try { sys.mkdir('mem/working/d'); } catch (e) { mk = e.errno; }
       sys.unlink('mem/working/f0');
       sys.mkdir('mem/working/d');
       report({ made, errno, mk });`,
      { kernel: kernelFor(), limits: { vfsInodes: 40 } },
    );
    // The standard layout takes 7 inodes (mem, its three areas, state, state/checkpoints, ipc).
    expect(value).toEqual({ made: 33, errno: 'ENOSPC', mk: 'ENOSPC' });
  });

  it('truncation and unlink give bytes back', async () => {
    const { value } = await report(
      `sys.writeFile('mem/a', 'x'.repeat(3000));
       sys.writeFile('mem/a', 'y');
       sys.writeFile('mem/b', 'z'.repeat(3000));
       sys.unlink('mem/b');
       sys.writeFile('mem/c', 'w'.repeat(3500));
       report(sys.stat('mem/c').size);`,
      { kernel: kernelFor(), limits: { vfsBytes: 4000 } },
    );
    expect(value).toBe(3500);
  });

  it('writeFile and appendFile take data of any size (one SYS_WRITE carries at most 1 MiB; they write in pieces); a file is not lost to a large write', async () => {
    const { value } = await report(
      `sys.writeFile('mem/f', 'precious');
       sys.writeFile('mem/f', 'z'.repeat(3 * 1024 * 1024 + 5));
       sys.appendFile('mem/f', new Uint8Array(1024 * 1024 + 1).fill(65));
       report([sys.stat('mem/f').size, syscall(SYS.SYS_WRITE, 1, 'x'.repeat(1024 * 1024 + 1)).errno]);`,
      { kernel: kernelFor() },
    );
    expect(value).toEqual([4 * 1024 * 1024 + 6, 'EFBIG']);
  });

  it('the defaults bound an agent that sets no limit', () => {
    expect(DEFAULT_LIMITS.vfsBytes).toBe(32 * MIB);
    expect(DEFAULT_LIMITS.vfsInodes).toBe(8192);
  });
});

describe('checkpoints are the kernel\'s, and bounded', () => {
  it('state/ is read-only to the agent whatever the policy: the 9007199254740992 directory cannot be planted', async () => {
    const kernel = kernelFor({ policy: (await import('../syscalls/harness.ts')).ALLOW_ALL });
    const { value } = await report(
      `report([
         errnoOf(() => sys.mkdir('state/checkpoints/9007199254740992')),
         errnoOf(() => sys.writeFile('state/checkpoints/1/manifest.json', '{')),
         errnoOf(() => sys.unlink('state/checkpoints')),
         errnoOf(() => sys.readdir('state/checkpoints')),
         sys.checkpoint().n,
         sys.checkpoint().n,
       ]);`,
      { kernel, agentId: 'planter' },
    );
    expect(value).toEqual(['EACCES', 'EACCES', 'EACCES', 'ok', 1, 2]);
  });

  it('a checkpoint counts against the quota: one that does not fit is ENOSPC and leaves nothing behind', async () => {
    const kernel = kernelFor();
    const { value } = await report(
      `sys.writeFile('mem/working/data', 'x'.repeat(3000));
       let errno = ''; try { sys.checkpoint(); } catch (e) { errno = e.errno; }
       report({ errno, left: sys.readdir('state/checkpoints').length });`,
      { kernel, agentId: 'tight', limits: { vfsBytes: 5000 } },
    );
    expect(value).toEqual({ errno: 'ENOSPC', left: 0 });
  });

  it('only the last checkpoints are kept', async () => {
    const kernel = kernelFor({ keepCheckpoints: 2 });
    const agent = start(kernel, "sys.writeFile('mem/x', '1'); for (let i = 0; i < 4; i++) sys.checkpoint();", { agentId: 'many' });
    expect(await exited(agent)).toMatchObject({ status: 0 });
    expect(await listTree(kernel, 'many', 'state/checkpoints')).toEqual(['3', '4']);
  });
});

describe('readdir is paged', () => {
  it('one SYS_READDIR returns at most 1,024 entries; sys.readdir pages through all of them', async () => {
    const { value } = await report(
      `for (let i = 0; i < 2500; i++) sys.writeFile('mem/working/f' + String(i).padStart(4, '0'), '');
       const first = syscall(SYS.SYS_READDIR, 'mem/working');
       const second = syscall(SYS.SYS_READDIR, 'mem/working', first.v.at(-1).name, 10);
       const all = sys.readdir('mem/working');
       report({ first: first.v.length, second: second.v.map((e) => e.name).slice(0, 2), all: all.length, sorted: all.every((e, i) => i === 0 || all[i - 1].name < e.name), tooMany: syscall(SYS.SYS_READDIR, 'mem', '', 5000).errno });`,
      // 7,500 syscalls in about a second: past the default kernel-time share on a loaded machine, which is not what this tests.
      { kernel: kernelFor({ limits: { kernelMsPerSecond: 60_000 } }), limits: { vfsInodes: 4000 } },
    );
    expect(value).toEqual({ first: 1024, second: ['f1024', 'f1025'], all: 2500, sorted: true, tooMany: 'EINVAL' });
  });
});
