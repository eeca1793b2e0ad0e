/**
 * Checkpoints: a snapshot of an agent's memory (`mem/`) under
 * `state/checkpoints/<n>/` with a `manifest.json` (time, policy version,
 * size). With a state directory, each snapshot is also written to the host
 * (`<stateDir>/<agent>/checkpoints/<n>/`) and loaded back when a kernel
 * starts, so checkpoints survive a restart. A checkpoint directory can seed a
 * new agent's memory (`agentctl run --restore DIR`). These are kernel
 * actions, not the agent's: they bypass the agent's policy.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { KernelError } from '../syscalls/errno.ts';
import type { CheckpointInfo } from '../syscalls/context.ts';
import type { AgentVfs } from '../vfs/agent-vfs.ts';

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

/** collect lists every file below `dir` (absolute) with paths relative to `base`. */
async function collect(vfs: AgentVfs, dir: string, base: string, out: SnapshotFile[] = []): Promise<SnapshotFile[]> {
  for (const entry of await vfs.readdir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.type === 'dir') await collect(vfs, path, base, out);
    else out.push({ rel: path.slice(base.length + 1), data: await readAll(vfs, path) });
  }
  return out;
}

function checkpointsDir(vfs: AgentVfs): string {
  return `${vfs.root}/state/checkpoints`;
}

/** snapshot writes checkpoint n+1 of the agent's mem/ into its VFS (and to the host state dir, if any). */
export async function snapshot(vfs: AgentVfs, agentId: string, policyVersion: string, stateDir: string | undefined, now = Date.now()): Promise<CheckpointInfo> {
  const dir = checkpointsDir(vfs);
  const taken = (await vfs.readdir(dir)).filter((e) => /^\d+$/.test(e.name)).map((e) => Number(e.name));
  const n = Math.max(0, ...taken) + 1;
  await vfs.mkdir(`${dir}/${n}`, false);
  const files = await collect(vfs, `${vfs.root}/mem`, vfs.root);
  const bytes = files.reduce((sum, f) => sum + f.data.byteLength, 0);
  const manifest: CheckpointManifest = { agent: agentId, n, time: new Date(now).toISOString(), policyVersion, bytes, files: files.length };
  const target = `${dir}/${n}`;
  const all = [...files, { rel: 'manifest.json', data: new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`) }];
  for (const f of all) await writeAll(vfs, `${target}/${f.rel}`, f.data);
  if (stateDir !== undefined) writeHostSnapshot(join(stateDir, agentId, 'checkpoints', String(n)), all);
  return { n, path: target, bytes, files: files.length };
}

function writeHostSnapshot(dir: string, files: readonly SnapshotFile[]): void {
  try {
    for (const f of files) {
      const path = join(dir, f.rel);
      mkdirSync(join(path, '..'), { recursive: true });
      writeFileSync(path, f.data);
    }
  } catch (err) {
    throw new KernelError('EIO', `cannot write checkpoint to ${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

function readHostTree(dir: string, base = dir, out: SnapshotFile[] = []): SnapshotFile[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) readHostTree(path, base, out);
    else if (entry.isFile()) out.push({ rel: path.slice(base.length + 1).split('\\').join('/'), data: readFileSync(path) });
  }
  return out;
}

/** loadHostCheckpoints copies an agent's saved checkpoints from the state dir into its VFS. */
export async function loadHostCheckpoints(vfs: AgentVfs, agentId: string, stateDir: string): Promise<void> {
  const dir = join(stateDir, agentId, 'checkpoints');
  if (!existsSync(dir)) return;
  for (const f of readHostTree(dir)) await writeAll(vfs, `${checkpointsDir(vfs)}/${f.rel}`, f.data);
}

/** readCheckpoint reads a checkpoint directory on the host; ENOENT if it is not one (no readable manifest.json). */
export function readCheckpoint(dir: string): { manifest: CheckpointManifest; files: SnapshotFile[] } {
  let manifest: CheckpointManifest;
  try {
    manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as CheckpointManifest;
  } catch {
    throw new KernelError('ENOENT', `${dir} is not a checkpoint (no readable manifest.json)`);
  }
  const mem = join(dir, 'mem');
  return { manifest, files: existsSync(mem) ? readHostTree(mem) : [] };
}

/** restoreInto seeds the agent's mem/ with a checkpoint's files. */
export async function restoreInto(vfs: AgentVfs, files: readonly SnapshotFile[]): Promise<void> {
  for (const f of files) await writeAll(vfs, `${vfs.root}/mem/${f.rel}`, f.data);
}
