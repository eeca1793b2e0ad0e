/**
 * ClusterNode makes one agentd a node of a kernel spread over several:
 * pids from a cluster-wide allocator, a process directory every node reads
 * and writes, signals, process calls (output, a look into the agent's
 * tree, a checkpoint) and approval answers relayed to the node that owns
 * the process, one policy in force everywhere, and rule limits counted once
 * for all nodes. It owns the node's two
 * Redis connections (commands, and a subscriber for pub/sub) and their
 * health: while Redis is unreachable every operation here fails closed
 * with EIO (the HTTP layer answers 503) and the node reports not ready; when
 * Redis returns the node puts its state back (pid counter, policy,
 * directory entries, approvals) and becomes ready again.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Registry } from 'prom-client';
import type { SignalName } from '../../signals/signal-table.ts';
import { KernelError } from '../../abi/errno.ts';
import type { ApprovalStatus, Approver, PendingApproval } from '../approvals.ts';
import type { ApprovalAnswer } from '../../syscalls/context.ts';
import type { Kernel } from '../kernel.ts';
import type { LoadedPolicy } from '../policy/load.ts';
import type { ProcessInfo } from '../process.ts';
import { ApprovalRelay, type AdoptionHandler, type AnswerRequest, type ClusterApproval } from './approval-relay.ts';
import { ProcessDirectory, type DirectoryEntry, type NodeInfo, type NodeStatus } from './directory.ts';
import { RedisHealth } from './health.ts';
import { registerNodeMetrics } from './node-metrics.ts';
import { NodeLease } from './lease.ts';
import { PidAllocator } from './pids.ts';
import { type NodeLog, type Parse, policyHost, shadowHost } from './policy-hosts.ts';
import { PolicySync, type Published } from './policy-sync.ts';
import { ProcessCalls, type ProcessCall, type ProcessCallKind, type ProcessOperation } from './process-calls.ts';
import { connectRedis } from '../redis/connect.ts';
import { ClusterKeys, describe, type RedisClient, type RedisSettings } from './redis.ts';
import { NodeRpc } from './rpc.ts';
import { ClusterLimits } from './shared-limits.ts';

export interface ClusterStatus {
  readonly node: string;
  readonly ready: boolean;
  readonly problem?: string;
  readonly redis: string;
  readonly policyEpoch: number;
}

/** How long start() waits for Redis before carrying on not ready. */
const FIRST_CONNECT_MS = 3000;

/** epochOf reads a policy channel's message: `epoch version` (the version may be missing). */
function epochOf(text: string): [number, string | undefined] {
  const space = text.indexOf(' ');
  return space < 0 ? [Number(text), undefined] : [Number(text.slice(0, space)), text.slice(space + 1)];
}

export class ClusterNode {
  readonly id: string;
  readonly settings: RedisSettings;
  readonly health: RedisHealth;
  private readonly redis: RedisClient;
  private readonly sub: RedisClient;
  private readonly keys: ClusterKeys;
  private readonly allocator: PidAllocator;
  private readonly rpc: NodeRpc;
  private readonly relay: ApprovalRelay;
  private readonly calls: ProcessCalls;
  private readonly signalCall: ProcessCall<{ signal: SignalName; sender: string }, string>;
  private readonly info: { -readonly [K in keyof NodeInfo]: NodeInfo[K] };
  private readonly directory: ProcessDirectory;
  private policy: PolicySync | undefined;
  private shadow: PolicySync | undefined;
  private kernel: Kernel | undefined;
  private beatTimer: NodeJS.Timeout | undefined;
  private beating = false;
  /** The policy and shadow the last beat found newer, being fetched and installed (a renewal waits for them). */
  private catchingUp: Promise<unknown> | undefined;
  /** The heartbeat under way, if any (nextBeat waits for it). */
  private beatRun: Promise<void> | undefined;
  private fullWrite = true;
  private recovering: Promise<void> | undefined;
  private stopped = false;
  private claimed = false;
  /** The node_ttl_ms or heartbeat_ms of a live node that joined before this one, where they differ from this node's (directory-scripts.ts CONFLICT): until it is gone, this node decides and buries nothing. */
  private conflict: string | undefined;
  /** True once this node's state is back in Redis after the last (re)connect. */
  private synced = false;
  /** How long this node may still decide on its own; the kernel's standing (lease.ts). */
  readonly lease: NodeLease;
  /** What agentd does when this node learns the cluster buried it (its questions from outside: another node has them). */
  private buriedHandler: (() => void) | undefined;
  /** The burial just handled (afterBurial), until a beat finds this node alive: the reconnect and its beat both see it. */
  private backFromBurial = false;
  /** Rule limits (max_calls, rate, token_budget) counted once for the whole cluster. */
  readonly limits: ClusterLimits;
  /** Approval ids of this node start with this: unique in the cluster (node id and a per-start tag). */
  readonly approvalIdPrefix: string;

