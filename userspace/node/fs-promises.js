// fs.promises / `fs/promises`: the fs operations over env.sysAsync, and a
// minimal FileHandle for open().
import { FS_CONSTANTS } from './fs-stats.js';
import * as ops from './fs-ops.js';
import { runAsync } from './fs-run.js';

/** createFsPromises builds the promises API from the shared operations table. */
export function createFsPromises(env, ctx, operations) {
  const run = (start) => runAsync(env.sysAsync, start);
  const api = { constants: FS_CONSTANTS };
  for (const [name, op] of Object.entries(operations)) {
    if (name === 'open' || name === 'close' || name === 'fstat') continue;
    api[name] = (...args) => run(() => op(ctx, ...args));
  }

  /** FileHandle wraps an fd opened with fs.promises.open. */
  class FileHandle {
    constructor(fd) {
      this.fd = fd;
    }
    /** read(buffer?, offset?, length?, position?) → { bytesRead, buffer }. */
    async read(buffer, offset, length, position) {
      if (buffer === undefined || (buffer !== null && !(buffer instanceof Uint8Array) && typeof buffer === 'object')) {
        const o = buffer || {};
        buffer = o.buffer || ctx.Buffer.alloc(16384);
        ({ offset = 0, length = buffer.byteLength - offset, position = null } = o);
      }
      offset = offset ?? 0;
      length = length ?? buffer.byteLength - offset;
      const bytesRead = await run(() => ops.read(ctx, this.fd, buffer, offset, length, position));
      return { bytesRead, buffer };
    }
    /** write(data, …) → { bytesWritten, buffer }; strings take (position, encoding). */
    async write(data, a, b, c) {
      const bytes = typeof data === 'string' ? ctx.Buffer.from(data, typeof b === 'string' ? b : 'utf8') : ops.bytesOf(ctx, data).subarray(a ?? 0, b == null ? undefined : (a ?? 0) + b);
      const position = typeof data === 'string' ? (typeof a === 'number' ? a : null) : (c ?? null);
      const bytesWritten = await run(() => ops.write(ctx, this.fd, bytes, position));
      return { bytesWritten, buffer: data };
    }
    readFile(options) {
      return run(() => ops.readFile(ctx, this.fd, options));
    }
    writeFile(data, options) {
      return run(() => ops.writeFile(ctx, this.fd, data, options));
    }
    appendFile(data, options) {
      return this.writeFile(data, options);
    }
    stat() {
      return run(() => ops.fstat(ctx, this.fd));
    }
    sync() {
      return Promise.resolve();
    }
    datasync() {
      return Promise.resolve();
    }
    async close() {
      if (this.fd === -1) return;
      const fd = this.fd;
      this.fd = -1;
      await run(() => ops.close(ctx, fd));
    }
  }
  if (typeof Symbol.asyncDispose === 'symbol') FileHandle.prototype[Symbol.asyncDispose] = FileHandle.prototype.close;
  api.open = async (file, flags = 'r') => new FileHandle(await run(() => ops.open(ctx, ops.pathArg(file), flags)));
  api.FileHandle = FileHandle;
  return api;
}
