/**
 * Kernel wires the subsystems: it spawns programs as processes, each in its
 * own sandbox with its own fd table, identity (manifest), limits, signal
 * state and view of its agent's VFS tree; routes every syscall through the
 * gate and the one dispatcher with the policy authorizer, the decision
 * recorder and the approval gate; delivers signals; and keeps the process
 * table. A process spawned by another belongs to its parent's tree
 * (Lineage): it runs as the same agent, and the tree shares one account.
 */
import { Subject } from 'rxjs';
import { KernelError } from '../abi/errno.ts';
import type { CheckpointInfo, KernelServices, Misbehaviour, SpawnRequest, WaitResult } from '../syscalls/context.ts';
import type { DecisionRecorder } from '../syscalls/records.ts';
import type { SignalEvent } from '../signals/signal-state.ts';
import type { SignalName } from '../signals/signal-table.ts';
import type { AgentVfs } from '../vfs/agent-vfs.ts';
import { AgentTrees, type TreeQuota } from './agent-trees.ts';
import { ApprovalGate } from './approvals.ts';
import type { Identity } from './capabilities.ts';
import { Checkpoints } from './checkpoints.ts';
import { CpuWatchdog } from './cpu-watchdog.ts';
import { MemoryDecisionLog } from './decision-log.ts';
import type { KernelOptions, SpawnOptions } from './kernel-options.ts';
import { combine, DEFAULT_LIMITS, limitsFromPolicy, type ProcessLimits } from './limits.ts';
import type { Lineage } from './lineage.ts';
import { checkMounts } from './mounts.ts';
import { PolicyAuthorizer } from './policy/authorizer.ts';
import { ShadowPolicy } from './policy/shadow.ts';
import { defaultPolicy } from './policy/default.ts';
import { PolicyEngine } from './policy/engine.ts';
import type { LoadedPolicy } from './policy/load.ts';
import type { ProcessHost } from './process-context.ts';
import { sendSignal } from './process-signals.ts';
import { die, recordEnding, terminate, type ExitHost } from './process-exit.ts';
import { startDetail } from './recorder/start-record.ts';
import { Process, type ExitRecord, type ProcessInfo, type TreeUsage } from './process.ts';
import { ProcessTable } from './process-table.ts';
import type { Program } from './program.ts';
import { disposalsSettled } from './disposal-watch.ts';
import { Sandbox } from './sandbox.ts';
import { type BootRecord, type ProcessSandbox, type SandboxEnd, type SandboxHooks } from './process-sandbox.ts';
import type { BoundaryTape } from './run-tape/boundary-tape.ts';
import { HostPool } from './hosts/host-pool.ts';
import { spawnChild } from './spawn-child.ts';
import type { GateHost } from './syscall-gate.ts';
import { Spawner } from './spawn.ts';
import { defaultRegistry } from './tools/config.ts';
import type { ToolRegistry } from './tools/registry.ts';
import type { TrustScores } from './trust.ts';
import type { Breakers } from './breakers.ts';
import type { Autonomy } from './autonomy.ts';
import { AgentConduct } from './agent-conduct.ts';
import { stopWarmups } from './layer-warmup.ts';
import { disposeSpares } from './spare-isolates.ts';

export type { KernelOptions, SpawnOptions } from './kernel-options.ts';

/** DEFAULT_MAX_PROCESSES: processes in one kernel's table at once, well below where V8 runs out of isolates (~4,000 here). */
export const DEFAULT_MAX_PROCESSES = 2048;

