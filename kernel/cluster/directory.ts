/**
 * ProcessDirectory is the cluster-wide process table in Redis: which node
 * runs which pid, and each process's last known state. Every node beats
 * (one script: its heartbeat, the policy epoch it should be at, and the
 * burial of nodes that stopped beating) and writes the entries of its own
 * processes that changed. A node silent for longer than the TTL is buried by
 * whichever node beats next: its processes are marked `lost` (never left
 * `running`) and its pending approvals denied. Readers also treat an entry
 * whose node has gone quiet as lost, so `ps` is right before the burial.
 *
 * A buried node stays in the node list as `dead`, with when it was last
 * seen, so the lost processes in `ps` name a node `nodes` still shows: for
 * DEAD_NODE_KEPT_MS after its last beat (at most the DEAD_NODES_LISTED most
 * recently seen), or until a node of the same name beats again. A node that
 * stops cleanly leaves the list at once (`leave`): its processes ended and
 * left the directory with it, so nothing of it is left to explain.
 */
import { randomBytes } from 'node:crypto';
import type { ProcessInfo, ProcessState } from '../process.ts';
import type { RedisHealth } from './health.ts';
import type { ClusterKeys, RedisClient } from './redis.ts';
import { forCjson } from './cjson.ts';
import { BEAT, CLAIM } from './directory-scripts.ts';

/** DirectoryEntry is one process as the whole cluster sees it. */
export interface DirectoryEntry extends Omit<ProcessInfo, 'state'> {
  readonly state: ProcessState | 'lost';
  /** The node that runs (or ran) the process. */
  readonly node: string;
  /** When the node was found dead (Redis server time, ms). */
  readonly lostAt?: number;
}

/** NodeInfo is what a node says about itself in the directory. */
export interface NodeInfo {
  readonly node: string;
  readonly url: string;
  readonly host: string;
  readonly pid: number;
  readonly startedAt: number;
  /** Its timing (redis.node_ttl_ms, redis.heartbeat_ms), which every live node must share (absent: a node of an earlier version). */
  readonly ttlMs?: number;
  readonly heartbeatMs?: number;
}

/**
 * NodeState: `alive` beat within the TTL; `silent` has not, and has not
 * been found dead yet (the next beat of a live node buries it); `dead` was
 * found dead: its processes are lost and its questions denied.
 */
export type NodeState = 'alive' | 'silent' | 'dead';

export interface NodeStatus extends NodeInfo {
  readonly state: NodeState;
  /** state is alive. */
  readonly alive: boolean;
  /** ms since the node's last beat: how long ago it was last seen. */
  readonly silentMs: number;
  /** When the node last beat (Redis server time, ms). */
  readonly lastSeenAt: number;
}

/** A dead node is listed this long after its last beat, ms; then the next beat forgets it. */
export const DEAD_NODE_KEPT_MS = 24 * 60 * 60 * 1000;

/** At most this many dead nodes are listed, the most recently seen (the default node id has the pid: a node that crash-loops is a new node each time). */
export const DEAD_NODES_LISTED = 32;

/** How long dead nodes stay listed (ProcessDirectory's defaults are DEAD_NODE_KEPT_MS and DEAD_NODES_LISTED). */
export interface DeadNodes {
  readonly keptMs: number;
  readonly listed: number;
}

export interface BeatResult {
  /** The policy epoch stored in Redis. */
  readonly policyEpoch: number;
  /** The shadow policy's epoch stored in Redis. */
  readonly shadowEpoch: number;
  /** The versions stored with them ('' for none). */
  readonly policyVersion: string;
  readonly shadowVersion: string;
  /** Nodes this beat found dead and buried. */
  readonly buried: readonly string[];
  /** This node itself had been found dead (and buried) before this beat brought it back: its processes are lost. */
  readonly wasBuried: boolean;
  /** Questions from outside the kernel waiting for a node to adopt them. */
  readonly orphans: number;
  /** The timing of a live node that joined before this one, if it differs from this node's (directory-scripts.ts CONFLICT): it buried nothing. */
  readonly conflict?: string;
}

export class ProcessDirectory {
  private readonly redis: RedisClient;
  private readonly keys: ClusterKeys;
  private readonly health: RedisHealth;
  private readonly self: NodeInfo;
  private readonly ttlMs: number;
  private readonly dead: DeadNodes;
  /** What this node last wrote for each of its pids, so a beat writes only what changed. */
  private written = new Map<number, string>();
  /** Pids of this node the cluster took for lost while it was cut off (disown): never written again. */
  private readonly disowned = new Set<number>();
  /** This node has beaten (registered) since it started: a later beat that finds it listed dead brings it back from a burial. */
  private beaten = false;
  /**
   * The data tag this node last read: set once in a Redis by the first node
   * to beat, so a new one means Redis lost its data. A node that beat before
   * and finds itself unregistered under the same tag was buried and then
   * forgotten (the dead list keeps 32 nodes, a day), not emptied out.
   */
  private dataTag: string | undefined;

