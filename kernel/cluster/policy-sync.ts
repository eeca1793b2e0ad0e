/**
 * PolicySync keeps one policy in force across the cluster. Redis holds the
 * policy's source, version and an epoch that only grows; replacing the
 * policy through any node stores it with the next epoch and publishes the
 * epoch. Every node validates what it fetches (a policy that does not load
 * is never installed) and hot-reloads it. Pub/sub makes that take
 * milliseconds; each heartbeat also reads the epoch, so a node that missed
 * the message (reconnecting), or whose install its log refused, catches up
 * within one beat. A node installs only once its record of the install is
 * written (policy-hosts.ts). The epoch only grows, but for a Redis that
 * lost its data: what it holds then is the cluster's, whatever epoch a node
 * had. Every decision still names the version that made it.
 *
 * The shadow policy (kernel/policy/shadow.ts) travels the same way under
 * its own key and channel, where an empty source means "no shadow".
 */
import { KernelError } from '../../abi/errno.ts';
import { parsePolicy, type LoadedPolicy } from '../policy/load.ts';
import type { RedisHealth } from './health.ts';
import type { ClusterKeys, RedisClient } from './redis.ts';

/**
 * PUBLISH_POLICY (Lua) KEYS: policy. ARGV: channel, source, file, version, node, the epoch the node has. Returns the new
 * epoch, past the stored one and the publisher's own (an emptied Redis would number it 1), and publishes it with the
 * version (`epoch version`): a node that has another policy at that epoch takes the stored one (lostSay).
 */
const PUBLISH_POLICY = `local epoch = math.max(tonumber(redis.call('HGET', KEYS[1], 'epoch') or '0'), tonumber(ARGV[6])) + 1
local t = redis.call('TIME')
redis.call('HSET', KEYS[1], 'epoch', epoch, 'source', ARGV[2], 'file', ARGV[3], 'version', ARGV[4], 'node', ARGV[5], 'at', t[1])
redis.call('PUBLISH', ARGV[1], epoch .. ' ' .. ARGV[4])
return epoch`;

/** SEED (Lua) KEYS: policy. ARGV: epoch, source, file, version, node. Stores the policy only if Redis holds none; returns the stored epoch and version. */
const SEED = `local epoch = redis.call('HGET', KEYS[1], 'epoch')
if epoch then return { tonumber(epoch), redis.call('HGET', KEYS[1], 'version') or '' } end
local t = redis.call('TIME')
redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'source', ARGV[2], 'file', ARGV[3], 'version', ARGV[4], 'node', ARGV[5], 'at', t[1])
return { tonumber(ARGV[1]), ARGV[4] }`;

/**
 * Published is what became of a publish (PolicySync.publish) on the node that made it: its policy `installed` there,
 * `superseded` by the newer epoch `applied` the node had meanwhile, or left to sync() because Redis was `lost`.
 */
export interface Published {
  readonly epoch: number;
  readonly here: 'installed' | 'superseded' | 'lost';
  readonly applied: number;
}

/** PolicyHost is where a fetched policy goes. */
export interface PolicyHost {
  /** current is the policy this node has (undefined: none, for a shadow). */
  current(): LoadedPolicy | undefined;
  /**
   * install puts `policy` (epoch `epoch`; undefined: none) in force once its record is written, unless `newest` then
   * says a newer epoch came meanwhile; `from` says which node published it. Rejects, changing nothing, when the record
   * cannot be written.
   */
  install(policy: LoadedPolicy | undefined, from: string, epoch: number, newest: () => boolean): Promise<void>;
  /** refused reports a stored policy that does not load here (it stays out of force). */
  refused(epoch: number, error: string): void;
  /** parse reads a stored policy (PolicyError where it is wrong); parsePolicy, at once, if absent. agentd parses off its event loop (PolicyParser). */
  parse?(source: string, file: string): Promise<LoadedPolicy>;
  /** fellBehind is told when this node falls behind (behind()): it heard of a newer epoch, or refused the cluster's. */
  fellBehind?(): void;
}

/** Where one synchronised policy lives: its hash and the channel its epochs are published on. */
export interface PolicySlot {
  readonly key: string;
  readonly channel: string;
  /** What it is, for errors: `the cluster policy`, `the cluster shadow policy`. */
  readonly what: string;
}

export class PolicySync {
  private readonly redis: RedisClient;
  private readonly keys: ClusterKeys;
  private readonly health: RedisHealth;
  private readonly node: string;
  private readonly host: PolicyHost;
  private readonly slot: PolicySlot;
  private applied = 0;
  /** The epoch of the policy in force here (below `applied` when this node refused a newer one that does not load here). */
  private inForce = 0;
  /** The version Redis held at `applied` (the policy in force, or one this node refused). */
  private appliedVersion: string | undefined;
  /** The newest epoch heard of (a message, a beat, a reconnect): one heard while a fetch is under way is fetched after it. */
  private heard = 0;
  private fetching: Promise<void> | undefined;
  private syncing: Promise<void> | undefined;
  /** Bumped when Redis turns out to have lost its data (lost()): a fetch begun before then neither installs nor raises `applied`. */
  private generation = 0;