export class Kernel implements ProcessHost {
  readonly recorder: DecisionRecorder;
  readonly engine: PolicyEngine;
  readonly approvals: ApprovalGate;
  /** Each agent's trust score (kernel/trust.ts). */
  readonly trust: TrustScores;
  /** Each agent's circuit breakers, by tool (kernel/breakers.ts). */
  readonly breakers: Breakers;
  /** Each agent's trust, breakers and autonomy level (kernel/agent-conduct.ts). */
  private readonly agents: AgentConduct;
  readonly services: KernelServices;
  readonly tools: ToolRegistry;
  /** Every signal sent, with sender, target and outcome. */
  readonly bus = new Subject<SignalEvent>();
  readonly termGraceMs: number;
  /**
   * Set when an isolate hit a catastrophic V8 error and was quarantined: the
   * kernel and its other agents keep running, but the process should be
   * restarted (agentd reports not ready; the process may not exit cleanly).
   */
  degraded: string | undefined;
  readonly maxProcesses: number;
  private readonly options: KernelOptions;
  private readonly baseLimits: ProcessLimits;
  private readonly programs: ReadonlyMap<string, Program>;
  private readonly table = new ProcessTable();
  private readonly trees: AgentTrees;
  private readonly checkpoints: Checkpoints;
  private readonly cpu = new CpuWatchdog((lineage) => this.table.treeCpuNs(lineage), (lineage, why) => this.killTree(lineage, why));
  private readonly gate: GateHost;
  private readonly exits: ExitHost;
  private readonly spawner: Spawner;
  /** The sandbox host processes agents run in, if the kernel has them (kernel/hosts). */
  readonly hosts: HostPool | undefined;
  private shadowPolicy: ShadowPolicy | undefined;

  constructor(options: KernelOptions = {}) {
    this.options = options;
    checkMounts(options.mounts ?? []);
    this.recorder = options.recorder ?? new MemoryDecisionLog();
    this.engine = new PolicyEngine(options.policy ?? defaultPolicy(), options.clock, options.sharedLimits);
    // The engine's counters start from zero here: a replay of the log must know (kernel/replay).
    this.recorder.record({ type: 'policy', pid: 0, agentId: 'kernel', detail: startDetail(this.engine.version, options.sharedLimits !== undefined), policyVersion: this.engine.version });
    this.approvals = new ApprovalGate({ approver: options.approver, clock: options.clock, idPrefix: options.approvalIdPrefix, ids: options.approvalIds, ...(options.confirmApproval !== undefined ? { confirm: options.confirmApproval } : {}) });
    this.tools = options.tools ?? defaultRegistry({ clock: options.clock });
    const telemetry = options.telemetry;
    const clock = options.clock ?? Date.now;
    this.agents = new AgentConduct({ recorder: this.recorder, engine: this.engine, clock, liveOf: (agentId) => this.table.liveOf(agentId), sigtrust: (proc, why) => sendSignal(this, proc, 'SIGTRUST', why) });
    this.trust = this.agents.trust;
    this.breakers = this.agents.breakers;
    const conduct = this.agents.conduct;
    const authorizer = new PolicyAuthorizer(this.engine, {
      trust: (agentId) => this.trust.score(agentId),
      breakers: (agentId, key, trial) => this.breakers.refusal(agentId, key, trial),
      autonomy: (agentId) => this.agents.autonomy(agentId),
      shadow: () => this.shadowPolicy,
      ...(options.standing !== undefined ? { standing: options.standing } : {}),
    });
    this.services = { authorizer, recorder: this.recorder, approvals: this.approvals, conduct, ...(telemetry ? { telemetry } : {}) };
    this.termGraceMs = options.termGraceMs ?? 5000;
    this.maxProcesses = options.maxProcesses ?? DEFAULT_MAX_PROCESSES;
    this.gate = { recorder: this.recorder, clock, ...(options.observeSyscall ? { observeSyscall: options.observeSyscall } : {}) };
    this.exits = { table: this.table, cpu: this.cpu, gate: this.gate, approvals: this.approvals, recorder: this.recorder, ...(telemetry ? { telemetry } : {}), policyVersion: () => this.engine.version };
    // The kernel's own options replace the defaults (they may raise them); spawns and the policy can only lower them.
    this.baseLimits = {
      ...DEFAULT_LIMITS,
      ...(options.memoryLimitMib !== undefined ? { heapMib: options.memoryLimitMib } : {}),
      ...(options.maxOpenFiles !== undefined ? { openFiles: options.maxOpenFiles } : {}),
      ...Object.fromEntries(Object.entries(options.limits ?? {}).filter(([, v]) => v !== undefined)),
    };
    this.programs = new Map(options.programs instanceof Map ? options.programs : Object.entries(options.programs ?? {}));
    this.trees = new AgentTrees({
      mounts: options.mounts ?? [],
      ...(options.stateDir !== undefined ? { stateDir: options.stateDir } : {}),
      ...(options.treeRetentionMs !== undefined ? { retentionMs: options.treeRetentionMs } : {}),
      policyFiles: () => ({ '/policy.yaml': this.engine.policy.source, '/VERSION': `${this.engine.version}\n` }),
    });
    this.checkpoints = new Checkpoints({
      recorder: this.recorder,
      vfs: (agentId) => this.vfs(agentId),
      policyVersion: () => this.engine.version,
      clock: () => this.gate.clock(),
      recordEnding: (entry) => recordEnding(this.exits, entry),
      stateDir: options.stateDir,
      keep: options.keepCheckpoints,
    });
    this.hosts = options.hosts === undefined ? undefined : new HostPool({ ...options.hosts, record: (detail) => this.recorder.record({ type: 'limit', pid: 0, agentId: 'kernel', detail }) });
    // A standing that lapses (a cluster node past its lease, or behind the cluster's policy) takes back the hosts' leases.
    options.standing?.onLapse?.(() => this.hosts?.revokeLeases());
    this.spawner = new Spawner({
      options,
      maxProcesses: this.maxProcesses,
      table: this.table,
      trees: this.trees,
      autonomies: this.agents.autonomies,
      cpu: this.cpu,
      gate: this.gate,
      exits: this.exits,
      services: this.services,
      processes: this,
      policyVersion: () => this.engine.version,
      limitsFor: (spawn) => this.limitsFor(spawn),
      quota: (limits) => this.quota(limits),
      sandbox: (program, heapMib, boot, hooks, tape) => this.sandbox(program, heapMib, boot, hooks, tape),
      ended: (proc, how) => this.ended(proc, how),
      stuck: (proc, why) => this.stuck(proc, why),
      die: (proc, signal, why) => this.die(proc, signal, why),
      revokeLeases: () => this.hosts?.revokeLeases(),
    });
  }

