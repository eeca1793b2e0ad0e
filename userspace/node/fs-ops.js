// The fs operations, written once as generators that yield syscalls: the
// sync API runs them over env.sys, fs.promises and the callback API over
// env.sysAsync (see fs-run.js). A yielded step is
//   { call, args, as, path, dest }
// call/args name the env.sys function; as/path/dest are what a failure
// reports (Node's syscall name and paths).
import { fsError, unsupported } from './fs-errors.js';
import { openMode } from './fs-flags.js';
import { Dirent, Stats } from './fs-stats.js';

/** The most bytes one read or write syscall moves (the kernel's ioBytes). */
export const IO_MAX = 1 << 20;

const step = (call, args, as, path, dest) => ({ call, args, as, path, dest });

/** pathArg accepts a string, a Buffer or a file: URL, as Node does. */
export function pathArg(path, name = 'path') {
  if (typeof path === 'string') return path;
  if (path instanceof Uint8Array) return utf8(path);
  if (path !== null && typeof path === 'object' && path.protocol === 'file:' && typeof path.pathname === 'string') {
    return decodeURIComponent(path.pathname);
  }
  const err = new TypeError(`The "${name}" argument must be of type string or an instance of Buffer or URL. Received ${path === null ? 'null' : typeof path}`);
  err.code = 'ERR_INVALID_ARG_TYPE';
  throw err;
}

function utf8(bytes) {
  let latin1 = '';
  for (let i = 0; i < bytes.length; i++) latin1 += String.fromCharCode(bytes[i]);
  return decodeURIComponent(escape(latin1));
}

/** options normalises an options argument that may be an encoding string. */
export function options(value, defaults) {
  if (value === undefined || value === null || typeof value === 'function') return { ...defaults };
  if (typeof value === 'string') return { ...defaults, encoding: value };
  return { ...defaults, ...value };
}

function* exists(path, syscall = 'stat', reported = path) {
  try {
    yield step('stat', [path], syscall, reported);
    return true;
  } catch (err) {
    if (err.code === 'ENOENT') return false;
    throw err;
  }
}

/** open yields the syscalls for fs.open and returns the fd, recorded in ctx.fds. */
export function* open(ctx, path, flags) {
  const { mode, exclusive, createOnly } = openMode(flags, 'r');
  let kernelMode = mode;
  if (exclusive && (yield* exists(path))) throw fsError('EEXIST', 'open', path);
  if (createOnly && !(yield* exists(path))) kernelMode = 'w';
  const fd = yield step('open', [path, kernelMode], 'open', path);
  ctx.fds.set(fd, { path, position: 0 });
  return fd;
}

export function* close(ctx, fd) {
  yield step('close', [fd], 'close');
  ctx.fds.delete(fd);
}

function checkPosition(ctx, fd, position, syscall) {
  if (position === undefined || position === null || position === -1 || typeof position === 'bigint' && position === -1n) return;
  const entry = ctx.fds.get(fd);
  if (entry !== undefined && Number(position) === entry.position) return;
  throw unsupported(syscall, entry && entry.path, undefined, 'the kernel has no seek: only reads and writes at the current position');
}

function advance(ctx, fd, n) {
  const entry = ctx.fds.get(fd);
  if (entry !== undefined) entry.position += n;
}

/** read reads into buffer[offset, offset+length) and returns the bytes read. */
export function* read(ctx, fd, buffer, offset = 0, length = buffer.byteLength - offset, position = null) {
  checkPosition(ctx, fd, position, 'read');
  if (length === 0) return 0;
  const bytes = yield step('read', [fd, Math.min(length, IO_MAX)], 'read');
  buffer.set(bytes, offset);
  advance(ctx, fd, bytes.length);
  return bytes.length;
}

