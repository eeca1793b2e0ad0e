/**
 * Kernel wires the subsystems: it spawns programs as processes, each in its
 * own sandbox with its own fd table, identity (manifest), limits, signal
 * state and view of its agent's VFS tree; routes every syscall through the
 * one dispatcher with the policy authorizer, the decision recorder and the
 * approval gate; delivers signals; and keeps the process table.
 */
import { Subject } from 'rxjs';
import { KernelError } from '../syscalls/errno.ts';
import type { DecisionRecorder, KernelServices, SpawnRequest, WaitResult } from '../syscalls/context.ts';
import { dispatch, type Reply } from '../syscalls/dispatch.ts';
import { ROW_BY_NR, SYSCALL_NUMBERS } from '../syscalls/table.ts';
import type { SignalEvent } from '../signals/signal-state.ts';
import { exitStatusForSignal, type SignalName } from '../signals/signal-table.ts';
import { AgentVfs } from '../vfs/agent-vfs.ts';
import { andThen, type MaybePromise } from '../vfs/maybe.ts';
import { StaticBackend } from '../vfs/static-backend.ts';
import { ApprovalGate } from './approvals.ts';
import { Identity } from './capabilities.ts';
import { loadHostCheckpoints, readAll, readCheckpoint, restoreInto, snapshot } from './checkpoint.ts';
import { CpuWatchdog } from './cpu-watchdog.ts';
import { MemoryDecisionLog } from './decision-log.ts';
import { FdTable } from './fd-table.ts';
import type { KernelOptions, SpawnOptions } from './kernel-options.ts';
import { combine, limitsFromPolicy, type ProcessLimits } from './limits.ts';
import { agentMounts, checkMounts } from './mounts.ts';
import { PolicyAuthorizer } from './policy/authorizer.ts';
import { defaultPolicy } from './policy/default.ts';
import { PolicyEngine } from './policy/engine.ts';
import type { LoadedPolicy } from './policy/load.ts';
import { contextFor, type ProcessHost } from './process-context.ts';
import { kick, sendSignal, takeHandlerSignals } from './process-signals.ts';
import { Process, type ExitReason, type ExitRecord, type ProcessInfo } from './process.ts';
import { programFromSource, type Program } from './program.ts';
import { Sandbox, type SandboxEnd } from './sandbox.ts';
import { defaultRegistry } from './tools/config.ts';
import type { ToolRegistry } from './tools/registry.ts';
import { writeTracker } from './tools/write-tracker.ts';

export type { KernelOptions, SpawnOptions } from './kernel-options.ts';