  /** signals is the kernel-wide signal stream (an alias of `bus`). */
  get signals(): Subject<SignalEvent> {
    return this.bus;
  }

  /** replacePolicy puts an already validated policy in force for every later decision. */
  replacePolicy(policy: LoadedPolicy): void {
    this.engine.replace(policy);
    this.hosts?.revokeLeases();
  }

  /** shadow is the shadow policy every decision is also made under, if one is set (kernel/policy/shadow.ts). */
  get shadow(): ShadowPolicy | undefined {
    return this.shadowPolicy;
  }

  /** setShadow decides every later request under `policy` too, changing nothing (undefined: no shadow). */
  setShadow(policy: LoadedPolicy | undefined): void {
    this.shadowPolicy = policy === undefined ? undefined : new ShadowPolicy(policy, this.options.clock, this.engine);
    this.hosts?.revokeLeases();
  }

  private quota(limits: ProcessLimits): TreeQuota {
    return { bytes: limits.vfsBytes ?? Number.POSITIVE_INFINITY, inodes: limits.vfsInodes ?? Number.POSITIVE_INFINITY };
  }

  /** vfs returns agent `agentId`'s tree, creating it (standard layout, quota from the kernel's limits) on first use. */
  vfs(agentId: string): AgentVfs {
    return this.trees.vfs(agentId, this.quota(this.limitsFor({})));
  }

  /** registeredProgram: `name` is a program the operator registered. */
  registeredProgram(name: string): boolean {
    return this.programs.has(name);
  }

  private limitsFor(options: SpawnOptions): ProcessLimits {
    const asked = { ...options.limits, ...(options.memoryLimitMib !== undefined ? { heapMib: options.memoryLimitMib } : {}) };
    return combine(this.baseLimits, asked, limitsFromPolicy(this.engine.policy.document.defaults?.limits));
  }

  /** spawn starts `program` as a new process, compiled on the calling thread (kernel/spawn.ts). */
  spawn(program: Program, options: SpawnOptions = {}): Process {
    return this.spawner.spawn(program, options);
  }

  /** spawnAsync is spawn for programs from agents or requests, leaving the event loop free (kernel/spawn.ts). */
  spawnAsync(program: Program, options: SpawnOptions = {}): Promise<Process> {
    return this.spawner.spawnAsync(program, options);
  }