  private constructor(settings: RedisSettings) {
    this.settings = settings;
    this.id = settings.nodeId;
    this.approvalIdPrefix = `ap-${this.id}-${randomBytes(3).toString('hex')}-`;
    this.keys = new ClusterKeys(settings.keyPrefix);
    this.redis = connectRedis(settings);
    this.sub = connectRedis(settings);
    this.health = new RedisHealth([this.redis, this.sub], describe(settings), settings.heartbeatMs);
    this.lease = new NodeLease(settings, {
      problem: () => this.problem(),
      refusal: () => this.refusal,
      renew: () => this.renew(),
      stopped: () => this.stopped,
      behind: () => this.policy?.behind(),
      caughtUp: () => this.policy?.caughtUp() ?? Promise.resolve(),
    });
    this.allocator = new PidAllocator(this.redis, this.keys, this.health, settings.nodeTtlMs);
    this.limits = new ClusterLimits(this.redis, this.keys, this.health);
    this.rpc = new NodeRpc(this.redis, this.keys, this.health, this.id, settings.cluster === undefined);
    this.relay = new ApprovalRelay(this.redis, this.keys, this.health, this.rpc, this.id);
    this.info = { node: this.id, url: '', host: hostname(), pid: process.pid, startedAt: Date.now(), ttlMs: settings.nodeTtlMs, heartbeatMs: settings.heartbeatMs };
    this.directory = new ProcessDirectory(this.redis, this.keys, this.health, this.info, settings.nodeTtlMs);
    this.calls = new ProcessCalls({
      node: this.id,
      rpc: this.rpc,
      runs: (pid) => this.kernel?.get(pid) !== undefined,
      lookup: (pid) => this.shared(`cannot look up pid ${pid}`, () => this.directory.lookup(pid)),
      shared: (what, run) => this.shared(what, run),
    });
    // The owner records who sent a relayed signal, and through which node.
    this.signalCall = this.calls.define('signal', (pid, { signal, sender }: { signal: SignalName; sender: string }, via) => this.own().kill(pid, signal, via === undefined ? sender : `${sender}@${via}`));
    this.sub.on('message', (channel: string, text: string) => {
      if (channel === this.rpc.channel) this.rpc.receive(text);
      else if (channel === this.keys.policyChannel) void this.policy?.seen(...epochOf(text));
      else if (channel === this.keys.shadowChannel) void this.shadow?.seen(...epochOf(text));
    });
    // Subscribe once connected; ioredis subscribes again by itself after every reconnect.
    const subscribe = () => {
      this.sub.subscribe(this.rpc.channel, this.keys.policyChannel, this.keys.shadowChannel).then(
        () => this.sub.off('ready', subscribe),
        (err: unknown) => this.health.failed(err),
      );
    };
    this.sub.on('ready', subscribe);
    this.health.changes.subscribe((up) => {
      if (up) void this.recover();
      else this.synced = false;
    });
  }

