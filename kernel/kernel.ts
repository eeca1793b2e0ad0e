/**
 * Kernel wires the subsystems: it spawns programs as processes, each in its
 * own sandbox with its own fd table, identity (manifest) and view of its
 * agent's VFS tree; routes every syscall through the one dispatcher with the
 * policy authorizer, the decision recorder and the approval gate; and keeps
 * the process table.
 */
import { KernelError } from '../syscalls/errno.ts';
import type { DecisionRecorder, KernelServices, SyscallContext } from '../syscalls/context.ts';
import { checkPolicy, dispatch, type Reply } from '../syscalls/dispatch.ts';
import { SYSCALL_NUMBERS } from '../syscalls/table.ts';
import { exitStatusForSignal, parseSignal, SIGNALS, type SignalName } from '../signals/signal-table.ts';
import { AgentVfs } from '../vfs/agent-vfs.ts';
import { StaticBackend } from '../vfs/static-backend.ts';
import { ApprovalGate, type Approver } from './approvals.ts';
import { Identity, type AgentManifest } from './capabilities.ts';
import { MemoryDecisionLog } from './decision-log.ts';
import { FdTable, type OutputSink } from './fd-table.ts';
import { PolicyAuthorizer } from './policy/authorizer.ts';
import { defaultPolicy } from './policy/default.ts';
import { PolicyEngine } from './policy/engine.ts';
import type { LoadedPolicy } from './policy/load.ts';
import { Process, type ExitReason, type ExitRecord, type ProcessInfo } from './process.ts';
import type { Program } from './program.ts';
import { Sandbox, type SandboxEnd } from './sandbox.ts';

export interface KernelOptions {
  /** The policy in force; the built-in default (own tree only) if absent. */
  policy?: LoadedPolicy;
  recorder?: DecisionRecorder;
  /** Answers require_approval questions automatically (or leaves them to an operator). */
  approver?: Approver;
  /** The clock policy rules and approvals use (ms since the epoch). */
  clock?: () => number;
  /** Heap limit per isolate, MiB (isolated-vm minimum 8). Default 64. */
  memoryLimitMib?: number;
  /** Open files per process, counting fds 0–2. Default 64. */
  maxOpenFiles?: number;
  stdout?: OutputSink;
  stderr?: OutputSink;
}

export interface SpawnOptions {
  /** The agent's id; `manifest.id` wins if both are given. Default `agent-<pid>`. */
  agentId?: string;
  /** Labels and capabilities; a child's capabilities must be covered by its parent's. */
  manifest?: Partial<AgentManifest>;
  argv?: readonly string[];
  ppid?: number;
  memoryLimitMib?: number;
  stdout?: OutputSink;
  stderr?: OutputSink;
}