  /** sandbox makes a process's sandbox: on the least-loaded sandbox host if the kernel has hosts, else in this process. */
  private sandbox(program: Program, heapMib: number, boot: BootRecord, hooks: SandboxHooks, tape: BoundaryTape | undefined): ProcessSandbox {
    if (this.hosts === undefined) return new Sandbox(program, heapMib, boot, hooks, tape);
    if (tape !== undefined) throw new KernelError('EINVAL', "a recorded or replayed run needs the kernel's own sandboxes, not sandbox hosts");
    return this.hosts.sandbox(program, heapMib, boot, hooks);
  }

  /**
   * stuck: an isolate of `proc` in this process kept a thread running after
   * its disposal, for good. Only a restart frees it: the kernel says so
   * (agentd's /readyz answers 503), as after a catastrophic out-of-memory.
   * In a sandbox host it is the host that ends (kernel/hosts).
   */
  stuck(proc: Process, why: string): void {
    this.degraded ??= `pid ${proc.pid}: ${why} — restart this kernel soon`;
    try {
      this.recorder.record({ type: 'limit', pid: proc.pid, agentId: proc.agentId, detail: why });
    } catch {
      // the log is closed or full: /readyz says it all the same
    }
  }

  /** ended ends `proc` as its sandbox ended (one case per kind of end: a new kind fails to compile until it is handled here). */
  private ended(proc: Process, how: SandboxEnd): void {
    switch (how.kind) {
      case 'returned':
        return terminate(this.exits, proc, how.status, { kind: 'exit' });
      case 'threw':
        return terminate(this.exits, proc, how.status ?? 1, { kind: 'error', error: how.error });
      case 'memory-limit':
        return this.die(proc, 'SIGKILL', 'memory limit exceeded');
      case 'catastrophic':
        // In a sandbox host, the host is drained and replaced; in this process, only a restart makes it whole again:
        // the kernel says so (agentd's /readyz answers 503).
        if (proc.sandbox?.quarantine() === true) return this.die(proc, 'SIGKILL', `catastrophic out-of-memory (${how.message}); its sandbox host is drained and replaced`);
        this.degraded = `pid ${proc.pid}: ${how.message}; the isolate was quarantined — restart this kernel soon`;
        return this.die(proc, 'SIGKILL', `catastrophic out-of-memory (${how.message}); isolate quarantined`);
      case 'lost':
        return this.die(proc, 'SIGKILL', `lost: ${how.why}`);
      default:
        return how satisfies never;
    }
  }

  /** die ends `proc` by `signal`, recording why. */
  die(proc: Process, signal: SignalName, why: string): void {
    die(this.exits, proc, signal, why);
  }

  /** killTree ends every live process of `lineage` with SIGKILL (a tree-wide limit). */
  private killTree(lineage: Lineage, why: string): void {
    for (const proc of this.table.live(lineage)) this.die(proc, 'SIGKILL', why);
  }

  exitWith(proc: Process, code: number): void {
    terminate(this.exits, proc, code, { kind: 'exit' });
  }

  /** checkpoint is SIGUSR1's default action (kernel/checkpoints.ts). */
  checkpoint(proc: Process): void {
    this.checkpoints.signalled(proc);
  }

  /** checkpointNow snapshots the agent memory of `proc` and records it (kernel/checkpoints.ts). */
  checkpointNow(proc: Process): Promise<CheckpointInfo> {
    return this.checkpoints.take(proc);
  }

  /** spawnChild runs a SYS_SPAWN (see spawn-child.ts). */
  spawnChild(parent: Process, identity: Identity, request: SpawnRequest): Promise<number> {
    return spawnChild({ admit: (p) => this.spawner.admit(p), registered: (name) => this.programs.get(name), vfs: (id) => this.vfs(id), spawnAsync: (program, options) => this.spawnAsync(program, options) }, parent, identity, request);
  }

  /** find answers process `pid`, or undefined if there is none. */
  find(pid: number): Process | undefined {
    return this.table.find(pid);
  }

  lookup(pid: number): Process {
    return this.table.lookup(pid);
  }

