/**
 * A checkpoint read from the host is untrusted (kernel/checkpoint-host.ts):
 * one handed to `--restore`, or the saved checkpoints under a state
 * directory. Found by an attacker pass: a `mem` linked to /etc copied the
 * host's /etc into the agent; a FIFO manifest hung the kernel; a manifest
 * linked to /dev/zero grew it to 18.5 GB; a 1.9 GB sparse file (12 KB of
 * disk) cost 2.1 GB of memory before the quota refused it. Real kernels,
 * real isolates, real files on the host.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KernelError } from '../../abi/errno.ts';
import { hostFiles, readHostFile } from '../../kernel/checkpoint-host.ts';
import { programFromSource } from '../../kernel/program.ts';
import { exited, kernelFor, start } from '../live-agents.ts';

const scratch = mkdtempSync(join(tmpdir(), 'hostile-checkpoint-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** checkpoint makes a checkpoint directory with a manifest and `mem/`; `shape` then changes it. */
function checkpoint(name: string, shape: (dir: string) => void = () => {}): string {
  const dir = join(scratch, name);
  mkdirSync(join(dir, 'mem', 'working'), { recursive: true });
  writeFileSync(join(dir, 'manifest.json'), '{"agent":"origin","n":1}\n');
  writeFileSync(join(dir, 'mem', 'working', 'plan.txt'), 'kept');
  shape(dir);
  return dir;
}

/** refusal is the KernelError a spawn restoring `dir` fails with. */
function refusal(dir: string): KernelError {
  try {
    kernelFor().spawn(programFromSource('a.js', ''), { restore: dir, stdout: () => {}, stderr: () => {} });
  } catch (err) {
    if (err instanceof KernelError) return err;
    throw err;
  }
  throw new Error(`restoring ${dir} was not refused`);
}

const LIST = "console.log(JSON.stringify(sys.readdir('mem').map((e) => e.name).sort()));";

describe('restoring a checkpoint from the host', () => {
  it('a `mem` that is a symbolic link to a host directory is refused, not copied in', () => {
    const host = join(scratch, 'secrets');
    mkdirSync(host);
    writeFileSync(join(host, 'key.pem'), 'SECRET');
    const dir = checkpoint('linked-mem', (d) => {
      rmSync(join(d, 'mem'), { recursive: true });
      symlinkSync(host, join(d, 'mem'));
    });
    const err = refusal(dir);
    expect(err.errno).toBe('EINVAL');
    expect(err.message).toBe(`${join(dir, 'mem')}: the checkpoint's mem directory is a symbolic link; it must be a directory`);
  });

  it('links below `mem` are skipped: the agent sees the checkpoint\'s own files only', async () => {
    const host = join(scratch, 'elsewhere');
    mkdirSync(host);
    writeFileSync(join(host, 'passwd'), 'SECRET');
    const dir = checkpoint('linked-below', (d) => {
      symlinkSync(host, join(d, 'mem', 'dir-link'));
      symlinkSync(join(host, 'passwd'), join(d, 'mem', 'file-link'));
    });
    const agent = start(kernelFor(), LIST, { restore: dir });
    expect(await exited(agent)).toMatchObject({ status: 0 });
    expect(agent.stdout()).toBe('["episodic","semantic","working"]\n');
  });

  it('a manifest that is a FIFO or /dev/zero is refused at once (it hung the kernel, or grew it without end)', () => {
    const fifo = checkpoint('fifo-manifest', (d) => {
      rmSync(join(d, 'manifest.json'));
      execFileSync('mkfifo', [join(d, 'manifest.json')]);
    });
    expect(refusal(fifo).message).toBe(`${join(fifo, 'manifest.json')}: not a regular file`);
    const zero = checkpoint('zero-manifest', (d) => {
      rmSync(join(d, 'manifest.json'));
      symlinkSync('/dev/zero', join(d, 'manifest.json'));
    });
    expect(refusal(zero).message).toBe(`${join(zero, 'manifest.json')}: not a regular file`);
  });

  it('files past the tree\'s quota are refused before any is read: a 1.9 GB sparse file costs no memory', () => {
    const dir = checkpoint('sparse', (d) => {
      writeFileSync(join(d, 'mem', 'big'), '');
      truncateSync(join(d, 'mem', 'big'), 1900 * 1024 * 1024);
    });
    const before = process.memoryUsage().rss;
    const err = refusal(dir);
    expect(process.memoryUsage().rss - before).toBeLessThan(100 * 1024 * 1024);
    expect(err.errno).toBe('ENOSPC');
    expect(err.message).toBe(`${join(dir, 'mem')}: the checkpoint does not fit the agent's tree: more than ${32 * 1024 * 1024} bytes`);
  });

  it('more files than the tree\'s inodes are refused as soon as the listing passes them', () => {
    const dir = checkpoint('many', (d) => {
      for (let i = 0; i < 8300; i++) writeFileSync(join(d, 'mem', `f${i}`), '');
    });
    const err = refusal(dir);
    expect(err.errno).toBe('ENOSPC');
    expect(err.message).toMatch(/more than 8192 files and directories$/);
  });
});

