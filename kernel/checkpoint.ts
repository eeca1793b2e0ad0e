/**
 * Checkpoints: a snapshot of an agent's memory (`mem/`) under
 * `state/checkpoints/<n>/` with a `manifest.json` (time, policy version,
 * size). With a state directory, each snapshot is also written to the host
 * (`<stateDir>/<agent>/checkpoints/<n>/`) and loaded back when a kernel
 * starts, so checkpoints survive a restart. A checkpoint directory can seed a
 * new agent's memory (`agentctl run --restore DIR`). These are kernel
 * actions, not the agent's: they bypass the agent's policy, but not its
 * tree's quota (a snapshot that does not fit fails with ENOSPC), only the
 * last `keep` snapshots are kept, and the copying is charged to the agent
 * and yields to the event loop between files.
 */
import { rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { KernelError } from '../abi/errno.ts';
import type { CheckpointInfo } from '../syscalls/context.ts';
import type { AgentVfs } from '../vfs/agent-vfs.ts';
import type { TreeQuota } from './agent-trees.ts';
import { hostFiles, readHostFile, readManifest, realDirectory } from './checkpoint-host.ts';

export interface CheckpointManifest {
  readonly agent: string;
  readonly n: number;
  readonly time: string;
  readonly policyVersion: string;
  readonly bytes: number;
  readonly files: number;
}

/** A file of a snapshot: path relative to the snapshot root (e.g. `mem/working/a.txt`). */
export interface SnapshotFile {
  readonly rel: string;
  readonly data: Uint8Array;
}

const CHUNK = 1 << 20;

/** readAll reads a whole file of the VFS. */
export async function readAll(vfs: AgentVfs, path: string): Promise<Uint8Array> {
  const { file } = await vfs.open(path, 'r');
  try {
    const size = await file.size();
    const out = new Uint8Array(size);
    for (let at = 0; at < size; ) {
      const chunk = await file.read(Math.min(CHUNK, size - at), at);
      if (chunk.byteLength === 0) break;
      out.set(chunk, at);
      at += chunk.byteLength;
    }
    return out;
  } finally {
    await file.close();
  }
}

async function writeAll(vfs: AgentVfs, path: string, data: Uint8Array): Promise<void> {
  await vfs.mkdir(path.slice(0, path.lastIndexOf('/')), true);
  const { file } = await vfs.open(path, 'w');
  try {
    await file.write(data, 0);
  } finally {
    await file.close();
  }
}

/** Charge receives the kernel time (ns) a checkpoint spends for the agent. */
type Charge = (ns: number) => void;

/** How long small steps (listings, unlinks) may hold the loop before it gets a turn, ms. */
const SLICE_MS = 2;

/** Small runs a small step and charges its time; the loop gets a turn once such steps have held it SLICE_MS. */
type Small = <T>(step: () => T | Promise<T>) => Promise<T>;

/** smallSteps is a checkpoint's Small, charging `charge`. */
function smallSteps(charge: Charge): Small {
  let since = performance.now();
  return async (step) => {
    if (performance.now() - since >= SLICE_MS) {
      await nextTurn();
      since = performance.now();
    }
    return charged(charge, step);
  };
}

/** timed runs `step` and charges its time; the event loop gets a turn before the next step. */
async function timed<T>(charge: Charge, step: () => Promise<T>): Promise<T> {
  await nextTurn();
  return charged(charge, step);
}

/** charged runs `step` and charges its time. */
async function charged<T>(charge: Charge, step: () => T | Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    return await step();
  } finally {
    charge((performance.now() - started) * 1e6);
  }
}

/**
 * copyTree copies every file below `dir` (absolute) to `target`, one file at
 * a time, and lists what it copied (paths relative to `base`, no data kept).
 * Each directory's listing is a small step, charged (an attacker pass:
 * 8,000 empty directories, never copied, made each checkpoint hold the
 * loop up to 150 ms, and a loop of them kept it busy while 9 ms of 3 s
 * were charged).
 */
async function copyTree(vfs: AgentVfs, dir: string, base: string, target: string, charge: Charge, small: Small, out: { rel: string; bytes: number }[] = []): Promise<{ rel: string; bytes: number }[]> {
  for (const entry of await small(() => vfs.readdir(dir))) {
    const path = `${dir}/${entry.name}`;
    if (entry.type === 'dir') await copyTree(vfs, path, base, target, charge, small, out);
    else {
      const rel = path.slice(base.length + 1);
      const data = await timed(charge, () => readAll(vfs, path));
      await timed(charge, () => writeAll(vfs, `${target}/${rel}`, data));
      out.push({ rel, bytes: data.byteLength });
    }
  }
  return out;
}

function checkpointsDir(vfs: AgentVfs): string {
  return `${vfs.root}/state/checkpoints`;
}

/** numbered lists the checkpoint numbers present, ascending; anything else in the directory is ignored. */
async function numbered(vfs: AgentVfs, small: Small): Promise<number[]> {
  return (await small(() => vfs.readdir(checkpointsDir(vfs))))
    .filter((e) => e.type === 'dir' && /^[1-9]\d{0,8}$/.test(e.name))
    .map((e) => Number(e.name))
    .toSorted((a, b) => a - b);
}