  constructor(redis: RedisClient, keys: ClusterKeys, health: RedisHealth, self: NodeInfo, ttlMs: number, dead: DeadNodes = { keptMs: DEAD_NODE_KEPT_MS, listed: DEAD_NODES_LISTED }) {
    this.redis = redis;
    this.keys = keys;
    this.health = health;
    this.self = self;
    this.ttlMs = ttlMs;
    this.dead = dead;
  }

  get node(): string {
    return this.self.node;
  }

  /**
   * claim runs once at start: whatever an earlier incarnation of this node
   * left running is lost now. Returns why this node may not join (a live
   * node's timing differs), undefined if it may.
   */
  async claim(): Promise<string | undefined> {
    const clash = (await this.redis.eval(CLAIM, 6, this.keys.procs, this.keys.approvals, this.keys.orphanApprovals, this.keys.beats, this.keys.nodes, this.keys.joined, this.self.node, this.keys.approval(''), forCjson(this.self), this.ttlMs)) as string;
    return clash === '' ? undefined : clash;
  }

  /**
   * beat refreshes this node's heartbeat, buries dead nodes and forgets old
   * dead ones (`mayBury`: only
   * once this node has itself been connected for a full TTL, so a Redis
   * that just came back does not bury nodes that have not beaten yet) and
   * writes this node's changed processes (all of them when `full` or when
   * the node finds it had been buried).
   */
  async beat(local: readonly ProcessInfo[], options: { mayBury: boolean; full: boolean }): Promise<BeatResult> {
    const [fresh, epoch, buried, orphans, shadowEpoch, policyVersion, shadowVersion, wasDead, tag, clash] = (await this.redis.eval(
      BEAT,
      10,
      this.keys.nodes,
      this.keys.beats,
      this.keys.procs,
      this.keys.approvals,
      this.keys.policy,
      this.keys.dead,
      this.keys.orphanApprovals,
      this.keys.shadow,
      this.keys.dataTag,
      this.keys.joined,
      this.self.node,
      forCjson(this.self),
      this.ttlMs,
      options.mayBury ? '1' : '0',
      this.keys.approval(''),
      this.dead.keptMs,
      this.dead.listed,
      randomBytes(8).toString('hex'),
    )) as [number, string, string[], number, string, string, string, number, string, string];
    // A node brought back from the dead writes nothing of its old processes: the cluster has them lost (the node disowns them).
    const wasBuried = this.beaten && (wasDead === 1 || (fresh === 1 && tag === this.dataTag));
    this.beaten = true;
    this.dataTag = tag;
    if (!wasBuried) await this.write(local, options.full || fresh === 1);
    return { policyEpoch: Number(epoch), shadowEpoch: Number(shadowEpoch), policyVersion, shadowVersion, buried, orphans, wasBuried, ...(clash !== '' ? { conflict: clash } : {}) };
  }

  /**
   * wasBuried: this node, which has beaten before, is listed dead (another
   * node buried it while it was cut off), or is no longer registered in a
   * Redis that kept its data (buried, then forgotten).
   */
  async wasBuried(): Promise<boolean> {
    if (!this.beaten) return false;
    const [[, dead], [, registered], [, tag]] = (await this.redis.multi().zscore(this.keys.dead, this.self.node).hexists(this.keys.nodes, this.self.node).get(this.keys.dataTag).exec()) as [[unknown, string | null], [unknown, number], [unknown, string | null]];
    return dead !== null || (registered === 0 && tag === this.dataTag);
  }

  /** disown stops writing `pids` (this node's processes the cluster took for lost): their entries stay as the burial left them. */
  disown(pids: Iterable<number>): void {
    for (const pid of pids) {
      this.disowned.add(pid);
      this.written.delete(pid);
    }
  }

  /** write stores this node's processes that changed since the last write (all with `full`) and drops reaped ones. */
  async write(local: readonly ProcessInfo[], full = false): Promise<void> {
    const now = new Map<number, string>();
    for (const p of local) if (!this.disowned.has(p.pid)) now.set(p.pid, forCjson({ ...p, node: this.self.node }));
    // A disowned pid is forgotten once its process is reaped here.
    if (this.disowned.size > 0) for (const pid of this.disowned) if (!local.some((p) => p.pid === pid)) this.disowned.delete(pid);
    const changed: string[] = [];
    for (const [pid, json] of now) if (full || this.written.get(pid) !== json) changed.push(String(pid), json);
    const gone = [...this.written.keys()].filter((pid) => !now.has(pid)).map(String);
    if (changed.length === 0 && gone.length === 0) return;
    const tx = this.redis.multi();
    if (changed.length > 0) tx.hset(this.keys.procs, ...changed);
    if (gone.length > 0) tx.hdel(this.keys.procs, ...gone);
    await tx.exec();
    this.written = now;
  }

  /** announce writes one new process at once (a spawn is acknowledged only once the cluster can see it). */
  async announce(info: ProcessInfo): Promise<void> {
    const json = forCjson({ ...info, node: this.self.node });
    await this.redis.hset(this.keys.procs, String(info.pid), json);
    this.written.set(info.pid, json);
  }

