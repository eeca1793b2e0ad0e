/**
 * Process is one running agent program: pid, agent id, parent, state, its
 * signal state and, once it has ended, its exit record. States: running
 * (executing or in a syscall), blocked (idle on a promise, or in a blocking
 * syscall), stopped (SIGSTOP: its next syscall waits for SIGCONT), exited (a
 * zombie until waited for).
 */
import { namesOf } from '../signals/signal-set.ts';
import { SignalState } from '../signals/signal-state.ts';
import type { SignalName } from '../signals/signal-table.ts';
import type { FdTable } from './fd-table.ts';
import type { Lineage } from './lineage.ts';
import type { ProcessLimits } from './limits.ts';
import type { ProcessSandbox } from './process-sandbox.ts';

export type ProcessState = 'running' | 'blocked' | 'stopped' | 'exited';

/** ExitReason says why a process ended. */
export type ExitReason =
  | { readonly kind: 'exit' }
  | { readonly kind: 'error'; readonly error: string }
  | { readonly kind: 'signal'; readonly signal: SignalName; readonly why: string };

export interface ExitRecord {
  readonly pid: number;
  readonly agentId: string;
  readonly status: number;
  readonly reason: ExitReason;
  readonly syscalls: number;
  readonly cpuMs: number;
  readonly wallMs: number;
}

/** TreeUsage is what ring 0 accounts to a process tree (and its agent's VFS tree), as `ps` and `top` show it. */
export interface TreeUsage {
  /** The pid of the tree's root. */
  readonly root: number;
  /** Processes of the tree in the table, the root included. */
  readonly processes: number;
  /** CPU time of the tree: its isolates and the kernel's work for it, ms. */
  readonly cpuMs: number;
  /** The kernel's own time for the tree (syscalls, matching, hashing, copying, fingerprinting), ms. */
  readonly kernelMs: number;
  readonly syscalls: number;
  /** Bytes of decision records the tree's calls added to the log. */
  readonly logBytes: number;
  /** Syscalls (decision records) in the current one-second window. */
  readonly syscallsThisSecond: number;
  readonly outputBytes: number;
  /** The agent's VFS tree: bytes and files/directories held, and its quota. */
  readonly vfsBytes: number;
  readonly vfsInodes: number;
  readonly vfsBytesLimit?: number;
  readonly vfsInodesLimit?: number;
}

/** ProcessInfo is the copyable view `ps` shows. */
export interface ProcessInfo {
  readonly pid: number;
  readonly ppid: number;
  readonly agentId: string;
  readonly state: ProcessState;
  readonly program: string;
  readonly syscalls: number;
  readonly openFds: number;
  readonly startedAt: number;
  readonly pendingSignals: readonly string[];
  readonly status?: number;
  /** Why the process ended, once it has. */
  readonly exitReason?: ExitReason;
  readonly tree?: TreeUsage;
  /** The agent's labels (its manifest's), what an operator's selector matches. */
  readonly labels?: Readonly<Record<string, string>>;
  /** The agent's trust score, 0–1000 (kernel/trust.ts). */
  readonly trust?: number;
  /** The tools (or syscalls) whose circuit breaker is open (or half-open) for the agent (kernel/breakers.ts). */
  readonly breakers?: readonly string[];
  /** The agent's autonomy level when it is not full (kernel/autonomy.ts). */
  readonly autonomy?: 'supervised' | 'observe';
}

/** The longest delay Node's setTimeout keeps (2^31 - 1 ms, about 24.8 days). */
const MAX_TIMER_MS = 2_147_483_647;

