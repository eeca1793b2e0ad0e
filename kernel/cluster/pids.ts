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
 * it from a lost one, and waits one TTL before its first block. A Redis
 * that restarted from a snapshot may hold a counter that is behind without
 * being below the pids of the first node back: a node that finds the
 * server's run id changed fences too. A counter lost without a reconnect
 * (a flush) is raised by every node's next heartbeat (beat) or reservation,
 * both of which name the node's highest pid.
 */
import { Cluster } from 'ioredis';
import { KernelError } from '../../abi/errno.ts';
import type { RedisHealth } from './health.ts';
import type { ClusterKeys, RedisClient } from './redis.ts';

/**
 * RAISE_FN (Lua): raise(counter, fence, high, fence ms, force) puts the
 * counter at least at `high` (this node's highest pid); where it was
 * missing or lower, or with `force` (Redis restarted, or failed over, since
 * this node last saw it — another node may have reserved past what it
 * kept), it sets the fence. Returns the ms left on the fence (0: none).
 */
const RAISE_FN = `local function raise(counter, fence, high, ms, force)
  local cur = redis.call('GET', counter)
  if cur == false or tonumber(cur) < high or force then
    redis.call('SET', counter, math.max(high, tonumber(cur or '0')))
    redis.call('SET', fence, '1', 'PX', ms)
  end
  return math.max(redis.call('PTTL', fence), 0)
end
`;

/** RAISE (Lua) KEYS: counter, fence. ARGV: this node's highest pid, fence ms, force (1/0). raise(): the ms left on the fence. */
const RAISE = `${RAISE_FN}
return raise(KEYS[1], KEYS[2], tonumber(ARGV[1]), ARGV[2], ARGV[3] == '1')`;

/**
 * RESERVE (Lua) KEYS: counter, fence. ARGV: block, this node's highest pid,
 * fence ms. raise() first — a counter lost without this node reconnecting
 * (a flush, an eviction) is raised and fenced here — then { last pid of the
 * new block, 0 }, or { -1, ms } while the fence stands.
 */
const RESERVE = `${RAISE_FN}
local fence = raise(KEYS[1], KEYS[2], tonumber(ARGV[2]), ARGV[3], false)
if fence > 0 then return { -1, fence } end
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
  private fenceTimer: NodeJS.Timeout | undefined;
  /** The Redis server's run id when this node last recovered: another one means it restarted or failed over. */
  private lastRunId: string | undefined;

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
      const fenced = this.fence;
      if (fenced > 0) throw new KernelError('EAGAIN', `no cluster pids for ${fenced} ms more: Redis lost the pid counter and every node raises it past its own pids first; try again`);
      throw new KernelError('EAGAIN', 'no cluster pids reserved yet; try again');
    }
    const pid = range[0]++;
    if (range[0] > range[1]) this.ranges.shift();
    if (this.left < this.block / 2) void this.refill();
    return pid;
  };

  /** refill reserves another block unless one is already on its way (or the fence stands: it tries again when it passes). */
  refill(): Promise<void> {
    this.refilling ??= (async () => {
      try {
        const [to, fence] = (await this.redis.eval(RESERVE, 2, this.keys.pid, this.keys.pidFence, this.block, this.highest, this.fenceMs)) as [number, number];
        if (to === -1) this.fenced(fence);
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

  /** fenced notes a fence of `ms` and tops the reserve up once it has passed (spawns need not come to ask). */
  private fenced(ms: number): void {
    this.fencedUntil = Date.now() + ms;
    if (ms <= 0) return;
    clearTimeout(this.fenceTimer);
    this.fenceTimer = setTimeout(() => {
      if (this.left < this.block / 2) void this.refill();
    }, ms + 1);
    this.fenceTimer.unref();
  }

  /** fence says how long (ms) no new block can be reserved, as last seen; 0 when none stands. */
  get fence(): number {
    return Math.max(0, this.fencedUntil - Date.now());
  }

  /**
   * recover runs when Redis comes back: the counter is raised past every
   * pid this node reserved (a Redis restarted without persistence starts
   * from nothing; one restarted from a snapshot, or a replica promoted, may
   * be behind what another node reserved since, so a Redis whose run id
   * changed is fenced too). It does not wait for the fence (the node keeps
   * beating meanwhile); the reserve is topped up once the fence passes.
   */
  async recover(): Promise<void> {
    const runId = await this.runId();
    const force = runId !== undefined && this.lastRunId !== undefined && runId !== this.lastRunId;
    if (runId !== undefined) this.lastRunId = runId;
    const fence = await this.raise(force);
    if (fence === 0 && this.left < this.block / 2) await this.refill();
  }

  /**
   * beat runs on every heartbeat: the counter is raised past this node's
   * pids if Redis lost it while this node stayed connected, so within a
   * fence (one TTL, at least two heartbeats) every live node has raised it
   * past the pids it still holds before anyone reserves again.
   */
  async beat(): Promise<void> {
    await this.raise(false);
  }

  /** raise runs RAISE with this node's highest pid (`force`: fence whatever the counter says) and notes the fence: its ms. */
  private async raise(force: boolean): Promise<number> {
    const fence = (await this.redis.eval(RAISE, 2, this.keys.pid, this.keys.pidFence, this.highest, this.fenceMs, force ? '1' : '0')) as number;
    this.fenced(fence);
    return fence;
  }

  /** settled resolves once no fence stands and a block is reserved (a node that starts waits for it before it serves). */
  async settled(): Promise<void> {
    while (this.health.ready && (this.fence > 0 || this.ranges.length === 0)) {
      const wait = this.fence;
      if (wait > 0) await new Promise((r) => setTimeout(r, wait + 1));
      else await this.refill();
    }
  }

  /** runId is the Redis server's run id (a standalone server's; undefined for Redis Cluster, whose shards each have one). */
  private async runId(): Promise<string | undefined> {
    if (this.redis instanceof Cluster) return undefined;
    const info = await this.redis.info('server');
    return /^run_id:(\w+)/m.exec(info)?.[1];
  }
}
