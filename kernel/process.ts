/**
 * Process is one running agent program: pid, agent id, parent, state and,
 * once it has ended, its exit record. States: running (executing or making a
 * syscall), blocked (idle, waiting on a promise), stopped (reserved for
 * SIGSTOP), exited (a zombie until waited for).
 */
import type { SignalName } from '../signals/signal-table.ts';
import type { FdTable } from './fd-table.ts';
import type { Sandbox } from './sandbox.ts';

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
  readonly status?: number;
}

export class Process {
  readonly pid: number;
  readonly ppid: number;
  readonly agentId: string;
  readonly program: string;
  readonly startedAt = Date.now();
  readonly exited: Promise<ExitRecord>;
  state: ProcessState = 'running';
  syscalls = 0;
  exit: ExitRecord | undefined;
  sandbox: Sandbox | undefined;
  fds: FdTable | undefined;
  private resolveExit!: (record: ExitRecord) => void;

  constructor(pid: number, ppid: number, agentId: string, program: string) {
    this.pid = pid;
    this.ppid = ppid;
    this.agentId = agentId;
    this.program = program;
    this.exited = new Promise((resolve) => {
      this.resolveExit = resolve;
    });
  }

  /** end records the exit once; later calls are ignored. */
  end(record: ExitRecord): boolean {
    if (this.exit !== undefined) return false;
    this.exit = record;
    this.state = 'exited';
    this.resolveExit(record);
    return true;
  }

  info(): ProcessInfo {
    return {
      pid: this.pid,
      ppid: this.ppid,
      agentId: this.agentId,
      state: this.state,
      program: this.program,
      syscalls: this.syscalls,
      openFds: this.fds?.size ?? 0,
      startedAt: this.startedAt,
      ...(this.exit ? { status: this.exit.status } : {}),
    };
  }
}
