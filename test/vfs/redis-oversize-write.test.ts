/**
 * Before the fix (found by an attacker pass): a write the Redis backend's WRITE script reserves quota for
 * and then cannot store (SETRANGE past Redis's 512 MiB string limit) keeps
 * the reservation: the script's HINCRBY is not undone when the SETRANGE
 * raises. The tree's #bytes grows by the whole gap with no data stored, for
 * good (unlinking the file gives back only what it holds), and the failure
 * is reported as EIO "redis unavailable" though Redis answered.
 *
 * Reachable by an agent whenever a Redis mount's quota exceeds 512 MiB (a
 * shared mount's `quota:`, or vfs_bytes raised): write 512 MiB through fd A,
 * truncate the file by reopening it with 'w', then write 1 byte on fd A (its
 * position is still 512 MiB): 512 MiB of quota gone per write, no data kept.
 * Here the fd's position is given to the backend directly, as fd-table does.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { RedisBackend } from '../../vfs/redis-backend.ts';
import { redisForTests } from '../redis.ts';

const env = await redisForTests('redis-oversize-write');
afterAll(() => env?.cleanup());

const errnoOf = async (fn: () => Promise<unknown>): Promise<string> => {
  try {
    await fn();
    return 'ok';
  } catch (e) {
    return (e as { errno?: string }).errno ?? String(e);
  }
};

describe.skipIf(env === undefined)('Redis WRITE that Redis refuses', () => {
  it('takes no quota when the SETRANGE fails, and is not called "redis unavailable"', async () => {
    const client = await env!.client();
    const quota = { bytes: 2 * 1024 * 1024 * 1024, inodes: 100 };
    const tree = new RedisBackend(client, { prefix: env!.prefix, root: 'big-shared', quota });
    const f = await tree.open('/f', 'w');
    let message = '';
    try {
      await f.write(new Uint8Array([1]), 600 * 1024 * 1024);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).not.toBe('');
    // Nothing was stored, so nothing may stay reserved.
    const used = Number((await client.hget(`${env!.prefix}:vfs:{big-shared}:meta`, '#bytes')) ?? '0');
    expect(used).toBe(0);
    // Redis answered: this is not "redis unavailable".
    expect(message).not.toMatch(/redis unavailable/);
    // And the quota still takes a real write after the file is gone.
    await tree.unlink('/f');
    const g = await tree.open('/g', 'w');
    const ok = await errnoOf(async () => g.write(new Uint8Array(1024), 0));
    expect(ok).toBe('ok');
    const again = Number((await client.hget(`${env!.prefix}:vfs:{big-shared}:meta`, '#bytes')) ?? '0');
    expect(again).toBe(1024);
  });
});
