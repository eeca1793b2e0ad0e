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
import type { Conduct, DecisionRecorder, KernelServices, Misbehaviour, SpawnRequest, WaitResult } from '../syscalls/context.ts';
import { dispatch } from '../syscalls/dispatch.ts';
import { ARG_LIMITS, ARGUMENT_BOUNDS } from '../abi/limits.ts';
import { READDIR_PAGE, SYSCALL_NUMBERS } from '../syscalls/table.ts';
import type { SignalEvent } from '../signals/signal-state.ts';
import type { SignalName } from '../signals/signal-table.ts';
import type { AgentVfs } from '../vfs/agent-vfs.ts';
import { AgentTrees, type TreeQuota } from './agent-trees.ts';
import { ApprovalGate } from './approvals.ts';
import { spawnIdentity, type Identity } from './capabilities.ts';
import { readCheckpoint, restoreInto, snapshot } from './checkpoint.ts';
import { CpuWatchdog } from './cpu-watchdog.ts';
import { MemoryDecisionLog } from './decision-log.ts';
import { FdTable } from './fd-table.ts';
import type { KernelOptions, SpawnOptions } from './kernel-options.ts';
import { combine, DEFAULT_LIMITS, limitsFromPolicy, type ProcessLimits } from './limits.ts';
import { Lineage } from './lineage.ts';
import { checkMounts } from './mounts.ts';
import { PolicyAuthorizer } from './policy/authorizer.ts';
import { ShadowPolicy } from './policy/shadow.ts';
import { defaultPolicy } from './policy/default.ts';
import { PolicyEngine } from './policy/engine.ts';
import type { LoadedPolicy } from './policy/load.ts';
import { contextFor, type ProcessHost } from './process-context.ts';
import { kick, sendSignal } from './process-signals.ts';
import { die, recordEnding, terminate, type ExitHost } from './process-exit.ts';
import { startDetail } from './recorder/start-record.ts';
import { Process, type ExitRecord, type ProcessInfo, type TreeUsage } from './process.ts';
import { ProcessTable } from './process-table.ts';
import { warmCompiler, type Program } from './program.ts';
import { Sandbox, type SandboxEnd } from './sandbox.ts';
import { processSecrets } from './tools/secrets.ts';
import { spawnChild } from './spawn-child.ts';
import { syscallGate, type GateHost } from './syscall-gate.ts';
import { defaultRegistry } from './tools/config.ts';
import type { ToolRegistry } from './tools/registry.ts';
import { writeTracker } from './tools/write-tracker.ts';
import { TrustScores } from './trust.ts';
import { Breakers, type BreakerEvent } from './breakers.ts';
import { AUTONOMY_LEVELS, Autonomies, type Autonomy, isAutonomy } from './autonomy.ts';

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
  /** Each agent's autonomy level (kernel/autonomy.ts). */
  private readonly autonomies = new Autonomies();
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
  private readonly cpu = new CpuWatchdog((lineage) => this.table.treeCpuNs(lineage), (lineage, why) => this.killTree(lineage, why));
  private readonly gate: GateHost;
  private readonly exits: ExitHost;
  /** Spawns admitted but not yet in the table (a program compiling), so caps hold across them. */
  private pending = 0;
  /** The last spawn waiting to build its isolate: agent-driven spawns build one isolate per turn of the event loop. */
  private creations: Promise<void> = Promise.resolve();
  private nextPid = 1;
  private shadowPolicy: ShadowPolicy | undefined;

  constructor(options: KernelOptions = {}) {
    this.options = options;
    checkMounts(options.mounts ?? []);
    warmCompiler();
    this.recorder = options.recorder ?? new MemoryDecisionLog();
    this.engine = new PolicyEngine(options.policy ?? defaultPolicy(), options.clock, options.sharedLimits);
    // The engine's counters start from zero here: a replay of the log must know (kernel/replay).
    this.recorder.record({ type: 'policy', pid: 0, agentId: 'kernel', detail: startDetail(this.engine.version, options.sharedLimits !== undefined), policyVersion: this.engine.version });
    this.approvals = new ApprovalGate({ approver: options.approver, clock: options.clock, idPrefix: options.approvalIdPrefix, ids: options.approvalIds });
    this.tools = options.tools ?? defaultRegistry({ clock: options.clock });
    const telemetry = options.telemetry;
    const clock = options.clock ?? Date.now;
    this.trust = new TrustScores(clock);
    this.breakers = new Breakers(() => this.engine.breaker, clock, (event) => this.breakerChanged(event));
    const conduct: Conduct = {
      misbehaved: (agentId, what) => this.misbehaved(agentId, what),
      ended: (agentId, key, ok) => (ok ? this.breakers.succeeded(agentId, key) : this.breakers.failed(agentId, key)),
    };
    const authorizer = new PolicyAuthorizer(this.engine, {
      trust: (agentId) => this.trust.score(agentId),
      breakers: (agentId, key, trial) => this.breakers.refusal(agentId, key, trial),
      autonomy: (agentId) => this.autonomies.level(agentId),
      shadow: () => this.shadowPolicy,
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
  }

  /** signals is the kernel-wide signal stream (an alias of `bus`). */
  get signals(): Subject<SignalEvent> {
    return this.bus;
  }

  /** replacePolicy puts an already validated policy in force for every later decision. */
  replacePolicy(policy: LoadedPolicy): void {
    this.engine.replace(policy);
  }

  /** shadow is the shadow policy every decision is also made under, if one is set (kernel/policy/shadow.ts). */
  get shadow(): ShadowPolicy | undefined {
    return this.shadowPolicy;
  }

  /** setShadow decides every later request under `policy` too, changing nothing (undefined: no shadow). */
  setShadow(policy: LoadedPolicy | undefined): void {
    this.shadowPolicy = policy === undefined ? undefined : new ShadowPolicy(policy, this.options.clock, this.engine);
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

  /** admit checks the kernel-wide and tree-wide process caps for one more process. EAGAIN. */
  private admit(parent: Process | undefined): void {
    if (this.table.size + this.pending >= this.maxProcesses) throw new KernelError('EAGAIN', `the kernel holds ${this.maxProcesses} processes, its limit`);
    if (parent === undefined) return;
    const lineage = parent.lineage;
    const cap = lineage.limits.children;
    if (cap !== undefined && lineage.descendants + lineage.pendingSpawns >= cap) {
      throw new KernelError('EAGAIN', `child limit of ${cap} reached for the tree of pid ${lineage.rootPid} (exited children count until they are waited for)`);
    }
  }

  /**
   * spawn starts `program` as a new process and returns it at once; the
   * program is compiled here, on the calling thread (a program the operator
   * handed over). EINVAL for a bad agent id or manifest, EPERM for a
   * capability the parent lacks, EAGAIN past a process cap, ENOEXEC for a
   * program that does not compile, ENOENT for a bad restore dir.
   */
  spawn(program: Program, options: SpawnOptions = {}): Process {
    const made = this.prepare(program, options);
    try {
      made.sandbox.compile();
    } catch (err) {
      made.abandon();
      throw err;
    }
    return made.commit();
  }

  /** nextCreation resolves when a spawn may build its isolate (a few ms of synchronous work): one per turn, so a burst of spawns never holds the event loop. */
  private nextCreation(): Promise<void> {
    const mine = this.creations.then(() => new Promise<void>((resolve) => setImmediate(resolve)));
    this.creations = mine;
    return mine;
  }

  /**
   * spawnAsync is spawn for programs from agents or requests: the isolate is
   * built on a turn of its own and the program compiled on its isolate's
   * thread, leaving the event loop free.
   */
  async spawnAsync(program: Program, options: SpawnOptions = {}): Promise<Process> {
    await this.nextCreation();
    const made = this.prepare(program, options);
    try {
      await made.sandbox.compileAsync();
    } catch (err) {
      made.abandon();
      throw err;
    }
    return made.commit();
  }

  /** prepare admits a spawn and builds its process and sandbox; commit() puts it in the table and starts it, abandon() undoes it. */
  private prepare(program: Program, options: SpawnOptions): { sandbox: Sandbox; commit(): Process; abandon(): void } {
    // A spawn that names a parent is a child or nothing: were the parent gone, the child would otherwise start as a root of its own.
    const parent = options.ppid === undefined ? undefined : this.table.get(options.ppid);
    if (options.ppid !== undefined && (parent === undefined || parent.exit !== undefined)) throw new KernelError('EINTR', `parent pid ${options.ppid} ended before its child could start`);
    this.admit(parent);
    const pid = this.options.pids?.() ?? this.nextPid++;
    const identity = spawnIdentity(pid, options, parent === undefined ? undefined : { pid: parent.pid, agentId: parent.agentId, identity: this.table.identity(parent.pid) });
    // An agent's first process sets its autonomy from the manifest; its children run at the agent's level.
    const autonomy = options.manifest?.autonomy;
    if (parent === undefined && autonomy !== undefined) {
      if (!isAutonomy(autonomy)) throw new KernelError('EINVAL', `autonomy must be one of ${AUTONOMY_LEVELS.join(', ')}, not '${String(autonomy)}'`);
      this.autonomies.set(identity.agentId, autonomy);
    }
    const limits = this.limitsFor(options);
    const lineage = parent?.lineage ?? new Lineage(pid, identity.agentId, limits, Date.now());
    const restore = options.restore === undefined ? undefined : readCheckpoint(options.restore);
    const secrets = processSecrets(options.secrets ?? {});
    // Held from here: a spawn that is abandoned lets go of it (its tree then ages out like any other).
    const vfs = this.trees.hold(identity.agentId, this.quota(limits));
    const proc = new Process(pid, options.ppid ?? 0, lineage, program.filename, limits, identity.labels);
    const files = new FdTable(vfs, {
      stdin: options.fds?.stdin,
      stdout: options.fds?.stdout ?? FdTable.sink(options.stdout ?? this.options.stdout ?? ((c) => process.stdout.write(c))),
      stderr: options.fds?.stderr ?? FdTable.sink(options.stderr ?? this.options.stderr ?? ((c) => process.stderr.write(c))),
      limit: limits.openFiles,
      output: lineage.output,
      onWritten: (content) => writeTracker(vfs).add(content, (ns, onLoop) => lineage.charge(ns, onLoop)),
    });
    const ctx = contextFor(this, proc, identity, vfs, files, secrets);
    proc.fds = files;
    let sandbox: Sandbox;
    // Building the isolate is synchronous work on the event loop: the tree that asked for it pays (a spawn+wait loop otherwise ran the loop at ~90% for free).
    const building = performance.now();
    const env = { ...options.env, ...Object.fromEntries(secrets.map((s) => [s.name, s.placeholder])) };
    try {
      sandbox = new Sandbox(program, limits.heapMib, { SYS: SYSCALL_NUMBERS, readdirPage: READDIR_PAGE, writeMax: ARG_LIMITS.ioBytes, ...ARGUMENT_BOUNDS, argv: [...(options.argv ?? [])], program: program.filename, env, pid, ppid: options.ppid ?? 0, agentId: identity.agentId }, {
        syscall: (nr, args, call, mode) => syscallGate(this.gate, proc, nr, () => dispatch(this.services, ctx, nr, args, call), mode),
        end: (how) => this.ended(proc, how),
        idle() {
          if (proc.state === 'running') proc.state = 'blocked';
          kick(proc);
        },
        charge: (ns) => lineage.charge(ns),
      }, options.tape?.({ pid, fds: files, ctx, env, limits }));
    } catch (err) {
      files.closeAll();
      this.trees.unhold(identity.agentId);
      throw err;
    } finally {
      lineage.charge((performance.now() - building) * 1e6);
    }
    proc.sandbox = sandbox;
    this.pending++;
    lineage.pendingSpawns++;
    let settled = false;
    const settle = () => {
      if (settled) return false;
      settled = true;
      this.pending--;
      lineage.pendingSpawns--;
      return true;
    };
    const abandon = () => {
      if (!settle()) return;
      sandbox.dispose();
      files.closeAll();
      this.trees.unhold(identity.agentId);
    };
    return {
      sandbox,
      abandon,
      commit: () => {
        if (parent !== undefined && parent.exit !== undefined) {
          // The parent ended while the child's program compiled: the child never starts.
          abandon();
          throw new KernelError('EINTR', `parent pid ${parent.pid} ended before its child could start`);
        }
        try {
          // Recorded first: a spawn the log cannot take does not happen.
          this.recorder.record({ type: 'spawn', pid, agentId: identity.agentId, detail: `${program.filename}${parent ? ` (child of pid ${parent.pid}, tree of pid ${lineage.rootPid})` : ''}`, policyVersion: this.engine.version });
        } catch (err) {
          abandon();
          throw err;
        }
        settle();
        this.services.telemetry?.agentStarted(pid, identity.agentId, program.filename);
        this.table.insert(proc, identity);
        if (lineage.deadline !== undefined) proc.addTimer(Math.max(0, lineage.deadline - Date.now()), () => this.die(proc, 'SIGKILL', `wall time limit ${lineage.limits.wallMs} ms`));
        if (lineage.limits.cpuMs !== undefined) this.cpu.watch(lineage);
        // The program starts once its tree is laid out (and restored): at once for memfs, later for a remote backend.
        void this.trees
          .ready(identity.agentId, this.quota(limits))
          .then(() => (restore === undefined ? undefined : restoreInto(vfs, restore.files)))
          .then(
            () => (proc.exit === undefined ? sandbox.start() : undefined),
            (err: unknown) => terminate(this.exits, proc, 1, { kind: 'error', error: `could not prepare the agent's tree: ${err instanceof Error ? err.message : String(err)}` }),
          );
        return proc;
      },
    };
  }

  private ended(proc: Process, how: SandboxEnd): void {
    if (how.kind === 'returned') terminate(this.exits, proc, how.status, { kind: 'exit' });
    else if (how.kind === 'threw') terminate(this.exits, proc, 1, { kind: 'error', error: how.error });
    else if (how.kind === 'memory-limit') this.die(proc, 'SIGKILL', 'memory limit exceeded');
    else {
      this.degraded = `pid ${proc.pid}: ${how.message}; the isolate was quarantined — restart this kernel soon`;
      this.die(proc, 'SIGKILL', `catastrophic out-of-memory (${how.message}); isolate quarantined`);
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

  /** checkpoint is SIGUSR1's default action; a failure is recorded, the process goes on. */
  checkpoint(proc: Process): void {
    this.checkpointNow(proc).catch((err: unknown) => {
      recordEnding(this.exits, { type: 'checkpoint', pid: proc.pid, agentId: proc.agentId, detail: `checkpoint failed: ${err instanceof Error ? err.message : String(err)}` });
    });
  }

  /** checkpointNow snapshots the agent memory of `proc` and records it; the copying is charged to its tree. */
  async checkpointNow(proc: Process): ReturnType<typeof snapshot> {
    const info = await snapshot(this.vfs(proc.agentId), proc.agentId, this.engine.version, this.options.stateDir, { charge: (ns) => proc.lineage.charge(ns), keep: this.options.keepCheckpoints, now: this.gate.clock() });
    this.recorder.record({ type: 'checkpoint', pid: proc.pid, agentId: proc.agentId, detail: `checkpoint ${info.n}: ${info.files} files, ${info.bytes} bytes`, policyVersion: this.engine.version });
    return info;
  }

  /** spawnChild runs a SYS_SPAWN (see spawn-child.ts). */
  spawnChild(parent: Process, identity: Identity, request: SpawnRequest): Promise<number> {
    return spawnChild({ admit: (p) => this.admit(p), registered: (name) => this.programs.get(name), vfs: (id) => this.vfs(id), spawnAsync: (program, options) => this.spawnAsync(program, options) }, parent, identity, request);
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

  /**
   * misbehaved lowers an agent's trust (a denial, a violation, a refused
   * approval); when that takes it below the policy's trust floor, every live
   * process of the agent gets SIGTRUST.
   */
  misbehaved(agentId: string, what: Misbehaviour): void {
    const { before, after } = this.trust.lower(agentId, what);
    const floor = this.engine.trustFloor;
    if (floor === undefined || before < floor || after >= floor) return;
    for (const proc of this.table.liveOf(agentId)) sendSignal(this, proc, 'SIGTRUST', `the kernel: trust ${after} fell below the policy's floor ${floor}`);
  }

  /** autonomy is agent `agentId`'s autonomy level. */
  autonomy(agentId: string): Autonomy {
    return this.autonomies.level(agentId);
  }

  /** setAutonomy changes an agent's autonomy level (every process of it, from its next call), recorded with who changed it. */
  setAutonomy(agentId: string, level: Autonomy, by: string): void {
    const before = this.autonomies.level(agentId);
    this.autonomies.set(agentId, level);
    this.recorder.record({ type: 'policy', pid: 0, agentId, detail: `autonomy of agent ${agentId}: ${before} -> ${level} by ${by}`, policyVersion: this.engine.version });
  }

  /** breakerChanged records a circuit breaker opening or closing; opening one costs the agent trust. */
  private breakerChanged(event: BreakerEvent): void {
    try {
      this.recorder.record({ type: 'limit', pid: 0, agentId: event.agentId, detail: `circuit breaker ${event.key} ${event.state}: ${event.why}` });
    } catch {
      // the log's own problem says why
    }
    if (event.state === 'open') this.misbehaved(event.agentId, 'breakerTrip');
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
    const open = this.breakers.open(proc.agentId).map((b) => b.key);
    const autonomy = this.autonomies.level(proc.agentId);
    return { ...proc.info(this.usage(proc)), trust: this.trust.score(proc.agentId), ...(open.length > 0 ? { breakers: open } : {}), ...(autonomy !== 'full' ? { autonomy } : {}) };
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
  }
}
