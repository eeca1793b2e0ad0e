/**
 * Checkpoints read from the host: a directory the operator hands
 * `agentctl run --restore`, and the checkpoints a kernel with a state
 * directory saved before. Their files become an agent's memory, so they are
 * read as untrusted: the manifest and each file only if it is a regular file
 * (a FIFO would hang the read, /dev/zero never end: regular-file.ts); `mem`
 * and every directory below it only if it is a real directory, never a
 * symbolic link (a `mem` linked to /etc copied the host's /etc into the
 * agent); links, FIFOs, sockets and devices below are skipped. The tree is
 * listed and its sizes summed before any byte is read: what does not fit
 * the agent's quota is ENOSPC then (a 1.9 GB sparse file took 12 KB of disk
 * and 2.1 GB of the kernel's memory before the quota refused it). A file
 * is read only if it is still the one listed (the same inode, reached
 * without following a link): a directory swapped for a link to /etc between
 * the listing and the read made it read /etc/passwd (a review).
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, readdirSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { KernelError } from '../abi/errno.ts';
import type { TreeQuota } from './agent-trees.ts';
import { readRegularText, readUpTo } from './regular-file.ts';

/** The largest checkpoint manifest read (the kernel writes a few hundred bytes). */
const MAX_MANIFEST_BYTES = 64 * 1024;

/** A file of a host checkpoint tree: its path relative to the tree's root, where it is on the host, and its size and inode when listed. */
export interface HostFile {
  readonly rel: string;
  readonly path: string;
  readonly size: number;
  readonly dev: number;
  readonly ino: number;
  /** Its real path when listed: a link swapped in on the way is seen before anything is opened. */
  readonly real: string;
}

/** realDirectory: `path` is a directory itself (lstat: not a link to one); false when there is nothing there. EINVAL for anything else. */
export function realDirectory(path: string, what: string): boolean {
  let stat;
  try {
    stat = lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new KernelError('EINVAL', `${path}: cannot read the ${what}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  if (stat.isDirectory()) return true;
  throw new KernelError('EINVAL', `${path}: the ${what} is ${stat.isSymbolicLink() ? 'a symbolic link' : 'not a directory'}; it must be a directory`);
}

/**
 * hostFiles lists the regular files under host directory `dir` (a real
 * directory: realDirectory), depth first, and checks them against `quota`
 * (bytes, and files and directories as inodes) before anything is read;
 * ENOSPC names what does not fit. The listing stops as soon as it is over.
 */
export function hostFiles(dir: string, quota: TreeQuota, what: string): HostFile[] {
  const files: HostFile[] = [];
  let bytes = 0;
  let inodes = 0;
  const over = (why: string) => new KernelError('ENOSPC', `${dir}: the ${what} does not fit the agent's tree: ${why}`);
  const dirs = [''];
  for (let rel = dirs.pop(); rel !== undefined; rel = dirs.pop()) {
    for (const entry of readdirSync(join(dir, rel), { withFileTypes: true })) {
      const sub = rel === '' ? entry.name : `${rel}/${entry.name}`;
      // Dirent's types are lstat's: a link to a directory or a file is neither, and is skipped.
      if (!entry.isDirectory() && !entry.isFile()) continue;
      if (++inodes > quota.inodes) throw over(`more than ${quota.inodes} files and directories`);
      if (entry.isDirectory()) {
        dirs.push(sub);
        continue;
      }
      const path = join(dir, sub);
      const { size, dev, ino } = lstatSync(path);
      bytes += size;
      if (bytes > quota.bytes) throw over(`more than ${quota.bytes} bytes`);
      files.push({ rel: sub, path, size, dev, ino, real: realpathSync(path) });
    }
  }
  return files;
}

/**
 * readHostFile reads one listed file, if it is still that file: its path
 * still resolves to where it did (a link swapped in on the way is refused
 * before anything is opened: a device opened is already an effect), opened
 * without following a link at its end or blocking, and the same inode; no
 * more than its listed size. EINVAL otherwise.
 */
export function readHostFile(file: HostFile): Uint8Array {
  let fd: number;
  try {
    const real = realpathSync(file.path);
    if (real !== file.real) throw Object.assign(new Error(), { code: `it now leads to ${real}` });
    fd = openSync(file.path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
  } catch (err) {
    throw new KernelError('EINVAL', `${file.path}: changed since the checkpoint was listed (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile() || stat.dev !== file.dev || stat.ino !== file.ino) throw new KernelError('EINVAL', `${file.path}: changed since the checkpoint was listed (another file is there now)`);
    return readUpTo(fd, file.size);
  } finally {
    closeSync(fd);
  }
}

/** readManifest reads a checkpoint's manifest.json text; ENOENT when there is none, EINVAL when it is not a small regular file. */
export function readManifest(dir: string): string {
  return readRegularText(join(dir, 'manifest.json'), MAX_MANIFEST_BYTES, 'checkpoint manifest');
}