/** write writes all of `bytes` (a Uint8Array) at the current position and returns the count. */
export function* write(ctx, fd, bytes, position = null) {
  checkPosition(ctx, fd, position, 'write');
  let done = 0;
  while (done < bytes.length) {
    const n = yield step('write', [fd, bytes.subarray(done, done + IO_MAX)], 'write');
    if (typeof n !== 'number' || n <= 0) break;
    done += n;
  }
  advance(ctx, fd, done);
  return done;
}

/** readAll reads fd to its end and returns one Buffer. */
export function* readAll(ctx, fd) {
  const parts = [];
  let total = 0;
  for (;;) {
    const chunk = yield step('read', [fd, IO_MAX], 'read');
    if (chunk.length === 0) break;
    parts.push(chunk);
    total += chunk.length;
  }
  advance(ctx, fd, total);
  return ctx.Buffer.concat(parts, total);
}

export function* readFile(ctx, file, opts) {
  const { encoding, flag } = options(opts, { flag: 'r' });
  if (typeof file === 'number') return decode(ctx, yield* readAll(ctx, file), encoding);
  const path = pathArg(file);
  const fd = yield* open(ctx, path, flag);
  try {
    return decode(ctx, yield* readAll(ctx, fd), encoding);
  } finally {
    yield* close(ctx, fd);
  }
}

function decode(ctx, buffer, encoding) {
  return encoding && encoding !== 'buffer' ? buffer.toString(encoding) : buffer;
}