/** removeTree deletes a directory of the VFS and everything below it, each listing and each unlink a small step. */
async function removeTree(vfs: AgentVfs, dir: string, small: Small): Promise<void> {
  for (const entry of await small(() => vfs.readdir(dir))) {
    const path = `${dir}/${entry.name}`;
    if (entry.type === 'dir') await removeTree(vfs, path, small);
    else await small(() => vfs.unlink(path));
  }
  await small(() => vfs.unlink(dir));
}

export interface SnapshotOptions {
  /** Receives the kernel time spent copying, ns (charged to the agent's tree). */
  readonly charge?: Charge;
  /** Checkpoints kept; older ones are removed from the VFS and the host. Default 5. */
  readonly keep?: number;
  readonly now?: number;
}

export const DEFAULT_KEEP_CHECKPOINTS = 5;

/**
 * snapshot writes checkpoint n+1 of the agent's mem/ into its VFS (and to
 * the host state dir, if any), then removes all but the last `keep`.
 * ENOSPC when it does not fit in the tree's quota (what was written of it
 * is removed again).
 */
export async function snapshot(vfs: AgentVfs, agentId: string, policyVersion: string, stateDir: string | undefined, options: SnapshotOptions = {}): Promise<CheckpointInfo> {
  const charge = options.charge ?? (() => {});
  const keep = Math.max(1, options.keep ?? DEFAULT_KEEP_CHECKPOINTS);
  const dir = checkpointsDir(vfs);
  const small = smallSteps(charge);
  const taken = await numbered(vfs, small);
  const n = (taken.at(-1) ?? 0) + 1;
  const target = `${dir}/${n}`;
  await small(() => vfs.mkdir(target, false));
  let copied: { rel: string; bytes: number }[];
  let bytes: number;
  try {
    copied = await copyTree(vfs, `${vfs.root}/mem`, vfs.root, target, charge, small);
    bytes = copied.reduce((sum, f) => sum + f.bytes, 0);
    const manifest: CheckpointManifest = { agent: agentId, n, time: new Date(options.now ?? Date.now()).toISOString(), policyVersion, bytes, files: copied.length };
    await small(() => writeAll(vfs, `${target}/manifest.json`, new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`)));
  } catch (err) {
    await removeTree(vfs, target, small).catch(() => undefined);
    throw err;
  }
  if (stateDir !== undefined) await copyToHost(vfs, target, join(stateDir, agentId, 'checkpoints', String(n)), [...copied.map((f) => f.rel), 'manifest.json'], charge);
  for (const old of [...taken, n].slice(0, -keep)) {
    await removeTree(vfs, `${dir}/${old}`, small).catch(() => undefined);
    if (stateDir !== undefined) rmSync(join(stateDir, agentId, 'checkpoints', String(old)), { recursive: true, force: true });
  }
  return { n, path: target, bytes, files: copied.length };
}

/** copyToHost writes a checkpoint's files from the VFS to the host, one at a time, asynchronously. EIO if the host refuses. */
async function copyToHost(vfs: AgentVfs, from: string, dir: string, rels: readonly string[], charge: Charge): Promise<void> {
  try {
    for (const rel of rels) {
      const data = await timed(charge, () => readAll(vfs, `${from}/${rel}`));
      const path = join(dir, rel);
      await mkdir(join(path, '..'), { recursive: true });
      await writeFile(path, data);
    }
  } catch (err) {
    throw new KernelError('EIO', `cannot write checkpoint to ${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

/** loadHostCheckpoints copies an agent's saved checkpoints from the state dir into its VFS (bounded by its tree's `quota`), one file at a time. */
export async function loadHostCheckpoints(vfs: AgentVfs, agentId: string, stateDir: string, quota: TreeQuota): Promise<void> {
  const dir = join(stateDir, agentId, 'checkpoints');
  if (!realDirectory(dir, 'saved checkpoints directory')) return;
  for (const f of hostFiles(dir, quota, 'saved checkpoints')) await writeAll(vfs, `${checkpointsDir(vfs)}/${f.rel}`, readHostFile(f));
}

/**
 * readCheckpoint reads a checkpoint directory on the host (checkpoint-host.ts
 * says how: as untrusted, listed against the agent's `quota` first); ENOENT
 * if it is not one (no manifest.json), EINVAL if its manifest or `mem` is not
 * what the kernel writes, ENOSPC if its files do not fit the quota.
 */
export function readCheckpoint(dir: string, quota: TreeQuota): { manifest: CheckpointManifest; files: SnapshotFile[] } {
  let text: string;
  try {
    text = readManifest(dir);
  } catch (err) {
    if (err instanceof KernelError && err.errno === 'ENOENT') throw new KernelError('ENOENT', `${dir} is not a checkpoint (no manifest.json)`);
    throw err;
  }
  let manifest: CheckpointManifest;
  try {
    manifest = JSON.parse(text) as CheckpointManifest;
  } catch {
    throw new KernelError('EINVAL', `${dir} is not a checkpoint (its manifest.json is not JSON)`);
  }
  const mem = join(dir, 'mem');
  const files = realDirectory(mem, 'checkpoint\'s mem directory') ? hostFiles(mem, quota, 'checkpoint').map((f) => ({ rel: f.rel, data: readHostFile(f) })) : [];
  return { manifest, files };
}

/** restoreInto seeds the agent's mem/ with a checkpoint's files. */
export async function restoreInto(vfs: AgentVfs, files: readonly SnapshotFile[]): Promise<void> {
  for (const f of files) await writeAll(vfs, `${vfs.root}/mem/${f.rel}`, f.data);
}