  liveOf(agentId: string): Process[] {
    return this.table.liveOf(agentId);
  }

  /** misbehaved lowers an agent's trust (kernel/agent-conduct.ts). */
  misbehaved(agentId: string, what: Misbehaviour): void {
    this.agents.misbehaved(agentId, what);
  }

  /** autonomy is agent `agentId`'s autonomy level. */
  autonomy(agentId: string): Autonomy {
    return this.agents.autonomy(agentId);
  }

  /** setAutonomy changes an agent's autonomy level (every process of it, from its next call), recorded with who changed it. */
  setAutonomy(agentId: string, level: Autonomy, by: string): Promise<void> {
    return this.agents.setAutonomy(agentId, level, by);
  }

  /**
   * kill sends `signal` to `pid` on behalf of `sender` (an operator by
   * default) and returns the outcome. ESRCH for an unknown or exited pid.
   */
  kill(pid: number, signal: SignalName, sender = 'operator'): string {
    const proc = this.lookup(pid);
    if (proc.exit !== undefined) throw new KernelError('ESRCH', `process ${pid} has exited`);
    return sendSignal(this, proc, signal, sender);
  }

  /**
   * signalTree sends `signal` to every live process of `pid`'s tree — its
   * root and everything spawned beneath it, orphans included — on behalf of
   * `sender`: each one's outcome, in pid order. `pid` may have exited (not
   * yet reaped): a root killed alone leaves its children running (as in
   * POSIX), and this is the operator's way to end them too. ESRCH for an
   * unknown pid, or a tree with no live process.
   */
  signalTree(pid: number, signal: SignalName, sender = 'operator'): { readonly pid: number; readonly outcome: string }[] {
    const live = this.table.live(this.lookup(pid).lineage);
    if (live.length === 0) throw new KernelError('ESRCH', `process ${pid} has exited, and so has every process of its tree`);
    return live
      .toSorted((a, b) => a.pid - b.pid)
      .map((member) => ({ pid: member.pid, outcome: member.exit === undefined ? sendSignal(this, member, signal, sender) : 'exited' }));
  }

  /** wait resolves with `pid`'s exit record and reaps it from the table. ESRCH if unknown. */
  async wait(pid: number): Promise<ExitRecord> {
    const proc = this.lookup(pid);
    const record = await proc.exited;
    if (this.table.remove(proc)) this.trees.unhold(proc.agentId);
    return record;
  }

  async reap(pid: number): Promise<WaitResult> {
    const record = await this.wait(pid);
    return { pid, status: record.status, signal: record.reason.kind === 'signal' ? record.reason.signal : null };
  }

  get(pid: number): Process | undefined {
    return this.table.get(pid);
  }

  /** usage is what ring 0 accounts to `proc`'s tree and its agent's files. */
  usage(proc: Process): TreeUsage {
    return this.table.usage(proc.lineage, this.trees.usage(proc.agentId));
  }

  /** describe is `proc` as `ps` shows it, with what its tree is accounted. */
  describe(proc: Process): ProcessInfo {
    return { ...proc.info(this.usage(proc)), ...this.agents.standing(proc.agentId) };
  }

  ps(): ProcessInfo[] {
    return [...this.table.values()].map((p) => this.describe(p));
  }

  /** liveIsolates counts isolates not yet disposed; 0 once every process has ended. */
  liveIsolates(): number {
    return this.table.liveIsolates();
  }

  /** treeCount is the number of agent trees the kernel keeps. */
  get treeCount(): number {
    return this.trees.count;
  }

  /** shutdown kills every live process with SIGKILL and reaps them all. */
  async shutdown(): Promise<void> {
    for (const proc of this.table.values()) if (proc.exit === undefined) this.kill(proc.pid, 'SIGKILL', 'kernel shutdown');
    await Promise.all([...this.table.values()].map((p) => this.wait(p.pid)));
    await this.hosts?.close();
    // A layer's warm-up still running would hold the process's exit (a later need starts it again); spare isolates go too.
    stopWarmups();
    disposeSpares();
    // An isolate whose thread runs on after its disposal makes the kernel degraded: known by now, for whoever ends the process.
    await disposalsSettled();
  }
}