const AGENT_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export class Kernel {
  readonly recorder: DecisionRecorder;
  readonly engine: PolicyEngine;
  readonly approvals: ApprovalGate;
  private readonly services: KernelServices;
  private readonly options: Required<Pick<KernelOptions, 'memoryLimitMib' | 'maxOpenFiles' | 'stdout' | 'stderr'>>;
  private readonly table = new Map<number, Process>();
  private readonly identities = new Map<number, Identity>();
  private readonly trees = new Map<string, AgentVfs>();
  private nextPid = 1;

  constructor(options: KernelOptions = {}) {
    this.recorder = options.recorder ?? new MemoryDecisionLog();
    this.engine = new PolicyEngine(options.policy ?? defaultPolicy(), options.clock);
    this.approvals = new ApprovalGate({ approver: options.approver, clock: options.clock });
    this.services = { authorizer: new PolicyAuthorizer(this.engine), recorder: this.recorder, approvals: this.approvals };
    this.options = {
      memoryLimitMib: options.memoryLimitMib ?? 64,
      maxOpenFiles: options.maxOpenFiles ?? 64,
      stdout: options.stdout ?? ((chunk) => process.stdout.write(chunk)),
      stderr: options.stderr ?? ((chunk) => process.stderr.write(chunk)),
    };
  }

  /** replacePolicy puts an already validated policy in force for every later decision. */
  replacePolicy(policy: LoadedPolicy): void {
    this.engine.replace(policy);
  }

  /** vfs returns agent `agentId`'s tree, creating it (with the standard layout) on first use. */
  vfs(agentId: string): AgentVfs {
    let tree = this.trees.get(agentId);
    if (tree === undefined) {
      const policy = new StaticBackend(() => ({
        '/policy.yaml': this.engine.policy.source,
        '/VERSION': `${this.engine.version}\n`,
      }));
      tree = new AgentVfs(agentId, { policy });
      this.trees.set(agentId, tree);
    }
    return tree;
  }

  private identityFor(pid: number, options: SpawnOptions): Identity {
    const id = options.manifest?.id ?? options.agentId ?? `agent-${pid}`;
    if (!AGENT_ID.test(id)) throw new KernelError('EINVAL', `bad agent id '${id}': use letters, digits, '.', '_' and '-'`);
    const identity = new Identity({ id, labels: options.manifest?.labels, capabilities: options.manifest?.capabilities });
    const parent = options.ppid === undefined ? undefined : this.identities.get(options.ppid);
    const missing = parent?.covers([...identity.capabilities]);
    if (missing !== undefined) throw new KernelError('EPERM', `capability ${missing} is not held by parent pid ${options.ppid}`);
    return identity;
  }

  /**
   * spawn starts `program` as a new process and returns it at once. EINVAL for
   * a bad agent id or manifest, EPERM for a capability the parent lacks,
   * ENOEXEC for a program that does not compile.
   */
  spawn(program: Program, options: SpawnOptions = {}): Process {
    const pid = this.nextPid++;
    const identity = this.identityFor(pid, options);
    const agentId = identity.agentId;
    const vfs = this.vfs(agentId);
    const proc = new Process(pid, options.ppid ?? 0, agentId, program.filename);
    const files = new FdTable(vfs, options.stdout ?? this.options.stdout, options.stderr ?? this.options.stderr, this.options.maxOpenFiles);
    const services = this.services;
    const ctx: SyscallContext = {
      pid,
      agentId,
      identity,
      fs: vfs,
      files,
      alive: () => proc.exit === undefined,
      exit: (code) => this.terminate(proc, code, { kind: 'exit' }),
      violation: (signal, why) => this.signalDeath(proc, parseSignal(signal) ?? 'SIGPOLICY', why),
      checkPolicy: (name, args) => checkPolicy(services, ctx, name, args),
    };
    proc.fds = files;
    proc.sandbox = new Sandbox(program, options.memoryLimitMib ?? this.options.memoryLimitMib, { SYS: SYSCALL_NUMBERS, argv: [...(options.argv ?? [])], pid, agentId }, {
      syscall(nr, args): Reply {
        proc.syscalls++;
        proc.state = 'running';
        const reply = dispatch(services, ctx, nr, args);
        if (!('later' in reply)) return reply;
        proc.state = 'blocked';
        return {
          later: reply.later.then((final) => {
            if (proc.state === 'blocked') proc.state = 'running';
            return final;
          }),
        };
      },
      end: (how) => this.ended(proc, how),
      idle() {
        if (proc.state === 'running') proc.state = 'blocked';
      },
    });
    this.table.set(pid, proc);
    this.identities.set(pid, identity);
    this.recorder.record({ type: 'spawn', pid, agentId, detail: program.filename, policyVersion: this.engine.version });
    void proc.sandbox.start();
    return proc;
  }

  private ended(proc: Process, how: SandboxEnd): void {
    if (how.kind === 'returned') this.terminate(proc, 0, { kind: 'exit' });
    else if (how.kind === 'threw') this.terminate(proc, 1, { kind: 'error', error: how.error });
    else this.signalDeath(proc, 'SIGKILL', 'memory limit exceeded');
  }

  private signalDeath(proc: Process, signal: SignalName, why: string): void {
    if (proc.exit !== undefined) return;
    this.recorder.record({ type: 'signal', pid: proc.pid, agentId: proc.agentId, detail: `${signal}: ${why}`, policyVersion: this.engine.version });
    this.terminate(proc, exitStatusForSignal(signal), { kind: 'signal', signal, why });
  }

  /** terminate ends `proc` with `status`: stops its isolate, closes its files, records the exit. */
  private terminate(proc: Process, status: number, reason: ExitReason): void {
    if (proc.exit !== undefined) return;
    const cpuMs = Number(proc.sandbox?.cpuTimeNs ?? 0n) / 1e6;
    proc.sandbox?.dispose();
    proc.fds?.closeAll();
    const record: ExitRecord = { pid: proc.pid, agentId: proc.agentId, status, reason, syscalls: proc.syscalls, cpuMs, wallMs: Date.now() - proc.startedAt };
    proc.end(record);
    this.approvals.cancel(proc.pid);
    this.recorder.record({ type: 'exit', pid: proc.pid, agentId: proc.agentId, detail: `status ${status}` });
  }

  private lookup(pid: number): Process {
    const proc = this.table.get(pid);
    if (proc === undefined) throw new KernelError('ESRCH', `no process ${pid}`);
    return proc;
  }

  /**
   * kill sends `signal` to `pid`. Terminating signals end the process at once
   * (even mid-loop) with status 128+N; SIGSTOP, SIGCONT and SIGUSR1 answer
   * ENOSYS until signal delivery lands. ESRCH for an unknown or exited pid.
   */
  kill(pid: number, signal: SignalName, why = 'signal'): void {
    const proc = this.lookup(pid);
    if (proc.exit !== undefined) throw new KernelError('ESRCH', `process ${pid} has exited`);
    if (SIGNALS[signal].action !== 'terminate') throw new KernelError('ENOSYS', `${signal} delivery is not implemented yet (#4)`);
    this.signalDeath(proc, signal, why);
  }

  /** wait resolves with `pid`'s exit record and reaps it from the table. ESRCH if unknown. */
  async wait(pid: number): Promise<ExitRecord> {
    const record = await this.lookup(pid).exited;
    this.table.delete(pid);
    this.identities.delete(pid);
    return record;
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