const AGENT_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export class Kernel implements ProcessHost {
  readonly recorder: DecisionRecorder;
  readonly engine: PolicyEngine;
  readonly approvals: ApprovalGate;
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
  private readonly options: KernelOptions;
  private readonly baseLimits: ProcessLimits;
  private readonly table = new Map<number, Process>();
  private readonly identities = new Map<number, Identity>();
  private readonly trees = new Map<string, AgentVfs>();
  /** Settles when an agent's tree is laid out and its saved checkpoints are loaded. */
  private readonly treesReady = new Map<string, Promise<void>>();
  private readonly cpu = new CpuWatchdog((proc, why) => this.die(proc, 'SIGKILL', why));
  private nextPid = 1;

  constructor(options: KernelOptions = {}) {
    this.options = options;
    checkMounts(options.mounts ?? []);
    this.recorder = options.recorder ?? new MemoryDecisionLog();
    this.engine = new PolicyEngine(options.policy ?? defaultPolicy(), options.clock);
    this.approvals = new ApprovalGate({ approver: options.approver, clock: options.clock, idPrefix: options.approvalIdPrefix });
    this.tools = options.tools ?? defaultRegistry({ clock: options.clock });
    this.services = { authorizer: new PolicyAuthorizer(this.engine), recorder: this.recorder, approvals: this.approvals };
    this.termGraceMs = options.termGraceMs ?? 5000;
    this.baseLimits = combine({ heapMib: options.memoryLimitMib ?? 64, openFiles: options.maxOpenFiles ?? 64 }, options.limits);
  }

  /** signals is the kernel-wide signal stream (an alias of `bus`). */
  get signals(): Subject<SignalEvent> {
    return this.bus;
  }

  /** replacePolicy puts an already validated policy in force for every later decision. */
  replacePolicy(policy: LoadedPolicy): void {
    this.engine.replace(policy);
  }

  /** vfs returns agent `agentId`'s tree, creating it (with the standard layout) on first use. */
  vfs(agentId: string): AgentVfs {
    let tree = this.trees.get(agentId);
    if (tree === undefined) {
      const policy = new StaticBackend(() => ({ '/policy.yaml': this.engine.policy.source, '/VERSION': `${this.engine.version}\n` }));
      tree = new AgentVfs(agentId, { policy, mounts: agentMounts(this.options.mounts ?? [], agentId) });
      const stateDir = this.options.stateDir;
      const laid = tree;
      this.treesReady.set(agentId, stateDir === undefined ? tree.ready : tree.ready.then(() => loadHostCheckpoints(laid, agentId, stateDir)));
      this.trees.set(agentId, tree);
    }
    return tree;
  }

  private identityFor(pid: number, options: SpawnOptions): Identity {
    const parent = options.ppid === undefined ? undefined : this.identities.get(options.ppid);
    const id = options.manifest?.id ?? options.agentId ?? (parent ? `${parent.agentId}.${pid}` : `agent-${pid}`);
    if (!AGENT_ID.test(id)) throw new KernelError('EINVAL', `bad agent id '${id}': use letters, digits, '.', '_' and '-'`);
    const identity = new Identity({ id, labels: options.manifest?.labels, capabilities: options.manifest?.capabilities });
    const missing = parent?.covers([...identity.capabilities]);
    if (missing !== undefined) throw new KernelError('EPERM', `capability ${missing} is not held by parent pid ${options.ppid}`);
    return identity;
  }

  private limitsFor(options: SpawnOptions): ProcessLimits {
    const asked = { ...options.limits, ...(options.memoryLimitMib !== undefined ? { heapMib: options.memoryLimitMib } : {}) };
    return combine(this.baseLimits, asked, limitsFromPolicy(this.engine.policy.document.defaults?.limits));
  }

  /**
   * spawn starts `program` as a new process and returns it at once. EINVAL for
   * a bad agent id or manifest, EPERM for a capability the parent lacks,
   * ENOEXEC for a program that does not compile, ENOENT for a bad restore dir.
   */
  spawn(program: Program, options: SpawnOptions = {}): Process {
    const pid = this.options.pids?.() ?? this.nextPid++;
    const identity = this.identityFor(pid, options);
    const agentId = identity.agentId;
    const limits = this.limitsFor(options);
    const vfs = this.vfs(agentId);
    const restore = options.restore === undefined ? undefined : readCheckpoint(options.restore);
    const proc = new Process(pid, options.ppid ?? 0, agentId, program.filename, limits);
    const files = new FdTable(vfs, {
      stdin: options.fds?.stdin,
      stdout: options.fds?.stdout ?? FdTable.sink(options.stdout ?? this.options.stdout ?? ((c) => process.stdout.write(c))),
      stderr: options.fds?.stderr ?? FdTable.sink(options.stderr ?? this.options.stderr ?? ((c) => process.stderr.write(c))),
      limit: limits.openFiles,
      outputLimit: limits.outputBytes,
      onWritten: (content) => writeTracker(vfs).add(content),
    });
    const ctx = contextFor(this, proc, identity, vfs, files);
    proc.fds = files;
    try {
      proc.sandbox = new Sandbox(program, limits.heapMib, { SYS: SYSCALL_NUMBERS, argv: [...(options.argv ?? [])], pid, agentId }, {
        syscall: (nr, args) => this.syscall(proc, nr, () => this.timed(nr, () => dispatch(this.services, ctx, nr, args))),
        end: (how) => this.ended(proc, how),
        idle() {
          if (proc.state === 'running') proc.state = 'blocked';
          kick(proc);
        },
      });
    } catch (err) {
      files.closeAll();
      throw err;
    }
    this.table.set(pid, proc);
    this.identities.set(pid, identity);
    this.recorder.record({ type: 'spawn', pid, agentId, detail: program.filename, policyVersion: this.engine.version });
    if (limits.wallMs !== undefined) proc.addTimer(limits.wallMs, () => this.die(proc, 'SIGKILL', `wall time limit ${limits.wallMs} ms`));
    if (limits.cpuMs !== undefined) this.cpu.watch(proc, limits.cpuMs);
    const sandbox = proc.sandbox;
    // The program starts once its tree is laid out (and restored): at once for memfs, later for a remote backend.
    void this.treesReady
      .get(agentId)!
      .then(() => (restore === undefined ? undefined : restoreInto(vfs, restore.files)))
      .then(
        () => sandbox.start(),
        (err: unknown) => this.terminate(proc, 1, { kind: 'error', error: `could not prepare the agent's tree: ${err instanceof Error ? err.message : String(err)}` }),
      );
    return proc;
  }

  /** timed reports a syscall's time in ring 0 to the observer, if there is one. */
  private timed(nr: unknown, run: () => Reply): Reply {
    const observe = this.options.observeSyscall;
    if (observe === undefined) return run();
    const start = process.hrtime.bigint();
    const reply = run();
    const name = typeof nr === 'number' ? ROW_BY_NR[nr]?.name : undefined;
    if (name !== undefined && !('later' in reply)) observe(name, Number(process.hrtime.bigint() - start) / 1e9);
    return reply;
  }

  /** syscall is the per-process gate around dispatch: rate limit, stop, handler signals at the boundary. */
  private syscall(proc: Process, nr: unknown, run: () => Reply): Reply {
    proc.syscalls++;
    proc.state = 'running';
    const rate = proc.limits.syscallsPerSecond;
    if (rate !== undefined) {
      const now = Date.now();
      if (now - proc.rateWindow.start >= 1000) proc.rateWindow = { start: now, calls: 0 };
      if (++proc.rateWindow.calls > rate) {
        const name = typeof nr === 'number' ? (ROW_BY_NR[nr]?.name ?? `#${nr}`) : '#?';
        this.recorder.record({ type: 'syscall', pid: proc.pid, agentId: proc.agentId, syscall: name, access: 'none', effect: 'deny', rule: 'limit.syscalls_per_second', reason: `more than ${rate} syscalls per second` });
        return { errno: 'EAGAIN', message: `syscall rate limit of ${rate} per second reached` };
      }
    }
    const reply = proc.stopped ? { later: proc.continued().then(() => (proc.exit === undefined ? settled(run()) : ENDED_WHILE_STOPPED)) } : run();
    if (!('later' in reply)) return withSignals(proc, reply);
    proc.state = proc.stopped ? 'stopped' : 'blocked';
    return {
      later: reply.later.then(async (final) => {
        await proc.continued();
        if (proc.state === 'blocked' || proc.state === 'stopped') proc.state = 'running';
        return withSignals(proc, final);
      }),
    };
  }

  private ended(proc: Process, how: SandboxEnd): void {
    if (how.kind === 'returned') this.terminate(proc, 0, { kind: 'exit' });
    else if (how.kind === 'threw') this.terminate(proc, 1, { kind: 'error', error: how.error });
    else if (how.kind === 'memory-limit') this.die(proc, 'SIGKILL', 'memory limit exceeded');
    else {
      this.degraded = `pid ${proc.pid}: ${how.message}; the isolate was quarantined — restart this kernel soon`;
      this.die(proc, 'SIGKILL', `catastrophic out-of-memory (${how.message}); isolate quarantined`);
    }
  }

  /** die ends `proc` by `signal`, recording why. */
  die(proc: Process, signal: SignalName, why: string): void {
    if (proc.exit !== undefined) return;
    this.recorder.record({ type: 'signal', pid: proc.pid, agentId: proc.agentId, detail: `${signal}: ${why}`, policyVersion: this.engine.version });
    this.terminate(proc, exitStatusForSignal(signal), { kind: 'signal', signal, why });
  }

  exitWith(proc: Process, code: number): void {
    this.terminate(proc, code, { kind: 'exit' });
  }

  /** terminate ends `proc` with `status`: stops its isolate, closes its files, records the exit. */
  private terminate(proc: Process, status: number, reason: ExitReason): void {
    if (proc.exit !== undefined) return;
    const cpuMs = Number(proc.sandbox?.cpuTimeNs ?? 0n) / 1e6;
    proc.sandbox?.dispose();
    proc.fds?.closeAll();
    this.cpu.unwatch(proc);
    const record: ExitRecord = { pid: proc.pid, agentId: proc.agentId, status, reason, syscalls: proc.syscalls, cpuMs, wallMs: Date.now() - proc.startedAt };
    proc.end(record);
    this.approvals.cancel(proc.pid);
    this.recorder.record({ type: 'exit', pid: proc.pid, agentId: proc.agentId, detail: `status ${status}` });
  }

  /** checkpoint is SIGUSR1's default action; a failure is recorded, the process goes on. */
  checkpoint(proc: Process): void {
    this.checkpointNow(proc).catch((err: unknown) => {
      this.recorder.record({ type: 'checkpoint', pid: proc.pid, agentId: proc.agentId, detail: `checkpoint failed: ${err instanceof Error ? err.message : String(err)}` });
    });
  }

  /** checkpointNow snapshots the agent memory of `proc` and records it. */
  async checkpointNow(proc: Process): ReturnType<typeof snapshot> {
    const info = await snapshot(this.vfs(proc.agentId), proc.agentId, this.engine.version, this.options.stateDir);
    this.recorder.record({ type: 'checkpoint', pid: proc.pid, agentId: proc.agentId, detail: `checkpoint ${info.n}: ${info.files} files, ${info.bytes} bytes`, policyVersion: this.engine.version });
    return info;
  }

  /**
   * spawnChild runs a SYS_SPAWN: program from the caller's VFS or the
   * registered programs. The child's limits, like its capabilities, are no
   * wider than its parent's. EAGAIN past the parent's child limit.
   */
  spawnChild(parent: Process, identity: Identity, request: SpawnRequest): MaybePromise<number> {
    const children = [...this.table.values()].filter((p) => p.ppid === parent.pid && p.exit === undefined).length;
    if (parent.limits.children !== undefined && children >= parent.limits.children) throw new KernelError('EAGAIN', `child limit of ${parent.limits.children} reached`);
    const registered = this.options.programs?.[request.program];
    return andThen(registered ?? this.programFromVfs(parent, request.program), (program) => this.spawnFrom(parent, identity, request, program));
  }

  private spawnFrom(parent: Process, identity: Identity, request: SpawnRequest, program: Program): number {
    const files = parent.fds!;
    const fds = {
      ...(request.stdin !== undefined ? { stdin: files.share(request.stdin) } : {}),
      stdout: files.share(request.stdout ?? 1),
      stderr: files.share(request.stderr ?? 2),
    };
    // Labels feed policy matching: a child inherits its parent's and may not claim others.
    for (const [key, value] of Object.entries(request.labels ?? {})) {
      if (identity.labels[key] !== value) throw new KernelError('EPERM', `label ${key}=${value} is not one of the parent's labels`);
    }
    const labels = identity.labels;
    return this.spawn(program, { ppid: parent.pid, argv: request.argv, manifest: { labels, capabilities: request.capabilities ?? [] }, fds, limits: parent.limits }).pid;
  }

  private async programFromVfs(parent: Process, path: string): Promise<Program> {
    const vfs = this.vfs(parent.agentId);
    const resolved = vfs.resolve(path);
    return programFromSource(resolved, new TextDecoder().decode(await readAll(vfs, resolved)));
  }

  lookup(pid: number): Process {
    const proc = this.table.get(pid);
    if (proc === undefined) throw new KernelError('ESRCH', `no process ${pid}`);
    return proc;
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
    const record = await this.lookup(pid).exited;
    this.table.delete(pid);
    this.identities.delete(pid);
    return record;
  }

  async reap(pid: number): Promise<WaitResult> {
    const record = await this.wait(pid);
    return { pid, status: record.status, signal: record.reason.kind === 'signal' ? record.reason.signal : null };
  }

  get(pid: number): Process | undefined {
    return this.table.get(pid);
  }

  ps(): ProcessInfo[] {
    return [...this.table.values()].map((p) => p.info());
  }

  /** liveIsolates counts isolates not yet disposed; 0 once every process has ended. */
  liveIsolates(): number {
    let n = 0;
    for (const proc of this.table.values()) if (proc.sandbox && !proc.sandbox.disposed) n++;
    return n;
  }

  /** shutdown kills every live process with SIGKILL and reaps them all. */
  async shutdown(): Promise<void> {
    for (const proc of this.table.values()) if (proc.exit === undefined) this.kill(proc.pid, 'SIGKILL', 'kernel shutdown');
    await Promise.all([...this.table.keys()].map((pid) => this.wait(pid)));
  }
}

/** The reply a syscall parked by SIGSTOP gets when its process ends instead of continuing: it never runs. */
const ENDED_WHILE_STOPPED: Reply = { errno: 'EINTR', message: 'the process ended while stopped' };

/** settled waits out a blocked reply. */
async function settled(reply: Reply): Promise<Reply> {
  return 'later' in reply ? reply.later : reply;
}

/** withSignals attaches queued handler signals to a reply: the runtime runs them before returning. */
function withSignals(proc: Process, reply: Reply): Reply {
  const sig = takeHandlerSignals(proc);
  return sig === undefined ? reply : { ...reply, sig };
}
