/**
 * Kernel wires the subsystems: it spawns programs as processes, each in its
 * own sandbox with its own fd table and a view of its agent's VFS tree, routes
 * every syscall through the one dispatcher, and keeps the process table.
 */
import { KernelError } from '../syscalls/errno.ts';
import type { Authorizer, DecisionRecorder, SyscallContext } from '../syscalls/context.ts';
import { dispatch } from '../syscalls/dispatch.ts';
import { SYSCALL_NUMBERS } from '../syscalls/table.ts';
import { exitStatusForSignal, SIGNALS, type SignalName } from '../signals/signal-table.ts';
import { AgentVfs } from '../vfs/agent-vfs.ts';
import { CONFINEMENT_POLICY_TEXT, ConfinementAuthorizer } from './confinement.ts';
import { MemoryDecisionLog } from './decision-log.ts';
import { FdTable, type OutputSink } from './fd-table.ts';
import { Process, type ExitReason, type ExitRecord, type ProcessInfo } from './process.ts';
import type { Program } from './program.ts';
import { Sandbox, type SandboxEnd } from './sandbox.ts';

export interface KernelOptions {
  authorizer?: Authorizer;
  recorder?: DecisionRecorder;
  /** Heap limit per isolate, MiB (isolated-vm minimum 8). Default 64. */
  memoryLimitMib?: number;
  /** Open files per process, counting fds 0–2. Default 64. */
  maxOpenFiles?: number;
  stdout?: OutputSink;
  stderr?: OutputSink;
}

export interface SpawnOptions {
  agentId?: string;
  argv?: readonly string[];
  ppid?: number;
  memoryLimitMib?: number;
  stdout?: OutputSink;
  stderr?: OutputSink;
}

const AGENT_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export class Kernel {
  readonly recorder: DecisionRecorder;
  private readonly services: { authorizer: Authorizer; recorder: DecisionRecorder };
  private readonly options: Required<Pick<KernelOptions, 'memoryLimitMib' | 'maxOpenFiles' | 'stdout' | 'stderr'>>;
  private readonly table = new Map<number, Process>();
  private readonly trees = new Map<string, AgentVfs>();
  private nextPid = 1;

  constructor(options: KernelOptions = {}) {
    this.recorder = options.recorder ?? new MemoryDecisionLog();
    this.services = { authorizer: options.authorizer ?? new ConfinementAuthorizer(), recorder: this.recorder };
    this.options = {
      memoryLimitMib: options.memoryLimitMib ?? 64,
      maxOpenFiles: options.maxOpenFiles ?? 64,
      stdout: options.stdout ?? ((chunk) => process.stdout.write(chunk)),
      stderr: options.stderr ?? ((chunk) => process.stderr.write(chunk)),
    };
  }

  /** vfs returns agent `agentId`'s tree, creating it (with the standard layout) on first use. */
  vfs(agentId: string): AgentVfs {
    let tree = this.trees.get(agentId);
    if (tree === undefined) {
      tree = new AgentVfs(agentId, { policyFiles: { '/README': CONFINEMENT_POLICY_TEXT } });
      this.trees.set(agentId, tree);
    }
    return tree;
  }

  /**
   * spawn starts `program` as a new process and returns it at once. EINVAL for
   * a bad agent id, ENOEXEC for a program that does not compile.
   */
  spawn(program: Program, options: SpawnOptions = {}): Process {
    const pid = this.nextPid++;
    const agentId = options.agentId ?? `agent-${pid}`;
    if (!AGENT_ID.test(agentId)) throw new KernelError('EINVAL', `bad agent id '${agentId}': use letters, digits, '.', '_' and '-'`);
    const vfs = this.vfs(agentId);
    const proc = new Process(pid, options.ppid ?? 0, agentId, program.filename);
    const files = new FdTable(vfs, options.stdout ?? this.options.stdout, options.stderr ?? this.options.stderr, this.options.maxOpenFiles);
    const ctx: SyscallContext = { pid, agentId, fs: vfs, files, exit: (code) => this.terminate(proc, code, { kind: 'exit' }) };
    const services = this.services;
    proc.fds = files;
    proc.sandbox = new Sandbox(program, options.memoryLimitMib ?? this.options.memoryLimitMib, {
      SYS: SYSCALL_NUMBERS,
      argv: [...(options.argv ?? [])],
      pid,
      agentId,
    }, {
      syscall(nr, args) {
        proc.syscalls++;
        proc.state = 'running';
        return dispatch(services, ctx, nr, args);
      },
      end: (how) => this.ended(proc, how),
      idle() {
        if (proc.state === 'running') proc.state = 'blocked';
      },
    });
    this.table.set(pid, proc);
    this.recorder.record({ type: 'spawn', pid, agentId, detail: program.filename });
    void proc.sandbox.start();
    return proc;
  }

  private ended(proc: Process, how: SandboxEnd): void {
    if (how.kind === 'returned') this.terminate(proc, 0, { kind: 'exit' });
    else if (how.kind === 'threw') this.terminate(proc, 1, { kind: 'error', error: how.error });
    else this.terminate(proc, exitStatusForSignal('SIGKILL'), { kind: 'signal', signal: 'SIGKILL', why: 'memory limit exceeded' });
  }

  /** terminate ends `proc` with `status`: stops its isolate, closes its files, records the exit. */
  private terminate(proc: Process, status: number, reason: ExitReason): void {
    if (proc.exit !== undefined) return;
    const cpuMs = Number(proc.sandbox?.cpuTimeNs ?? 0n) / 1e6;
    proc.sandbox?.dispose();
    proc.fds?.closeAll();
    const record: ExitRecord = { pid: proc.pid, agentId: proc.agentId, status, reason, syscalls: proc.syscalls, cpuMs, wallMs: Date.now() - proc.startedAt };
    proc.end(record);
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
    this.terminate(proc, exitStatusForSignal(signal), { kind: 'signal', signal, why });
  }

  /** wait resolves with `pid`'s exit record and reaps it from the table. ESRCH if unknown. */
  async wait(pid: number): Promise<ExitRecord> {
    const record = await this.lookup(pid).exited;
    this.table.delete(pid);
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