  constructor(redis: RedisClient, keys: ClusterKeys, health: RedisHealth, node: string, host: PolicyHost, slot: PolicySlot = { key: keys.policy, channel: keys.policyChannel, what: 'the cluster policy' }) {
    this.redis = redis;
    this.keys = keys;
    this.health = health;
    this.node = node;
    this.host = host;
    this.slot = slot;
  }

  /** epoch is the cluster policy epoch this node has in force (0: none yet). */
  get epoch(): number {
    return this.applied;
  }

  /**
   * behind says why this node's policy is not the cluster's, undefined when it is: an epoch heard of (a message, a
   * beat) is not in force here yet, or the cluster's epoch does not load here. A node behind decides nothing
   * (NodeLease): before, it went on deciding under the policy it had until it installed the new one, and for good
   * when that one did not load here (a node of an older release, say), so a deny the operator had just added was not
   * applied by every node.
   */
  behind(): string | undefined {
    if (this.heard > this.applied) return `${this.slot.what} epoch ${this.heard} is not in force on this node yet (it has epoch ${this.applied})`;
    if (this.inForce < this.applied) return `${this.slot.what} epoch ${this.applied} does not load on this node (see its log)`;
    return undefined;
  }

  /** caughtUp settles once the fetch under way ends, at once if there is none. */
  caughtUp(): Promise<void> {
    return this.fetching ?? Promise.resolve();
  }

  /**
   * sync runs at start, whenever Redis comes back, and when an epoch lower
   * than this node's, or its own with another version, is seen (lostSay):
   * the cluster's policy wins over this node's; if
   * Redis holds none (a new cluster, or a Redis that lost its data) this
   * node's policy is stored. One at a time: callers share the one under way.
   */
  sync(): Promise<void> {
    this.syncing ??= this.syncOnce().finally(() => (this.syncing = undefined));
    return this.syncing;
  }

  private async syncOnce(): Promise<void> {
    const p = this.host.current();
    const heardBefore = this.heard;
    const gen = this.generation;
    // Seeded (if Redis holds none) with the epoch of the policy in force here, not a newer one this node refused.
    const [epoch, version] = (await this.redis.eval(SEED, 1, this.slot.key, Math.max(this.inForce, 1), p?.source ?? '', p?.file ?? '', p?.version ?? '', this.node)) as [number, string];
    const stored = Number(epoch);
    // A node that re-seeds a Redis that lost its data forgets an epoch it heard there and never installed (a review:
    // it stayed behind for good, though what Redis holds now is the policy in force here).
    this.forgetUnheld(heardBefore, gen, stored);
    if (this.lostSay(stored, version)) {
      // Epochs only grow, but in a Redis that lost its data and that another node seeded (or published to) first: what
      // is stored is the cluster's now, whatever this node had, even at the same epoch with another policy (found by
      // reviews: the node kept its own policy, and ignored every epoch up to its old one). A fetch begun before, from
      // the Redis that was lost, installs nothing.
      this.lost();
      while (this.fetching) await this.fetching;
      this.applied = 0;
    }
    if (stored !== this.applied) await this.fetch(stored);
  }

  /**
   * lostSay: Redis holding `epoch` with `version` says it lost its data since this node applied its epoch: an epoch
   * below it, or the same epoch with another policy (found by reviews: the same number from a Redis that numbers anew).
   */
  private lostSay(epoch: number, version: string | undefined): boolean {
    return epoch < this.applied || (epoch === this.applied && version !== undefined && this.appliedVersion !== undefined && version !== this.appliedVersion);
  }

  /**
   * forgetUnheld: Redis, read when this node had heard of epoch `heardBefore` (generation `gen`), holds `stored`.
   * Redis held every epoch heard of before it was published, so holding less it lost them: behind() would otherwise
   * wait for good for an epoch no longer there (sync() adopts what it holds, as lostSay says). An epoch heard since
   * the read is kept.
   */
  private forgetUnheld(heardBefore: number, gen: number, stored: number): void {
    if (stored < heardBefore && this.heard === heardBefore && this.generation === gen) this.heard = stored;
  }

  /** lost forgets the epochs of a Redis that lost its data: what a fetch under way read there is not installed. */
  private lost(): void {
    this.generation++;
    this.heard = 0;
    this.inForce = 0;
    this.appliedVersion = undefined;
  }

