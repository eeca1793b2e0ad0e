/**
 * PidAllocator hands out pids that are unique across the cluster. Redis
 * keeps the last pid handed to any node; a node reserves a block of them
 * with one INCRBY and hands them out synchronously (a spawn never waits on
 * Redis), reserving the next block when half of the current one is used.
 * While Redis is unreachable no pid is handed out: a spawn fails closed with
 * EIO, because its directory entry could not be written either.
 */
import { KernelError } from '../../abi/errno.ts';
import type { RedisHealth } from './health.ts';
import type { ClusterKeys, RedisClient } from './redis.ts';

/** RAISE_TO sets the pid counter to at least ARGV[1] (after a Redis that lost its data comes back). */
const RAISE_TO = `local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local floor = tonumber(ARGV[1])
if cur < floor then redis.call('SET', KEYS[1], floor) return floor end
return cur`;

export class PidAllocator {
  private readonly redis: RedisClient;
  private readonly keys: ClusterKeys;
  private readonly health: RedisHealth;
  private readonly block: number;
  /** Reserved ranges [from, to], oldest first. */
  private readonly ranges: [number, number][] = [];
  private refilling: Promise<void> | undefined;
  /** The highest pid this node ever reserved. */
  private highest = 0;

  constructor(redis: RedisClient, keys: ClusterKeys, health: RedisHealth, block = 256) {
    this.redis = redis;
    this.keys = keys;
    this.health = health;
    this.block = block;
  }

  private get left(): number {
    return this.ranges.reduce((n, [from, to]) => n + to - from + 1, 0);
  }

  /** next hands out the next pid. EIO while Redis is unreachable, EAGAIN if the reserve ran out. */
  next = (): number => {
    this.health.check('cannot allocate a cluster-wide pid');
    const range = this.ranges[0];
    if (range === undefined) {
      void this.refill();
      throw new KernelError('EAGAIN', 'no cluster pids reserved yet; try again');
    }
    const pid = range[0]++;
    if (range[0] > range[1]) this.ranges.shift();
    if (this.left < this.block / 2) void this.refill();
    return pid;
  };

  /** refill reserves another block unless one is already on its way. */
  refill(): Promise<void> {
    this.refilling ??= (async () => {
      try {
        const to = await this.redis.incrby(this.keys.pid, this.block);
        this.ranges.push([to - this.block + 1, to]);
        this.highest = Math.max(this.highest, to);
      } catch (err) {
        this.health.failed(err);
      } finally {
        this.refilling = undefined;
      }
    })();
    return this.refilling;
  }

  /**
   * recover runs when Redis comes back: the counter is raised above every
   * pid this node reserved (a Redis restarted without persistence starts
   * from 0), and the reserve is topped up.
   */
  async recover(): Promise<void> {
    await this.redis.eval(RAISE_TO, 1, this.keys.pid, this.highest);
    if (this.left < this.block / 2) await this.refill();
  }
}
