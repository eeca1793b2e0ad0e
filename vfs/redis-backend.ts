/**
 * RedisBackend stores a tree in Redis, so several kernel nodes share it: a
 * file written through one node is read through another. Every operation
 * is one atomic server-side script or command (see redis-scripts.ts for the
 * key layout): a write at a position is a single SETRANGE inside a script,
 * never read-modify-write, so concurrent writers on different nodes never
 * tear each other's bytes. Keys live under `<prefix>:vfs:{<root>}`, so no
 * two roots (mounts) see each other and a Redis Cluster keeps a root in one
 * slot.
 *
 * Every method answers with a promise. When Redis cannot be reached the
 * promise rejects with EIO 'redis unavailable: …' (nothing was done); when it
 * does not answer in time, with EIO 'redis did not answer in time …: outcome
 * unknown' (the command was sent and may still run) — the client must be one
 * that fails closed (kernel/redis/connect.ts: no offline queue, no retries, a
 * command timeout) — and the next call works again once Redis is back. A file handle names its path: a handle
 * whose file is gone (removed, or lost with Redis) gets ENOENT. A quota
 * (bytes, inodes) is checked and counted inside the same scripts, so every
 * node sharing the tree shares it exactly; ENOSPC past it.
 */
import type { Cluster, Redis } from 'ioredis';
import { FileError, KernelError, type Errno } from '../abi/errno.ts';
import type { BackendFile, DirEntry, FileStat, OpenMode, VfsBackend } from './backend.ts';
import type { LuaScript, ScriptArg } from './lua-script.ts';
import { MKDIR, OPEN, READ, READDIR, READDIR_PAGE, SIZE, STAT, UNLINK, WRITE } from './redis-scripts.ts';

export interface RedisBackendOptions {
  /** Key prefix of this kernel's data (e.g. `agent-kernel`); no `{` or `}`. */
  prefix: string;
  /** The tree's name within the prefix, e.g. `agent/alice/mem/semantic` or `shared`; no `{` or `}`. */
  root: string;
  /** The most bytes and files/directories the tree may hold (ENOSPC past either), kept in Redis and shared by every node; none if absent. */
  quota?: { readonly bytes: number; readonly inodes: number };
}

/** The errnos a script answers with on purpose (the first word of its error). */
const SCRIPT_ERRNOS: ReadonlySet<string> = new Set<Errno>(['ENOENT', 'EEXIST', 'EISDIR', 'ENOTDIR', 'ENOTEMPTY', 'EPERM', 'ENOSPC', 'EFBIG']);
const BRACES = /[{}]/;

/** failure maps a rejected Redis call for `op` on `path` onto a FileError: a script's errno (and its reason), else EIO. */
function failure(err: unknown, op: string, path: string): FileError {
  if (err instanceof KernelError) return FileError.of(err, op, path);
  const message = err instanceof Error ? err.message : String(err);
  const space = message.indexOf(' ');
  const word = space === -1 ? message : message.slice(0, space);
  if (SCRIPT_ERRNOS.has(word)) {
    const why = message.slice(space + 1);
    return new FileError(word as Errno, op, path, why === '-' || why === word ? undefined : why);
  }
  // Sent and not answered in time: Redis may yet run it (a mkdir that timed out can exist afterwards), so say so.
  if (TIMED_OUT.test(message)) return new FileError('EIO', op, path, `redis did not answer in time (${message}): outcome unknown, the ${op} may have been done; look before repeating it`);
  return new FileError('EIO', op, path, `redis unavailable: ${message}`);
}

/** ioredis's words for a command sent and not answered within its command timeout. */
const TIMED_OUT = /timed out/i;

/** quotaArg is a bound as the scripts take it: a whole number, or -1 for none. */
function quotaArg(n: number | undefined): string {
  return n === undefined || !Number.isFinite(n) ? '-1' : String(Math.floor(n));
}

/** entriesOf reads a listing script's flat reply: name, type, name, type … */
function entriesOf(flat: readonly string[]): DirEntry[] {
  const entries: DirEntry[] = [];
  for (let i = 0; i < flat.length; i += 2) entries.push({ name: flat[i]!, type: flat[i + 1] === 'd' ? 'dir' : 'file' });
  return entries;
}

export class RedisBackend implements VfsBackend {
  readonly kind = 'redis';
  /** The key base every key of this tree starts with. */
  readonly base: string;
  private readonly client: Redis | Cluster;
  private readonly meta: string;
  /** The quota as the scripts take it: bytes, inodes (-1: none). */
  private readonly quotaArgs: readonly [string, string];

  /** RedisBackend shows tree `root` under `prefix` through `client`. EINVAL for a prefix or root with braces. */
  constructor(client: Redis | Cluster, options: RedisBackendOptions) {
    if (BRACES.test(options.prefix) || BRACES.test(options.root) || options.root === '') throw new KernelError('EINVAL', `bad redis prefix or root: ${options.prefix} ${options.root}`);
    this.client = client;
    this.base = `${options.prefix}:vfs:{${options.root}}`;
    this.meta = `${this.base}:meta`;
    this.quotaArgs = [quotaArg(options.quota?.bytes), quotaArg(options.quota?.inodes)];
  }

  private async script(op: string, script: LuaScript, path: string, ...args: ScriptArg[]): Promise<unknown> {
    return this.run(op, script, path, args, false);
  }

  private async run(op: string, script: LuaScript, path: string, args: readonly ScriptArg[], bytes: boolean): Promise<unknown> {
    try {
      return await script.run(this.client, [this.meta], [this.base, path, ...args, ...this.quotaArgs], bytes);
    } catch (err) {
      throw failure(err, op, path);
    }
  }

  async stat(path: string): Promise<FileStat> {
    const [type, mtime, size] = (await this.script('stat', STAT, path)) as [string, string, number];
    return { type: type === 'd' ? 'dir' : 'file', size, mtimeMs: Number(mtime) };
  }

  async readdir(path: string): Promise<DirEntry[]> {
    return entriesOf((await this.script('scandir', READDIR, path)) as string[]);
  }

  async readdirPage(path: string, after: string, limit: number): Promise<DirEntry[]> {
    return entriesOf((await this.script('scandir', READDIR_PAGE, path, after, limit)) as string[]);
  }

  async mkdir(path: string, recursive: boolean): Promise<void> {
    await this.script('mkdir', MKDIR, path, recursive ? '1' : '0');
  }

  async unlink(path: string): Promise<void> {
    await this.script('unlink', UNLINK, path);
  }

  async open(path: string, mode: OpenMode): Promise<BackendFile> {
    await this.script('open', OPEN, path, mode);
    return this.handle(path, mode !== 'r');
  }

  private handle(path: string, writable: boolean): BackendFile {
    let closed = false;
    const open = (op: string) => {
      if (closed) throw new FileError('EBADF', op, path, 'the file is closed');
    };
    return {
      later: true,
      read: async (length, position) => {
        open('read');
        const bytes = (await this.run('read', READ, path, [position, length], true)) as Buffer;
        // A copy: a reply Buffer may be a view into a larger socket buffer.
        return new Uint8Array(bytes);
      },
      write: async (bytes, position) => {
        open('write');
        if (!writable) throw new FileError('EBADF', 'write', path, 'not open for writing');
        return (await this.script('write', WRITE, path, position, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))) as number;
      },
      size: async () => {
        open('fstat');
        return (await this.script('fstat', SIZE, path)) as number;
      },
      close: () => {
        closed = true;
      },
    };
  }
}