/** bytesOf turns write data (string in `encoding`, Buffer, TypedArray, DataView) into a Uint8Array. */
export function bytesOf(ctx, data, encoding) {
  if (typeof data === 'string') return ctx.Buffer.from(data, encoding || 'utf8');
  if (data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const err = new TypeError('The "data" argument must be of type string or an instance of Buffer, TypedArray, or DataView.');
  err.code = 'ERR_INVALID_ARG_TYPE';
  throw err;
}

export function* writeFile(ctx, file, data, opts, defaultFlag = 'w') {
  const { encoding, flag } = options(opts, { flag: defaultFlag, encoding: 'utf8' });
  const bytes = bytesOf(ctx, data, encoding);
  if (typeof file === 'number') return void (yield* write(ctx, file, bytes));
  const path = pathArg(file);
  const fd = yield* open(ctx, path, flag);
  try {
    yield* write(ctx, fd, bytes);
  } finally {
    yield* close(ctx, fd);
  }
}

export function* stat(ctx, file, opts, as = 'stat') {
  const path = pathArg(file);
  try {
    return new Stats(yield step('stat', [path], as, path));
  } catch (err) {
    if (err.code === 'ENOENT' && opts && opts.throwIfNoEntry === false) return undefined;
    throw err;
  }
}

export function* fstat(ctx, fd) {
  const entry = ctx.fds.get(fd);
  if (entry === undefined) throw fsError('EBADF', 'fstat');
  return new Stats(yield step('stat', [entry.path], 'fstat'));
}

/** access checks that the path exists; the kernel's policy decides at use, so modes are not checked. */
export function* access(ctx, file) {
  const path = pathArg(file);
  yield step('stat', [path], 'access', path);
}

export function* readdir(ctx, file, opts) {
  const { withFileTypes, recursive, encoding } = options(opts, {});
  const root = pathArg(file);
  const out = [];
  const walk = function* (dir, prefix) {
    const entries = yield step('readdir', [dir], 'scandir', dir);
    for (const entry of entries) {
      const name = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
      if (withFileTypes) out.push(new Dirent(entry.name, entry.type, dir));
      else out.push(encoding === 'buffer' ? ctx.Buffer.from(name) : name);
      if (recursive && entry.type === 'dir') yield* walk(ctx.join(dir, entry.name), name);
    }
  };
  yield* walk(root, '');
  return out;
}

/** mkdir creates `path`; recursive returns the first directory created (or undefined). */
export function* mkdir(ctx, file, opts) {
  const path = pathArg(file);
  const recursive = typeof opts === 'object' && opts !== null && Boolean(opts.recursive);
  if (!recursive) return void (yield step('mkdir', [path, { recursive: false }], 'mkdir', path));
  let first;
  for (let dir = ctx.resolve(path); ; dir = ctx.dirname(dir)) {
    // Any failure but ENOENT is mkdir's, on the path asked for, as Node reports it.
    if (yield* exists(dir, 'mkdir', path)) break;
    first = dir;
    if (dir === '/') break;
  }
  yield step('mkdir', [path, { recursive: true }], 'mkdir', path);
  return first;
}

export function* unlink(ctx, file) {
  const path = pathArg(file);
  const info = yield step('stat', [path], 'unlink', path);
  if (info.type === 'dir') throw fsError('EISDIR', 'unlink', path);
  yield step('unlink', [path], 'unlink', path);
}

export function* rmdir(ctx, file, opts) {
  const path = pathArg(file);
  if (opts && opts.recursive) return yield* rm(ctx, path, { recursive: true });
  const info = yield step('stat', [path], 'rmdir', path);
  if (info.type !== 'dir') throw fsError('ENOTDIR', 'rmdir', path);
  yield step('unlink', [path], 'rmdir', path);
}

export function* rm(ctx, file, opts) {
  const path = pathArg(file);
  const { recursive, force } = options(opts, {});
  let info;
  try {
    info = yield step('stat', [path], 'rm', path);
  } catch (err) {
    if (force && err.code === 'ENOENT') return;
    throw err;
  }
  if (info.type === 'dir') {
    if (!recursive) {
      const err = new Error(`Path is a directory: rm returned EISDIR (is a directory) ${path}`);
      Object.assign(err, { code: 'ERR_FS_EISDIR', errno: -21, syscall: 'rm', path });
      throw err;
    }
    const entries = yield step('readdir', [path], 'scandir', path);
    for (const entry of entries) yield* rm(ctx, ctx.join(path, entry.name), { recursive: true, force });
  }
  yield step('unlink', [path], 'rm', path);
}

/** copyFile copies a file's bytes (read all, then write); COPYFILE_EXCL refuses an existing dest. */
export function* copyFile(ctx, src, dest, mode = 0) {
  const from = pathArg(src, 'src');
  const to = pathArg(dest, 'dest');
  const data = yield* readFile(ctx, from);
  yield* writeFile(ctx, to, data, { flag: mode & 1 ? 'wx' : 'w' });
}

export function* realpath(ctx, file) {
  const path = pathArg(file);
  yield step('stat', [path], 'realpath', path);
  return ctx.resolve(path);
}

export function* mkdtemp(ctx, prefix) {
  const chars = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  const random = ctx.randomBytes(6);
  let name = String(prefix);
  for (const b of random) name += chars[b % chars.length];
  yield step('mkdir', [name, { recursive: false }], 'mkdtemp', `${prefix}XXXXXX`);
  return name;
}

/** truncate to 0 bytes reopens with 'w'; other lengths are ENOSYS (no truncate syscall). */
export function* truncate(ctx, file, len = 0) {
  const path = pathArg(file);
  if (len !== 0) throw unsupported('ftruncate', path, undefined, 'only truncating to 0 bytes is supported');
  yield step('stat', [path], 'open', path);
  const fd = yield step('open', [path, 'w'], 'open', path);
  yield step('close', [fd], 'close');
}

/** touch is chmod/chown/utimes: the kernel keeps no modes, owners or times to set, so they only check that the path exists. */
export function* touch(ctx, file, as) {
  const path = pathArg(file);
  yield step('stat', [path], as, path);
}

/** rename is ENOSYS: the kernel has no rename syscall. */
export function rename(ctx, from, to) {
  throw unsupported('rename', pathArg(from, 'oldPath'), pathArg(to, 'newPath'), 'the kernel has no rename syscall: use fs.copyFileSync then fs.unlinkSync');
}