describe('a checkpoint that changes between its listing and its reading', () => {
  // Found by a review: a directory swapped for a link to /etc after the listing made the read return /etc/passwd.
  it('a directory swapped for a link, or a file swapped for a link or another file, is refused, not followed', () => {
    const dir = checkpoint('swapped', (d) => {
      mkdirSync(join(d, 'mem', 'sub'));
      writeFileSync(join(d, 'mem', 'sub', 'passwd'), 'mine');
      writeFileSync(join(d, 'mem', 'note'), 'mine');
      writeFileSync(join(d, 'mem', 'other'), 'mine');
    });
    const elsewhere = join(scratch, 'swapped-target');
    mkdirSync(elsewhere);
    writeFileSync(join(elsewhere, 'passwd'), 'host');
    const files = hostFiles(join(dir, 'mem'), { bytes: 1 << 20, inodes: 100 }, 'checkpoint');
    const listed = (rel: string) => files.find((f) => f.rel === rel)!;
    expect(new TextDecoder().decode(readHostFile(listed('sub/passwd')))).toBe('mine');
    renameSync(join(dir, 'mem', 'sub'), join(dir, 'mem', 'sub-was'));
    symlinkSync(elsewhere, join(dir, 'mem', 'sub'));
    expect(() => readHostFile(listed('sub/passwd'))).toThrow(/changed since the checkpoint was listed/);
    rmSync(join(dir, 'mem', 'note'));
    symlinkSync(join(elsewhere, 'passwd'), join(dir, 'mem', 'note'));
    // Seen before anything is opened (a review: a link to a device swapped in on the way opened the device first).
    expect(() => readHostFile(listed('note'))).toThrow(`changed since the checkpoint was listed (it now leads to ${join(elsewhere, 'passwd')})`);
    // Made before the listed one goes, so it cannot take its inode number.
    writeFileSync(join(dir, 'mem', 'other-new'), 'host');
    renameSync(join(dir, 'mem', 'other-new'), join(dir, 'mem', 'other'));
    expect(() => readHostFile(listed('other'))).toThrow(/another file is there now/);
  });
});

describe('saved checkpoints under a state directory', () => {
  it('a saved checkpoints directory that is a link is refused: the agent\'s tree cannot be prepared', async () => {
    const stateDir = join(scratch, 'state-linked');
    mkdirSync(join(stateDir, 'victim'), { recursive: true });
    symlinkSync(join(scratch, 'linked-below'), join(stateDir, 'victim', 'checkpoints'));
    const agent = start(kernelFor({ stateDir }), LIST, { agentId: 'victim' });
    const exit = await exited(agent);
    expect(exit.status).toBe(1);
    expect(JSON.stringify(exit)).toContain('the saved checkpoints directory is a symbolic link');
  });

  it('saved checkpoints past the tree\'s quota are refused before any is read', async () => {
    const stateDir = join(scratch, 'state-sparse');
    const big = join(stateDir, 'grower', 'checkpoints', '1', 'mem', 'big');
    mkdirSync(join(big, '..'), { recursive: true });
    writeFileSync(big, '');
    truncateSync(big, 1900 * 1024 * 1024);
    const agent = start(kernelFor({ stateDir }), LIST, { agentId: 'grower' });
    const exit = await exited(agent);
    expect(exit.status).toBe(1);
    expect(JSON.stringify(exit)).toContain("the saved checkpoints does not fit the agent's tree");
  });
});
