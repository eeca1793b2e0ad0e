/**
 * AgentVfs is one agent's view of the filesystem: its tree `/agent/<id>`,
 * built from a mount table, with relative paths resolved against the tree's
 * root. Every operation resolves and confines the path first; write
 * operations on a read-only mount fail with EROFS. A failure is a FileError
 * naming the path as the agent sees it (`/agent/<id>/mem/x`), never the
 * path within a mount's backend.
 */
import { FileError, KernelError } from '../abi/errno.ts';
import { byName, type BackendFile, type DirEntry, type FileStat, type OpenMode, type VfsBackend } from './backend.ts';
import { MemfsBackend } from './memfs-backend.ts';
import { MountTable, type Mount, type MountHit } from './mount-table.ts';
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

/** agentPath is backend path `inner` of the mount at `point` as the agent sees it. */
function agentPath(point: string, inner: string): string {
  if (inner === '/') return point;
  return point === '/' ? inner : `${point}${inner}`;
}

/** asAgentSees rewords a backend's failure of `op` on `path` to name the path as the agent sees it. */
function asAgentSees(err: unknown, op: string, mount: Mount, path: string): unknown {
  if (err instanceof FileError) return err.at(agentPath(mount.point, err.path));
  return err instanceof KernelError ? FileError.of(err, op, path) : err;
}

/** named runs a backend call for `op` on `path`, sync or async, so that its failure names the agent's path. */
function named<T>(op: string, mount: Mount, path: string, call: () => MaybePromise<T>): MaybePromise<T> {
  try {
    const result = call();
    return result instanceof Promise ? result.catch((err: unknown) => Promise.reject(asAgentSees(err, op, mount, path))) : result;
  } catch (err) {
    throw asAgentSees(err, op, mount, path);
  }
}

/** namedFile is `file` with failures naming `path` as the agent sees it. */
function namedFile(file: BackendFile, mount: Mount, path: string): BackendFile {
  return {
    ...(file.later === true ? { later: true } : {}),
    read: (length, position) => named('read', mount, path, () => file.read(length, position)),
    write: (data, position) => named('write', mount, path, () => file.write(data, position)),
    size: () => named('fstat', mount, path, () => file.size()),
    close: () => named('close', mount, path, () => file.close()),
  };
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

  private hit(op: string, path: string, writing: boolean): MountHit {
    let hit: MountHit;
    try {
      hit = this.mounts.lookup(path);
    } catch (err) {
      throw err instanceof KernelError ? new FileError(err.errno, op, path, "outside the agent's namespace") : err;
    }
    if (writing && hit.mount.readOnly) throw new FileError('EROFS', op, path);
    return hit;
  }

  stat(path: string): MaybePromise<FileStat> {
    const { mount, inner } = this.hit('stat', path, false);
    return named('stat', mount, path, () => mount.backend.stat(inner));
  }

  /** readdir lists every entry of a directory, mount points below it included, by name. */
  readdir(path: string): MaybePromise<DirEntry[]> {
    const { mount, inner } = this.hit('scandir', path, false);
    return andThen(named('scandir', mount, path, () => mount.backend.readdir(inner)), (entries) => this.withMounts(path, entries, '', Infinity));
  }

  /**
   * readdirPage lists at most `limit` entries named after `after` (byName),
   * mount points included: one page, from the backend's own pages when it
   * has them (its cost then follows the page, not the directory).
   */
  readdirPage(path: string, after: string, limit: number): MaybePromise<DirEntry[]> {
    const { mount, inner } = this.hit('scandir', path, false);
    const { backend } = mount;
    const listed = backend.readdirPage === undefined ? () => backend.readdir(inner) : () => backend.readdirPage!(inner, after, limit);
    return andThen(named('scandir', mount, path, listed), (entries) => this.withMounts(path, entries, after, limit));
  }

  /** withMounts adds the mount points below `path` to `entries` and returns the first `limit` named after `after`, by name. */
  private withMounts(path: string, entries: DirEntry[], after: string, limit: number): DirEntry[] {
    for (const name of this.mounts.childMounts(path)) {
      if (!entries.some((e) => e.name === name)) entries.push({ name, type: 'dir' });
    }
    const sorted = entries.toSorted((a, b) => byName(a.name, b.name));
    let from = 0;
    if (after !== '') while (from < sorted.length && byName(sorted[from]!.name, after) <= 0) from++;
    return from === 0 && limit >= sorted.length ? sorted : sorted.slice(from, from + limit);
  }

  mkdir(path: string, recursive: boolean): MaybePromise<void> {
    const { mount, inner } = this.hit('mkdir', path, true);
    if (inner === '/' && !recursive) throw new FileError('EEXIST', 'mkdir', path);
    return named('mkdir', mount, path, () => mount.backend.mkdir(inner, recursive));
  }

  unlink(path: string): MaybePromise<void> {
    const { mount, inner } = this.hit('unlink', path, true);
    if (inner === '/') throw new FileError('EPERM', 'unlink', path, 'it is a mount point');
    return named('unlink', mount, path, () => mount.backend.unlink(inner));
  }

  open(path: string, mode: OpenMode): MaybePromise<OpenedFile> {
    const { mount, inner } = this.hit('open', path, WRITE_MODES.has(mode));
    if (inner === '/') throw new FileError('EISDIR', 'open', path);
    return andThen(named('open', mount, path, () => mount.backend.open(inner, mode)), (file) => ({ path, file: namedFile(file, mount, path) }));
  }
}