  /**
   * publish stores an already validated `policy` as the cluster's, tells
   * every node, and runs `install` (which puts it in force here) once Redis
   * has numbered it, unless this node applied a newer epoch meanwhile
   * (`superseded`: installed, or refused as one that does not load here),
   * or Redis turned out to have lost its data (`lost`: sync() adopts what it
   * stores, which may be this policy or not). An operator's route installed
   * its policy after publishing it whatever a fetch had installed in
   * between, and the older policy stayed in force here until the next change
   * (found by a review). EIO (via the caller) when Redis is unreachable:
   * then no node changes policy. An `install` that throws leaves the epoch
   * unapplied, so a beat fetches it again.
   */
  async publish(policy: LoadedPolicy | undefined, install: () => void = () => {}): Promise<Published> {
    this.health.check(`cannot replace ${this.slot.what}`);
    const gen = this.generation;
    const epoch = Number(await this.redis.eval(PUBLISH_POLICY, 1, this.slot.key, this.slot.channel, policy?.source ?? '', policy?.file ?? '', policy?.version ?? '', this.node, this.applied));
    // Synchronous from here to the install: no fetch can put another epoch in force between the check and it.
    if (this.generation !== gen) return { epoch, here: 'lost', applied: this.applied };
    if (epoch < this.applied) return { epoch, here: 'superseded', applied: this.applied };
    install();
    this.mark(epoch, policy?.version ?? '', true);
    return { epoch, here: 'installed', applied: epoch };
  }

  /** mark makes epoch `at` (with `version`) the one applied here; `installed`: its policy is the one in force here (not one this node refused). */
  private mark(at: number, version: string, installed: boolean): void {
    this.applied = at;
    this.appliedVersion = version;
    if (installed) this.inForce = Math.max(this.inForce, at);
  }

  /**
   * seen is told of an epoch and the version stored with it (a message or a heartbeat; the version may be unknown); a
   * newer epoch is fetched and installed. A lower one (0: the key is gone), or this node's own with another version,
   * says Redis lost its data without this node reconnecting (a FLUSHDB, an eviction), or is a message older than what
   * was fetched since: sync() asks Redis which (found by reviews: nodes kept their old policy for good).
   */
  seen(epoch: number, version?: string): Promise<void> {
    if (epoch > this.applied) return this.fetch(epoch);
    if (this.lostSay(epoch, version)) return this.sync().catch((err: unknown) => this.health.failed(err));
    return Promise.resolve();
  }

  /**
   * fetch brings this node to the newest epoch it has heard of, one fetch at a time: callers share the one under way,
   * which goes on while it makes progress and a newer epoch was heard while it waited (on Redis, on its record's
   * write), so that a caller that awaits it (sync) finds that epoch in force (found by two reviews: an epoch heard
   * meanwhile was dropped until the next beat, then fetched after the caller had gone on).
   */
  private fetch(epoch: number): Promise<void> {
    if (epoch > this.heard && epoch > this.applied) this.host.fellBehind?.();
    this.heard = Math.max(this.heard, epoch);
    this.fetching ??= (async () => {
      try {
        for (;;) {
          const before = this.applied;
          await this.fetchOnce();
          if (!(this.applied > before && this.heard > this.applied)) return;
        }
      } finally {
        this.fetching = undefined;
      }
    })();
    return this.fetching;
  }

  /** fetchOnce reads the stored policy and, if newer than the one applied, installs it (or records that it does not load). */
  private async fetchOnce(): Promise<void> {
    const gen = this.generation;
    const heardBefore = this.heard;
    const newest = (at: number) => () => this.generation === gen && this.applied < at;
    /** raise marks epoch `at` applied (mark), unless Redis was lost meanwhile or a newer one was applied. */
    const raise = (at: number, version: string, installed = true) => {
      if (this.generation === gen && at >= this.applied) this.mark(at, version, installed);
    };
    try {
      const stored = await this.redis.hgetall(this.slot.key);
      const at = Number(stored.epoch ?? 0);
      this.forgetUnheld(heardBefore, gen, at);
      if (at <= this.applied || stored.source === undefined) return;
      const version = stored.version ?? '';
      if (version === (this.host.current()?.version ?? '')) {
        raise(at, version);
        return;
      }
      // Applied once installed: an install whose record the log refused is tried again at the next beat, which reads
      // the policy's and the shadow's epochs (kernel/cluster/directory.ts BEAT).
      if (stored.source === '') {
        await this.host.install(undefined, stored.node ?? '?', at, newest(at));
        raise(at, version);
        return;
      }
      let policy: LoadedPolicy;
      try {
        const file = stored.file ?? 'cluster-policy.yaml';
        policy = this.host.parse === undefined ? parsePolicy(stored.source, file) : await this.host.parse(stored.source, file);
      } catch (err) {
        // Too many parses waiting says nothing of the policy: the next beat fetches it again.
        if (err instanceof KernelError && err.errno === 'EAGAIN') throw err;
        raise(at, version, false);
        this.host.refused(at, err instanceof Error ? err.message : String(err));
        this.host.fellBehind?.();
        return;
      }
      await this.host.install(policy, stored.node ?? '?', at, newest(at));
      raise(at, version);
    } catch (err) {
      // A record the node's log refused (a KernelError) says nothing of Redis: the log's own problem says why.
      if (!(err instanceof KernelError)) this.health.failed(err);
    }
  }
}
