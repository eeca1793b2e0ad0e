/**
 * LuaScript runs one server-side script atomically on Redis: EVALSHA, and
 * EVAL once when the server does not have the script yet (a restarted or
 * failed-over server, another cluster node). Errors are the client's; callers
 * map them to errno values.
 */
import { hash } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';

export type ScriptArg = string | number | Buffer;

export class LuaScript {
  readonly source: string;
  readonly sha: string;

  constructor(source: string) {
    this.source = source;
    this.sha = hash('sha1', source);
  }

  /** run executes the script with `keys` and `args` and resolves with its reply (strings as text; with `bytes`, as Buffers). */
  async run(client: Redis | Cluster, keys: readonly string[], args: readonly ScriptArg[], bytes = false): Promise<unknown> {
    try {
      return await (bytes ? client.callBuffer('EVALSHA', [this.sha, keys.length, ...keys, ...args]) : client.evalsha(this.sha, keys.length, ...keys, ...args));
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return bytes ? client.callBuffer('EVAL', [this.source, keys.length, ...keys, ...args]) : client.eval(this.source, keys.length, ...keys, ...args);
    }
  }
}
