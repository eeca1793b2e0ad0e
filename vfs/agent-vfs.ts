/**
 * AgentVfs is one agent's view of the filesystem: its tree `/agent/<id>`,
 * built from a mount table, with relative paths resolved against the tree's
 * root. Every operation resolves and confines the path first; write
 * operations on a read-only mount fail with EROFS.
 */
import { KernelError } from '../syscalls/errno.ts';
import type { BackendFile, DirEntry, FileStat, OpenMode, VfsBackend } from './backend.ts';
import { MemfsBackend } from './memfs-backend.ts';
import { MountTable, type MountHit } from './mount-table.ts';
import { andThen, type MaybePromise } from './maybe.ts';
import { resolvePath } from './path.ts';

/** The directories every agent tree starts with (see ARCHITECTURE.md). */
export const AGENT_TREE_DIRS = [
  '/mem/working',
  '/mem/episodic',
  '/mem/semantic',
  '/state/checkpoints',
  '/ipc',
] as const;

const WRITE_MODES: ReadonlySet<OpenMode> = new Set(['r+', 'w', 'w+', 'a', 'a+']);

export interface OpenedFile {
  readonly path: string;
  readonly file: BackendFile;
}

/** agentRoot is the absolute root of agent `id`'s tree. */
export function agentRoot(agentId: string): string {
  return `/agent/${agentId}`;
}

export interface AgentVfsOptions {
  /** Backend for the tree itself; a fresh memfs volume by default. */
  root?: VfsBackend;
  /** Backend shown read-only at `policy/`; empty by default. */
  policy?: VfsBackend;
  /** Further mounts in this agent's namespace (e.g. a shared area); access still needs a capability. */
  mounts?: readonly { point: string; backend: VfsBackend; readOnly?: boolean }[];
}

export class AgentVfs {
  readonly root: string;
  readonly mounts = new MountTable();
  /** Settles once the standard directories exist (at once for in-memory backends). */
  readonly ready: Promise<void>;

  constructor(agentId: string, options: AgentVfsOptions = {}) {
    this.root = agentRoot(agentId);
    const tree = options.root ?? new MemfsBackend();
    this.mounts.mount(this.root, tree);
    this.mounts.mount(`${this.root}/policy`, options.policy ?? new MemfsBackend(), { readOnly: true });
    for (const extra of options.mounts ?? []) this.mounts.mount(extra.point, extra.backend, { readOnly: extra.readOnly ?? false });
    this.ready = Promise.all(AGENT_TREE_DIRS.map((dir) => tree.mkdir(dir, true))).then(() => undefined);
  }

  /**
   * resolve turns an agent-supplied path into a normalised absolute path,
   * relative to the tree's root. It does not confine: the authorizer decides
   * (and records) access, and every operation below only reaches paths under
   * a mount of this agent's namespace (EACCES otherwise).
   */
  resolve(input: string): string {
    return resolvePath(this.root, input);
  }

  private hit(path: string, writing: boolean): MountHit {
    const hit = this.mounts.lookup(path);
    if (writing && hit.mount.readOnly) throw new KernelError('EROFS', `read-only: ${path}`);
    return hit;
  }

  stat(path: string): MaybePromise<FileStat> {
    const { mount, inner } = this.hit(path, false);
    return mount.backend.stat(inner);
  }

  readdir(path: string): MaybePromise<DirEntry[]> {
    const { mount, inner } = this.hit(path, false);
    return andThen(mount.backend.readdir(inner), (entries) => {
      for (const name of this.mounts.childMounts(path)) {
        if (!entries.some((e) => e.name === name)) entries.push({ name, type: 'dir' });
      }
      return entries.toSorted((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    });
  }

  mkdir(path: string, recursive: boolean): MaybePromise<void> {
    const { mount, inner } = this.hit(path, true);
    if (inner === '/' && !recursive) throw new KernelError('EEXIST', `exists: ${path}`);
    return mount.backend.mkdir(inner, recursive);
  }

  unlink(path: string): MaybePromise<void> {
    const { mount, inner } = this.hit(path, true);
    if (inner === '/') throw new KernelError('EPERM', `is a mount point: ${path}`);
    return mount.backend.unlink(inner);
  }

  open(path: string, mode: OpenMode): MaybePromise<OpenedFile> {
    const { mount, inner } = this.hit(path, WRITE_MODES.has(mode));
    if (inner === '/') throw new KernelError('EISDIR', `is a directory: ${path}`);
    return andThen(mount.backend.open(inner, mode), (file) => ({ path, file }));
  }
}