export class Process {
  readonly pid: number;
  readonly ppid: number;
  readonly agentId: string;
  /** The process tree this process belongs to; its root's agent is this process's agent. */
  readonly lineage: Lineage;
  readonly program: string;
  /** The agent's labels, from its manifest. */
  readonly labels: Readonly<Record<string, string>>;
  readonly startedAt = Date.now();
  readonly exited: Promise<ExitRecord>;
  private readonly ending = new AbortController();
  readonly signals = new SignalState();
  readonly limits: ProcessLimits;
  state: ProcessState = 'running';
  syscalls = 0;
  /** Calls made while stopped that wait in the kernel for SIGCONT (kernel/syscall-gate.ts MAX_PARKED_CALLS). */
  parked = 0;
  exit: ExitRecord | undefined;
  sandbox: ProcessSandbox | undefined;
  fds: FdTable | undefined;
  /** Handled signals waiting for the next syscall boundary or an idle moment. */
  handlerQueue: SignalName[] = [];
  /** Set while stopped: resolves on SIGCONT. `byOperator`: only an operator's SIGCONT ends this stop. */
  private stopGate: { promise: Promise<void>; resolve: () => void; byOperator: boolean } | undefined;
  /** Timers owned by this process (SIGTERM grace, wall-time limit), cleared at exit. */
  readonly timers = new Set<NodeJS.Timeout>();
  private resolveExit!: (record: ExitRecord) => void;

  constructor(pid: number, ppid: number, lineage: Lineage, program: string, limits: ProcessLimits, labels: Readonly<Record<string, string>> = {}) {
    this.pid = pid;
    this.labels = labels;
    this.ppid = ppid;
    this.lineage = lineage;
    this.agentId = lineage.agentId;
    this.program = program;
    this.limits = limits;
    this.exited = new Promise((resolve) => {
      this.resolveExit = resolve;
    });
  }

  /** endedSignal aborts when the process ends: one per process, for work done on its behalf that must stop with it. */
  get endedSignal(): AbortSignal {
    return this.ending.signal;
  }

  get stopped(): boolean {
    return this.stopGate !== undefined;
  }

  /** stoppedByOperator: the process is stopped and an operator stopped it (a process's SIGCONT does not resume it). */
  get stoppedByOperator(): boolean {
    return this.stopGate?.byOperator === true;
  }

  /** stop marks the process stopped; its next syscall waits for resume(). A stop `byOperator` outranks one by a process. */
  stop(byOperator = false): void {
    if (this.stopGate !== undefined) {
      if (byOperator) this.stopGate.byOperator = true;
      return;
    }
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    this.stopGate = { promise, resolve, byOperator };
    this.state = 'stopped';
    this.sandbox?.hold?.(true);
  }

  /** resume ends a stop. */
  resume(): void {
    const gate = this.stopGate;
    if (gate === undefined) return;
    this.stopGate = undefined;
    if (this.state === 'stopped') this.state = 'blocked';
    this.sandbox?.hold?.(false);
    gate.resolve();
  }

  /** continued resolves when the process is no longer stopped. */
  continued(): Promise<void> {
    return this.stopGate?.promise ?? Promise.resolve();
  }

  /**
   * addTimer keeps a timer that is cleared when the process ends. Past
   * MAX_TIMER_MS it is armed again for the rest (Node fires a longer timer at
   * once: a wall_ms of 3,000,000,000 killed the program at its start).
   */
  addTimer(ms: number, fire: () => void): void {
    const step = Math.min(ms, MAX_TIMER_MS);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (ms > step) this.addTimer(ms - step, fire);
      else fire();
    }, step);
    this.timers.add(timer);
  }

  /** end records the exit once; later calls are ignored. */
  end(record: ExitRecord): boolean {
    if (this.exit !== undefined) return false;
    this.exit = record;
    this.state = 'exited';
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.stopGate?.resolve();
    this.stopGate = undefined;
    this.signals.events.complete();
    this.resolveExit(record);
    this.ending.abort();
    return true;
  }

  /** child: spawned by another process of its tree (not the tree's root). */
  get child(): boolean {
    return this.pid !== this.lineage.rootPid;
  }

  info(tree?: TreeUsage): ProcessInfo {
    return {
      pid: this.pid,
      ppid: this.ppid,
      agentId: this.agentId,
      state: this.state,
      program: this.program,
      syscalls: this.syscalls,
      openFds: this.fds?.size ?? 0,
      startedAt: this.startedAt,
      pendingSignals: namesOf(this.signals.pending),
      ...(this.exit ? { status: this.exit.status, exitReason: this.exit.reason } : {}),
      ...(tree ? { tree } : {}),
      ...(Object.keys(this.labels).length > 0 ? { labels: { ...this.labels } } : {}),
    };
  }
}
