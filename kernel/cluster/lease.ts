/**
 * NodeLease is how long a cluster node may still decide on its own: the
 * other nodes bury it once node_ttl_ms have passed since Redis took its
 * last heartbeat, adopt its questions and call its processes lost, so past
 * its lease (a margin before that) it decides nothing until it is back.
 * Nor does a node decide before it has first read the cluster's policy
 * (a node that started without Redis enforced its own configured policy,
 * not the cluster's: an attacker pass), nor while it is behind the
 * cluster's policy: an epoch it heard of is not in force here yet (a
 * decision waits for the fetch under way, at most four heartbeats), or
 * does not load here. The kernel reads it as its
 * standing (kernel/policy/authorizer.ts Standing): every decision is then
 * a deny, rule kernel.fail-closed.
 */
import type { Standing } from '../policy/authorizer.ts';
import type { RedisSettings } from './redis.ts';

/** What the lease asks of its node. */
export interface LeaseHooks {
  /** Why the node is not ready, if it is not (named in the standing). */
  problem(): string | undefined;
  /** Why the node may not decide at all (its timing conflicts with the cluster's), undefined if it may. */
  refusal(): string | undefined;
  /** Makes sure of Redis and beats again (ping, resynchronisation, heartbeat); settles however that ends. */
  renew(): Promise<void>;
  /** True once the node stops. */
  stopped(): boolean;
  /** Why the node's policy is not the cluster's (PolicySync.behind), undefined when it is. */
  behind(): string | undefined;
  /** Settles once the policy fetch under way ends (PolicySync.caughtUp). */
  caughtUp(): Promise<void>;
}

/** bounded settles when `work` settles, or after `ms`, whichever comes first. */
function bounded(work: Promise<unknown>, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    void work.finally(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

export class NodeLease implements Standing {
  /** Until when (performance.now, ms) no other node can have buried this one: its last beat's send time plus ms. */
  private ends = 0;
  /** True once the node has read the cluster's policy from Redis since it started. */
  private everSynced = false;
  /** The renewal under way past the lease, if any (recheck). */
  private rechecking: Promise<void> | undefined;
  /** The bounded wait for the policy fetch under way, shared by the decisions that wait for it (catchUp). */
  private catching: Promise<void> | undefined;
  /** What runs when the lease runs out or the node falls behind (onLapse), and the timer set for the lease's end. */
  private readonly lapseListeners: (() => void)[] = [];
  private lapseTimer: NodeJS.Timeout | undefined;

  private readonly settings: Pick<RedisSettings, 'nodeTtlMs' | 'heartbeatMs'>;
  private readonly hooks: LeaseHooks;

  constructor(settings: Pick<RedisSettings, 'nodeTtlMs' | 'heartbeatMs'>, hooks: LeaseHooks) {
    this.settings = settings;
    this.hooks = hooks;
  }

  /**
   * ms: how long after sending a beat this node still decides without
   * another. The others bury it once node_ttl_ms have passed since Redis
   * took that beat (which was after it was sent); this node stops deciding
   * a margin before (a quarter of the TTL, at most one heartbeat).
   */
  get ms(): number {
    return this.settings.nodeTtlMs - Math.min(this.settings.heartbeatMs, this.settings.nodeTtlMs / 4);
  }

  /** beatSent: a heartbeat sent at `sent` (performance.now) landed, and no node had buried this one. */
  beatSent(sent: number): void {
    this.ends = sent + this.ms;
    this.watchEnd();
  }

  /** holdFromNow: the node resynchronised while not beating yet (agentd not listening), so nobody can have taken it for dead. */
  holdFromNow(): void {
    this.ends = Math.max(this.ends, performance.now() + this.ms);
    this.watchEnd();
  }

  /** onLapse: `listener` runs when the lease runs out without a beat, and when the node falls behind the cluster's policy (lapsed). */
  onLapse(listener: () => void): void {
    this.lapseListeners.push(listener);
  }

  /**
   * lapsed tells the listeners that the node may no longer decide as it did: the sandbox hosts' leases rested on it
   * (a lease of up to 256 calls for a second went on past the node's lease, or under a policy it knew was stale).
   */
  lapsed(): void {
    if (this.hooks.stopped()) return;
    for (const listener of this.lapseListeners) listener();
  }

  /** watchEnd sets the one timer that says when the lease runs out, unless a beat comes first. */
  private watchEnd(): void {
    if (this.lapseListeners.length === 0) return;
    clearTimeout(this.lapseTimer);
    this.lapseTimer = setTimeout(() => this.lapsed(), Math.max(0, this.ends - performance.now()));
    this.lapseTimer.unref();
  }

  /** synced: the node has read the cluster's policy; it may decide from now on, within its lease. */
  synced(): void {
    this.everSynced = true;
  }

  /** over: the lease has run out (the node is not ready). */
  get over(): boolean {
    return performance.now() >= this.ends;
  }

  /**
   * wait says why the node may decide nothing now, undefined while it may.
   * Past the lease (a pause of this process, a late heartbeat) the answer
   * is a promise that settles once the node has made sure of Redis and
   * beaten again (now() then), rather than a failure: a 2.2 s pause made 39
   * calls fail with EIO, and their agents with them (a review); on a loaded
   * machine the pause also timed out the commands in flight, so Redis
   * looked away for a moment. Within the lease but behind the cluster's
   * policy, it waits for the fetch under way likewise.
   */
  wait(): string | Promise<string | undefined> | undefined {
    const now = this.now();
    // Only a lease run out is renewed: a node refused for its timing, or not yet synced, is told so at once (a review).
    if (now === undefined || !this.everSynced || this.hooks.stopped() || this.hooks.refusal() !== undefined) return now;
    return (this.over ? this.recheck() : this.catchUp()).then(() => this.now());
  }

  /** now is wait without waiting: past the lease, the reason at once. */
  now(): string | undefined {
    const refused = this.hooks.refusal();
    if (refused !== undefined) return `this cluster node decides nothing: ${refused}`;
    if (!this.everSynced) return `this cluster node has not read the cluster's policy from Redis yet (${this.hooks.problem() ?? 'starting'}), so it decides nothing`;
    const over = performance.now() - this.ends;
    if (over < 0) {
      const behind = this.hooks.behind();
      return behind === undefined ? undefined : `this cluster node decides nothing until the cluster's policy is in force here: ${behind}`;
    }
    return `this cluster node has not reached Redis for ${Math.round(over + this.ms)} ms (${this.hooks.problem() ?? 'its heartbeat is late'}): past ${this.ms} ms the other nodes may take it for dead, so it decides nothing until it is back`;
  }

  /** recheck renews the lease once for every decision waiting meanwhile, for at most four heartbeat_ms. */
  private recheck(): Promise<void> {
    this.rechecking ??= this.hooks.renew().finally(() => (this.rechecking = undefined));
    return bounded(this.rechecking, this.settings.heartbeatMs * 4);
  }

  /** catchUp waits for the policy fetch under way once for every decision waiting meanwhile, for at most four heartbeat_ms. */
  private catchUp(): Promise<void> {
    this.catching ??= bounded(this.hooks.caughtUp(), this.settings.heartbeatMs * 4).finally(() => (this.catching = undefined));
    return this.catching;
  }
}
