/**
 * PidAllocator hands out pids that are unique across the cluster. Redis
 * keeps the last pid handed to any node; a node reserves a block of them
 * with one script call and hands them out synchronously (a spawn never
 * waits on Redis), reserving the next block when half of the current one
 * is used. While Redis is unreachable no pid is handed out: a spawn fails
 * closed with EIO, because its directory entry could not be written either.
 *
 * A Redis that lost the counter (restarted empty, or rolled back to an
 * older copy) would hand every node's pids out again. Each node raises the
 * counter past the highest pid it ever reserved when it reconnects — but
 * the first node back cannot know how far the others had gone. So whoever
 * finds the counter missing or below its own highest pid sets a fence: for
 * one node TTL (the time in which every live node reconnects and raises
 * the counter past its own pids, or is buried as dead) no node reserves a
 * new block. Pids already reserved before the loss are still handed out:
 * they were unique then and the counter ends above them. A node that
 * reconnects only after the fence (away longer than a node TTL, so the
 * cluster buried it) may hold pids handed out again meanwhile; the README
 * says so. The same holds for a fresh cluster: the first node cannot tell
 * it from a lost one, and waits one TTL before its first block.
 */
import { KernelError } from '../../abi/errno.ts';
import type { RedisHealth } from './health.ts';
import type { ClusterKeys, RedisClient } from './redis.ts';

/**
 * RAISE (Lua) KEYS: counter, fence. ARGV: this node's highest pid, fence
 * ms. Raises the counter to at least ARGV[1]; where it was missing or
 * lower, sets the fence. Returns the ms left on the fence (0: none).
 */
const RAISE = `local cur = redis.call('GET', KEYS[1])
local high = tonumber(ARGV[1])
if cur == false or tonumber(cur) < high then
  redis.call('SET', KEYS[1], high)
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
end
return math.max(redis.call('PTTL', KEYS[2]), 0)`;

/**
 * RESERVE (Lua) KEYS: counter, fence. ARGV: block. Returns { last pid of
 * the new block, 0 }, or { -1, 0 } when the counter is missing (Redis lost
 * it: RAISE first), or { -2, ms } while the fence stands.
 */
const RESERVE = `if redis.call('EXISTS', KEYS[1]) == 0 then return { -1, 0 } end
local fence = redis.call('PTTL', KEYS[2])
if fence > 0 then return { -2, fence } end
return { redis.call('INCRBY', KEYS[1], ARGV[1]), 0 }`;

export class PidAllocator {
  private readonly redis: RedisClient;
  private readonly keys: ClusterKeys;
  private readonly health: RedisHealth;
  private readonly block: number;
  private readonly fenceMs: number;
  /** Reserved ranges [from, to], oldest first. */
  private readonly ranges: [number, number][] = [];
  private refilling: Promise<void> | undefined;
  /** The highest pid this node ever reserved. */
  private highest = 0;
  /** Until when (this process's clock) the fence stood at the last look: no new block before. */
  private fencedUntil = 0;

  /** `fenceMs`: how long no node reserves after the counter was found lost (the cluster's node TTL). */
  constructor(redis: RedisClient, keys: ClusterKeys, health: RedisHealth, fenceMs: number, block = 256) {
    this.redis = redis;
    this.keys = keys;
    this.health = health;
    this.fenceMs = fenceMs;
    this.block = block;
  }

  private get left(): number {
    return this.ranges.reduce((n, [from, to]) => n + to - from + 1, 0);
  }

  /** next hands out the next pid. EIO while Redis is unreachable, EAGAIN if the reserve ran out (or the fence stands). */
  next = (): number => {
    this.health.check('cannot allocate a cluster-wide pid');
    const range = this.ranges[0];
    if (range === undefined) {
      void this.refill();
      const fenced = this.fencedUntil - Date.now();
      if (fenced > 0) throw new KernelError('EAGAIN', `no cluster pids for ${fenced} ms more: Redis lost the pid counter and every node raises it past its own pids first; try again`);
      throw new KernelError('EAGAIN', 'no cluster pids reserved yet; try again');
    }
    const pid = range[0]++;
    if (range[0] > range[1]) this.ranges.shift();
    if (this.left < this.block / 2) void this.refill();
    return pid;
  };

  /** refill reserves another block unless one is already on its way (or the fence stands). */
  refill(): Promise<void> {
    this.refilling ??= (async () => {
      try {
        const [to, fence] = (await this.redis.eval(RESERVE, 2, this.keys.pid, this.keys.pidFence, this.block)) as [number, number];
        if (to === -1) await this.raise();
        else if (to === -2) this.fencedUntil = Date.now() + fence;
        else {
          this.ranges.push([to - this.block + 1, to]);
          this.highest = Math.max(this.highest, to);
        }
      } catch (err) {
        this.health.failed(err);
      } finally {
        this.refilling = undefined;
      }
    })();
    return this.refilling;
  }

  /** raise puts the counter at least past this node's highest pid: the ms left on the fence. */
  private async raise(): Promise<number> {
    const fence = (await this.redis.eval(RAISE, 2, this.keys.pid, this.keys.pidFence, this.highest, this.fenceMs)) as number;
    this.fencedUntil = Date.now() + fence;
    return fence;
  }

  /** fence says how long (ms) no new block can be reserved, as last seen; 0 when none stands. */
  get fenced(): number {
    return Math.max(0, this.fencedUntil - Date.now());
  }

  /**
   * recover runs when Redis comes back: the counter is raised past every
   * pid this node reserved (a Redis restarted without persistence starts
   * from nothing), then, once any fence has passed, the reserve is topped up.
   */
  async recover(): Promise<void> {
    const fence = await this.raise();
    if (fence > 0) await new Promise((r) => setTimeout(r, fence));
    if (this.left < this.block / 2) await this.refill();
  }
}
