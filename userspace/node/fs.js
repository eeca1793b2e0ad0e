// The `fs` module: sync calls over env.sys, callback calls and fs.promises
// over env.sysAsync; every operation is written once in fs-ops.js.
import { FS_CONSTANTS, Dirent, Stats } from './fs-stats.js';
import * as ops from './fs-ops.js';
import { runAsync, runSync } from './fs-run.js';
import { createFsPromises } from './fs-promises.js';
import { unsupported } from './fs-errors.js';

/** fsContext is the state the operations share: Buffer, path helpers and the open-fd table. */
export function fsContext(load, env) {
  const path = load('path');
  return {
    Buffer: load('buffer').Buffer,
    join: path.join,
    resolve: path.resolve,
    dirname: path.dirname,
    randomBytes: (n) => env.randomBytes(n),
    fds: new Map(),
  };
}

/** The operations by Node name: (ctx, ...args) → generator. */
const OPERATIONS = {
  readFile: ops.readFile,
  writeFile: (ctx, file, data, opts) => ops.writeFile(ctx, file, data, opts, 'w'),
  appendFile: (ctx, file, data, opts) => ops.writeFile(ctx, file, data, opts, 'a'),
  stat: (ctx, file, opts) => ops.stat(ctx, file, opts, 'stat'),
  lstat: (ctx, file, opts) => ops.stat(ctx, file, opts, 'lstat'),
  fstat: (ctx, fd) => ops.fstat(ctx, fd),
  access: (ctx, file) => ops.access(ctx, file),
  readdir: ops.readdir,
  mkdir: ops.mkdir,
  mkdtemp: (ctx, prefix) => ops.mkdtemp(ctx, prefix),
  rm: ops.rm,
  rmdir: ops.rmdir,
  unlink: (ctx, file) => ops.unlink(ctx, file),
  rename: ops.rename,
  copyFile: ops.copyFile,
  realpath: (ctx, file) => ops.realpath(ctx, file),
  truncate: (ctx, file, len) => ops.truncate(ctx, file, len),
  chmod: (ctx, file) => ops.touch(ctx, file, 'chmod'),
  chown: (ctx, file) => ops.touch(ctx, file, 'chown'),
  utimes: (ctx, file) => ops.touch(ctx, file, 'utime'),
  open: (ctx, file, flags) => ops.open(ctx, ops.pathArg(file), flags),
  close: (ctx, fd) => ops.close(ctx, fd),
};

/** readArgs normalises read(fd, buffer, offset, length, position) and read(fd, buffer, { … }). */
function readArgs(buffer, offset, length, position) {
  if (offset !== null && typeof offset === 'object') ({ offset = 0, length = buffer.byteLength - offset, position = null } = offset);
  offset = offset ?? 0;
  return [buffer, offset, length ?? buffer.byteLength - offset, position];
}

/** writeArgs normalises write(fd, buffer, offset, length, position) and write(fd, string, position, encoding) to [bytes, position]. */
function writeArgs(ctx, data, a, b, c) {
  if (typeof data === 'string') return [ctx.Buffer.from(data, typeof b === 'string' ? b : 'utf8'), typeof a === 'number' ? a : null];
  if (a !== null && typeof a === 'object') ({ offset: a = 0, length: b, position: c = null } = a);
  const offset = a ?? 0;
  const bytes = ops.bytesOf(ctx, data);
  return [bytes.subarray(offset, b === undefined || b === null ? bytes.length : offset + b), c ?? null];
}

/** callbackOf removes and returns the callback that ends `args`. */
function callbackOf(args) {
  const cb = args.pop();
  if (typeof cb !== 'function') {
    const err = new TypeError('The "cb" argument must be of type function');
    err.code = 'ERR_INVALID_ARG_TYPE';
    throw err;
  }
  return cb;
}

/** createFs builds the fs module object. */
export function createFs(env, load) {
  const ctx = fsContext(load, env);
  // A callback runs in a microtask of the event loop's, not inside a promise reaction: what it throws is an uncaught
  // exception (process 'uncaughtException', as in Node), not a rejection nobody handles.
  const later = (env.platformTimers && env.platformTimers.queueMicrotask) || queueMicrotask;
  const settle = (promise, ok, failed) => void promise.then((value) => later(() => ok(value)), (err) => later(() => failed(err)));
  const fs = { constants: FS_CONSTANTS, Stats, Dirent, ...FS_CONSTANTS };
  for (const [name, op] of Object.entries(OPERATIONS)) {
    fs[`${name}Sync`] = (...args) => runSync(env.sys, op(ctx, ...args));
    fs[name] = (...args) => {
      const cb = callbackOf(args);
      settle(runAsync(env.sysAsync, () => op(ctx, ...args)), (value) => cb(null, value), cb);
    };
  }
  fs.existsSync = (file) => {
    try {
      runSync(env.sys, ops.stat(ctx, file));
      return true;
    } catch {
      return false;
    }
  };
  fs.exists = (file, cb) => settle(runAsync(env.sysAsync, () => ops.stat(ctx, file)), () => cb(true), () => cb(false));
  fs.readSync = (fd, buffer, offset, length, position) => runSync(env.sys, ops.read(ctx, fd, ...readArgs(buffer, offset, length, position)));
  fs.read = (fd, buffer, ...rest) => {
    const cb = callbackOf(rest);
    const args = readArgs(buffer, ...rest);
    settle(runAsync(env.sysAsync, () => ops.read(ctx, fd, ...args)), (n) => cb(null, n, buffer), cb);
  };
  fs.writeSync = (fd, data, a, b, c) => runSync(env.sys, ops.write(ctx, fd, ...writeArgs(ctx, data, a, b, c)));
  fs.write = (fd, data, ...rest) => {
    const cb = callbackOf(rest);
    const args = writeArgs(ctx, data, ...rest);
    settle(runAsync(env.sysAsync, () => ops.write(ctx, fd, ...args)), (n) => cb(null, n, data), cb);
  };
  for (const name of ['fsync', 'fdatasync']) {
    fs[`${name}Sync`] = () => undefined;
    fs[name] = (fd, cb) => later(() => cb(null));
  }
  for (const name of ['symlink', 'link']) {
    fs[`${name}Sync`] = (target, path) => {
      throw unsupported(name, ops.pathArg(target, 'target'), ops.pathArg(path), 'the kernel has no links');
    };
    fs[name] = (target, path, ...rest) => void callbackOf(rest)(unsupported(name, String(target), String(path), 'the kernel has no links'));
  }
  for (const name of ['createReadStream', 'createWriteStream', 'watch', 'watchFile', 'openAsBlob']) {
    fs[name] = () => {
      throw Object.assign(new Error(`fs.${name} is not provided in an agent (no stream module): use fs.promises or fs.readFileSync / fs.writeFileSync`), { code: 'ERR_FEATURE_UNAVAILABLE_ON_PLATFORM' });
    };
  }
  fs.promises = createFsPromises(env, ctx, OPERATIONS);
  return fs;
}