  /** start connects to Redis; if it cannot within a few seconds the node starts anyway, not ready, and keeps trying. */
  static async start(settings: RedisSettings): Promise<ClusterNode> {
    const node = new ClusterNode(settings);
    const deadline = Date.now() + FIRST_CONNECT_MS;
    while (!node.health.ready && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    return node;
  }

  /** pids is the kernel's pid source: unique across the cluster, EIO while Redis is away. */
  get pids(): () => number {
    return this.allocator.next;
  }

  /** approver wraps the configured approver so every question is shared through Redis (or denied). */
  approver(inner: Approver | undefined): Approver {
    return this.relay.approver(inner);
  }

  /**
   * attach binds the node to its kernel and brings the kernel to the
   * cluster's policy. `log` takes the node's own records (policy installs
   * from other nodes, each written before the policy is in force); `parse`
   * reads a stored policy (agentd's, off its event loop).
   */
  async attach(kernel: Kernel, log: NodeLog, parse?: Parse): Promise<void> {
    this.kernel = kernel;
    this.relay.attach(kernel.approvals);
    // Falling behind either takes back the sandbox hosts' leases (the kernel listens to its standing's lapses).
    const fellBehind = () => this.lease.lapsed();
    this.policy = new PolicySync(this.redis, this.keys, this.health, this.id, { ...policyHost(kernel, log, parse), fellBehind });
    // The shadow policy, set or cleared through any node, is every node's.
    this.shadow = new PolicySync(this.redis, this.keys, this.health, this.id, { ...shadowHost(kernel, log, parse), fellBehind }, {
      key: this.keys.shadow,
      channel: this.keys.shadowChannel,
      what: 'the cluster shadow policy',
    });
    if (this.health.ready) {
      await this.recover();
      // A node that starts waits out a pid fence before it serves (it is not beating yet: nobody can take it for dead).
      await this.allocator.settled();
    }
  }

  /** join starts beating under `url` (where operators reach this node). */
  join(url: string): void {
    this.info.url = url;
    this.beatTimer = setInterval(() => void this.beat(), this.settings.heartbeatMs);
    this.beatTimer.unref();
    void this.beat();
  }

  private own(): Kernel {
    if (this.kernel === undefined) throw new KernelError('EIO', 'the cluster node is not attached to a kernel yet');
    return this.kernel;
  }

  /** recover puts this node's state back into Redis after a (re)connect; the node is ready once it is done. */
  private recover(): Promise<void> {
    if (this.kernel === undefined) return Promise.resolve();
    this.recovering ??= (async () => {
      try {
        if (!this.claimed) {
          this.conflict = await this.directory.claim();
          this.claimed = true;
        }
        await this.allocator.recover();
        await this.policy?.sync();
        await this.shadow?.sync();
        // Buried while cut off: another node has this one's questions and took its processes for lost; none is put back.
        if (await this.directory.wasBuried()) this.afterBurial();
        await this.relay.resync();
        this.fullWrite = true;
        if (this.beatTimer !== undefined) await this.beat(true);
        // Not beating yet (agentd is not listening): nobody can have taken this node for dead.
        else this.lease.holdFromNow();
        this.synced = this.health.ready;
        if (this.synced) this.lease.synced();
      } catch (err) {
        this.health.failed(err);
      } finally {
        this.recovering = undefined;
      }
    })();
    return this.recovering;
  }

  /** nextBeat settles when the heartbeat under way ends, or one started now. */
  private nextBeat(): Promise<void> {
    return this.beatRun ?? this.beat();
  }

  private beat(recovering = false): Promise<void> {
    if (this.beatRun !== undefined) return this.beatRun;
    const run = this.beatOnce(recovering);
    if (this.beating) {
      this.beatRun = run;
      void run.finally(() => (this.beatRun = undefined));
    }
    return run;
  }

  private async beatOnce(recovering: boolean): Promise<void> {
    if (this.beating || this.stopped || !this.health.ready || this.kernel === undefined) return;
    if (!this.synced && !recovering) {
      // A resynchronisation that failed half-way is tried again.
      if (this.recovering === undefined) void this.recover();
      return;
    }
    this.beating = true;
    try {
      const full = this.fullWrite;
      const mayBury = Date.now() - this.health.upSince >= this.settings.nodeTtlMs;
      const sent = performance.now();
      const result = await this.directory.beat(this.kernel.ps(), { mayBury, full });
      if (result.wasBuried) this.afterBurial();
      else this.backFromBurial = false;
      this.conflict = result.conflict;
      this.lease.beatSent(sent);
      await this.allocator.beat();
      if (full) this.fullWrite = false;
      // Each beat catches up a policy or shadow this node missed, or whose install its log refused (a renewal waits for it).
      this.catchingUp = Promise.all([this.policy?.seen(result.policyEpoch, result.policyVersion), this.shadow?.seen(result.shadowEpoch, result.shadowVersion)]);
      if (result.orphans > 0) this.relay.adoptSoon();
    } catch (err) {
      this.health.failed(err);
    } finally {
      this.beating = false;
    }
  }

  /**
   * renew, past the lease (NodeLease.wait): asks Redis again if the node
   * took it for away, waits for the resynchronisation that follows, then
   * for a heartbeat and the policies it found newer. Never fails: the
   * standing after it says why.
   */
  private async renew(): Promise<void> {
    try {
      if (!this.health.ready) await this.health.ping();
      if (this.health.ready && this.recovering !== undefined) await this.recovering;
      if (this.health.ready && this.synced) await this.nextBeat();
      // A policy published while this node was paused is in force before the decisions that waited go on (an attacker pass).
      await this.catchingUp;
    } catch {
      // the standing after it says why
    }
  }

  /**
   * confirmApproval makes an approval given on this node the cluster's
   * before it takes effect (ApprovalGate's confirm): refused while this node
   * decides nothing (its lease's standing), else a compare-and-set in Redis
   * (approval-relay.ts confirm).
   */
  async confirmApproval(approval: PendingApproval, answer: ApprovalAnswer): Promise<void> {
    const why = await this.lease.wait();
    if (why !== undefined) throw new KernelError('EIO', `cannot approve ${approval.id}: ${why}`);
    await this.relay.confirm(approval, answer);
  }

  /** onBuried sets what agentd does when this node learns it was buried (after the node has disowned and killed its processes). */
  onBuried(handler: () => void): void {
    this.buriedHandler = handler;
  }

  /**
   * afterBurial: another node found this one dead while it was cut off, so
   * the cluster has its processes lost and its questions denied or adopted
   * elsewhere. The node disowns its processes (their entries stay lost),
   * ends them, and lets agentd drop its questions from outside; it then
   * starts afresh (an attacker pass: a node back from a split put its
   * questions and processes back, and one approval id was granted on it
   * and denied on the node that had adopted it).
   */
  private afterBurial(): void {
    if (this.backFromBurial) return;
    this.backFromBurial = true;
    const kernel = this.own();
    const mine = kernel.ps().filter((p) => p.state !== 'exited');
    this.directory.disown(kernel.ps().map((p) => p.pid));
    for (const p of mine) {
      try {
        kernel.kill(p.pid, 'SIGKILL', `cluster: node ${this.id} was taken for dead while cut off from Redis, and its processes for lost`);
      } catch {
        // already gone
      }
    }
    try {
      this.buriedHandler?.();
    } catch {
      // agentd's own records; the node goes on
    }
  }

  /** ready is true while this node reaches shared state and has put its own state back after the last reconnect. */
  get ready(): boolean {
    return this.problem() === undefined;
  }

  /** problem says why this node is not ready (Redis unreachable, or resynchronising), undefined when it is. */
  problem(): string | undefined {
    const fence = this.allocator.fence;
    return this.health.problem() ?? this.refusal ?? (!this.synced ? 'resynchronising with Redis after connecting' : this.lease.over ? 'its heartbeat is late: past its lease it decides nothing' : fence > 0 ? `waiting ${fence} ms more after Redis lost or replaced the pid counter, for every node to raise it past its own pids` : this.policy?.behind());
  }

  /** refusal says why this node may not serve in its cluster (its timing differs from that of a node that joined before it), undefined if it may: agentd does not start then. */
  get refusal(): string | undefined {
    return this.conflict === undefined ? undefined : `redis.node_ttl_ms ${this.settings.nodeTtlMs} and heartbeat_ms ${this.settings.heartbeatMs} differ from the cluster's: ${this.conflict} (every node must use the same, since each buries the others after its own TTL)`;
  }

  status(): ClusterStatus {
    const problem = this.problem();
    return { node: this.id, ready: problem === undefined, ...(problem ? { problem } : {}), redis: describe(this.settings), policyEpoch: this.policy?.epoch ?? 0 };
  }

  /** shared runs a Redis operation; a connection failure becomes EIO (fail closed). */
  private async shared<T>(what: string, run: () => Promise<T>): Promise<T> {
    this.health.check(what);
    try {
      return await run();
    } catch (err) {
      if (err instanceof KernelError) throw err;
      this.health.failed(err);
      throw new KernelError('EIO', `${what}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** announce puts a new process in the directory; a spawn is acknowledged only after it. EIO on failure. */
  announce(proc: ProcessInfo): Promise<void> {
    return this.shared(`cannot enter pid ${proc.pid} in the cluster directory`, () => this.directory.announce(proc));
  }

  /** ps lists every process of the cluster, with the node that runs it; lost ones are marked so. */
  ps(): Promise<DirectoryEntry[]> {
    return this.shared('cannot read the cluster process directory', () => this.directory.list(this.own().ps()));
  }

  /** process finds a pid anywhere in the cluster. ESRCH if unknown. */
  async process(pid: number): Promise<DirectoryEntry> {
    const local = this.kernel?.get(pid);
    if (local !== undefined) return { ...this.kernel!.describe(local), node: this.id };
    const entry = await this.shared(`cannot look up pid ${pid}`, () => this.directory.lookup(pid));
    if (entry === undefined) throw new KernelError('ESRCH', `no process ${pid} in the cluster`);
    return entry;
  }

  /**
   * signal sends `signal` to a process on any node and returns the outcome
   * its node reports. ESRCH for an unknown, exited or lost pid; EIO while
   * Redis is away; ETIMEDOUT if the owner does not answer.
   */
  signal(pid: number, signal: SignalName, sender: string): Promise<string> {
    return this.signalCall(pid, { signal, sender });
  }

  /**
   * processCall makes `local`, an operation on a process of this node, one
   * callers can use for any pid of the cluster: its node runs it (see
   * process-calls.ts, where every kind is listed).
   */
  processCall<B extends object, A>(kind: ProcessCallKind, local: ProcessOperation<B, A>): ProcessCall<B, A> {
    return this.calls.define(kind, local);
  }

  /**
   * publishPolicy makes `policy` the cluster's and runs `install` to put it in force here, unless this node applied a
   * newer epoch meanwhile, or Redis lost its data (policy-sync.ts publish: what became of it here). EIO while Redis is
   * away.
   */
  publishPolicy(policy: LoadedPolicy, install: () => void): Promise<Published> {
    return this.publishTo(this.policy, 'cannot replace the cluster policy', policy, install);
  }

  /** publishShadow is publishPolicy for every node's shadow (undefined: none). */
  publishShadow(policy: LoadedPolicy | undefined, install: () => void): Promise<Published> {
    return this.publishTo(this.shadow, 'cannot change the cluster shadow policy', policy, install);
  }

  private async publishTo(sync: PolicySync | undefined, what: string, policy: LoadedPolicy | undefined, install: () => void): Promise<Published> {
    if (sync === undefined) throw new KernelError('EIO', 'the cluster node is not attached to a kernel yet');
    // An install that throws is this node's failure, not Redis's (shared takes any other error for a lost connection).
    const here = () => {
      try {
        install();
      } catch (err) {
        throw new KernelError('EIO', `stored for the cluster, but not put in force on this node: ${err instanceof Error ? err.message : String(err)}`);
      }
    };
    return this.shared(what, () => sync.publish(policy, here));
  }

  /** onAdopted sets what is done with questions this node adopts from a node that stopped or was lost (reopen them). */
  onAdopted(handler: AdoptionHandler): void {
    this.relay.onAdopted(handler);
  }

  /** stopAdopting runs first as the node stops: no question is adopted from now on, and one adoption under way has ended. */
  stopAdopting(): Promise<void> {
    return this.relay.stopAdopting();
  }

  /** release hands this node's questions from agents outside the kernel to the cluster as it stops (another node adopts them). */
  release(approvals: readonly PendingApproval[]): Promise<void> {
    return this.shared('cannot hand the questions to another node', () => this.relay.release(approvals));
  }

  /** approvals lists the pending questions of every node, oldest first. */
  approvals(): Promise<ClusterApproval[]> {
    return this.shared('cannot list the cluster approvals', () => this.relay.pending());
  }

  /** approvalStatus reads (or, with `waitMs`, waits for) a question asked on any node. */
  approvalStatus(id: string, waitMs: number): Promise<ApprovalStatus | undefined> {
    return this.shared(`cannot read approval ${id}`, () => this.relay.settled(id, waitMs));
  }

  /** answer answers a question asked on another node (its node decides and records). */
  answer(request: AnswerRequest): Promise<ApprovalStatus> {
    const through = { ...request, reason: `${request.reason || (request.approved ? 'approved' : 'denied')} (answered through node ${this.id})` };
    return this.shared(`cannot answer approval ${request.id}`, () => this.relay.answer(through));
  }

  nodes(): Promise<NodeStatus[]> {
    return this.shared('cannot list the cluster nodes', () => this.directory.nodes());
  }

  /** registerMetrics adds agentk_redis_up and agentk_cluster_policy_epoch to `registry`. */
  registerMetrics(registry: Registry): void {
    registerNodeMetrics(registry, this.health, () => this.policy?.epoch ?? 0);
  }

  /** stop leaves the directory (its processes have ended by now) and closes the connections. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.beatTimer !== undefined) clearInterval(this.beatTimer);
    this.rpc.close();
    if (this.health.ready) {
      try {
        await this.directory.leave();
      } catch {
        // Redis went away: the node will be buried and its processes marked lost.
      }
    }
    this.health.close();
    this.sub.disconnect();
    this.redis.disconnect();
  }
}