  /** list returns every process in the cluster by pid; `local` (this node's own, fresher) replaces what Redis holds for it. */
  async list(local: readonly ProcessInfo[]): Promise<DirectoryEntry[]> {
    this.health.check('cannot read the cluster process directory');
    const [[, raw], [, beats], [, time]] = (await this.redis.multi().hgetall(this.keys.procs).zrange(this.keys.beats, 0, '-1', 'WITHSCORES').time().exec()) as [
      [unknown, Record<string, string>],
      [unknown, string[]],
      [unknown, [string, string]],
    ];
    const alive = this.aliveNodes(beats, time);
    const entries: DirectoryEntry[] = local.map((p) => ({ ...p, node: this.self.node }));
    const here = new Set(local.map((p) => p.pid));
    for (const json of Object.values(raw)) {
      const entry = parseEntry(json);
      // This node's own processes come from its kernel; what an earlier incarnation left (lost) comes from Redis.
      if (entry === undefined || here.has(entry.pid)) continue;
      const quiet = entry.state !== 'exited' && entry.state !== 'lost' && !alive.has(entry.node);
      entries.push(quiet ? { ...entry, state: 'lost' } : entry);
    }
    return entries.toSorted((a, b) => a.pid - b.pid);
  }

  /** lookup finds one pid's entry (lost if its node has gone quiet); undefined if the directory does not know it. */
  async lookup(pid: number): Promise<DirectoryEntry | undefined> {
    this.health.check(`cannot look up pid ${pid} in the cluster directory`);
    const [[, json], [, beats], [, time]] = (await this.redis.multi().hget(this.keys.procs, String(pid)).zrange(this.keys.beats, 0, '-1', 'WITHSCORES').time().exec()) as [
      [unknown, string | null],
      [unknown, string[]],
      [unknown, [string, string]],
    ];
    const entry = json === null ? undefined : parseEntry(json);
    if (entry === undefined) return undefined;
    const quiet = entry.state !== 'exited' && entry.state !== 'lost' && !this.aliveNodes(beats, time).has(entry.node);
    return quiet ? { ...entry, state: 'lost' } : entry;
  }

  /** nodes lists the nodes in the directory, live and dead, with when each was last seen. */
  async nodes(): Promise<NodeStatus[]> {
    this.health.check('cannot list the cluster nodes');
    const [[, raw], [, beats], [, dead], [, time]] = (await this.redis
      .multi()
      .hgetall(this.keys.nodes)
      .zrange(this.keys.beats, 0, '-1', 'WITHSCORES')
      .zrange(this.keys.dead, 0, '-1', 'WITHSCORES')
      .time()
      .exec()) as [[unknown, Record<string, string>], [unknown, string[]], [unknown, string[]], [unknown, [string, string]]];
    const now = serverMs(time);
    const beating = scores(beats);
    const buried = scores(dead);
    return Object.values(raw)
      .map((json) => JSON.parse(json) as NodeInfo)
      .map((info): NodeStatus => {
        const lastSeenAt = beating.get(info.node) ?? buried.get(info.node) ?? 0;
        const silentMs = now - lastSeenAt;
        const state = !beating.has(info.node) && buried.has(info.node) ? 'dead' : silentMs <= this.ttlMs ? 'alive' : 'silent';
        return { ...info, state, alive: state === 'alive', silentMs, lastSeenAt };
      })
      .toSorted((a, b) => a.node.localeCompare(b.node));
  }

  /** leave removes this node from the directory on a clean shutdown (its exited processes go with it). */
  async leave(): Promise<void> {
    const pids = [...this.written.keys()].map(String);
    const tx = this.redis.multi().hdel(this.keys.nodes, this.self.node).zrem(this.keys.beats, this.self.node).zrem(this.keys.dead, this.self.node).zrem(this.keys.joined, this.self.node);
    if (pids.length > 0) tx.hdel(this.keys.procs, ...pids);
    await tx.exec();
    this.written.clear();
  }

  private aliveNodes(beats: readonly string[], time: [string, string]): Set<string> {
    const now = serverMs(time);
    const alive = new Set<string>();
    for (let i = 0; i + 1 < beats.length; i += 2) if (now - Number(beats[i + 1]) <= this.ttlMs) alive.add(beats[i]!);
    return alive;
  }
}

/** scores reads a ZRANGE … WITHSCORES answer as member → score. */
function scores(flat: readonly string[]): Map<string, number> {
  const map = new Map<string, number>();
  for (let i = 0; i + 1 < flat.length; i += 2) map.set(flat[i]!, Number(flat[i + 1]));
  return map;
}

function serverMs([seconds, micros]: [string, string]): number {
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
}

/** parseEntry reads a directory entry; Lua's cjson turns an empty array into {} (the burial rewrites entries), so arrays are checked. */
function parseEntry(json: string): DirectoryEntry | undefined {
  try {
    const e = JSON.parse(json) as DirectoryEntry;
    const { breakers, ...rest } = e;
    return { ...rest, pendingSignals: Array.isArray(e.pendingSignals) ? e.pendingSignals : [], ...(Array.isArray(breakers) && breakers.length > 0 ? { breakers } : {}) };
  } catch {
    return undefined;
  }
}
