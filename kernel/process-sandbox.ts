/**
 * The contract between the kernel and a process's sandbox, wherever its
 * isolate lives: what the kernel hands it (the boot record, the hooks its
 * syscalls and events go through), what it can ask of it (ProcessSandbox),
 * and how it ends (SandboxEnd). sandbox.ts runs it in the kernel's process;
 * kernel/hosts runs it in a sandbox host process.
 */
import type { LeaseHooks } from './hosts/leases.ts';
import type { CallScope } from '../syscalls/context.ts';
import type { Reply } from '../syscalls/dispatch.ts';
import type { FdArgument } from '../syscalls/table.ts';

/** How a sandbox's program ended, as far as the isolate can tell. */
export type SandboxEnd =
  /** main settled, nothing ran and nothing referenced was outstanding: the process ends with `status` (0, or process.exitCode). */
  | { readonly kind: 'returned'; readonly status: number }
  /** An uncaught error ended it: status 1, or 7 when a program's 'uncaughtException' listener threw (as in Node). */
  | { readonly kind: 'threw'; readonly error: string; readonly status?: 1 | 7 }
  | { readonly kind: 'memory-limit' }
  /** V8 hit a catastrophic out-of-memory path; isolated-vm quarantined the isolate instead of aborting the process. */
  | { readonly kind: 'catastrophic'; readonly message: string }
  /** The sandbox host process the isolate lived in died (kernel/hosts): what it was running is lost. */
  | { readonly kind: 'lost'; readonly why: string };

/**
 * ProcessSandbox is what the kernel uses of a process's sandbox: a Sandbox
 * (sandbox.ts: an isolate in the kernel's own process), or a RemoteSandbox
 * (kernel/hosts: an isolate in a sandbox host process).
 */
export interface ProcessSandbox {
  /** compile compiles the program on the calling thread. ENOEXEC. */
  compile(): void;
  /** compileAsync compiles the program off the event loop. ENOEXEC, EINTR. */
  compileAsync(): Promise<void>;
  /** start runs the program; settles when its synchronous part is done. */
  start(): Promise<void>;
  /** deliver runs the agent's handlers for `signals`. */
  deliver(signals: readonly string[]): Promise<void>;
  /** cancel aborts outstanding asynchronous call `id`; false if there is none. */
  cancel(id: number): boolean | Promise<boolean>;
  /** idle: the program's synchronous part is done and nothing runs in the isolate. */
  readonly idle: boolean;
  /** blockedInSyscall: the isolate is asleep waiting for a blocked call's reply. */
  readonly blockedInSyscall: boolean;
  /** waitsOnNothing: idle, main not settled, and no call outstanding or held: only a signal can wake the program (false where it cannot be told: a sandbox host's). */
  readonly waitsOnNothing: boolean;
  /** cpuTimeNs is the CPU time the program has used. */
  readonly cpuTimeNs: bigint;
  readonly disposed: boolean;
  /** dispose stops the isolate at once, even mid-loop. Idempotent. */
  dispose(): void;
  /**
   * quarantine is told the isolate took V8's catastrophic path: true when
   * only its sandbox host is affected (it is drained and replaced), false
   * when the isolate lived in the kernel's own process.
   */
  quarantine(): boolean;
  /** revokeLease: calls the sandbox's host may run itself go to the kernel again (kernel/hosts/leases.ts); a sandbox in the kernel's own process has none. */
  revokeLease?(): void;
  /** hold: the process is stopped (true) or continued (false); completions of calls a host ran itself wait while it is stopped. */
  hold?(stopped: boolean): void;
}

export interface BootRecord {
  readonly SYS: Readonly<Record<string, number>>;
  /** The most entries one SYS_READDIR returns. */
  readonly readdirPage: number;
  /** The calls that bring data back (the kernel runs MAX_DATA_CALLS of them at a time, answering `busy` past it) and the arguments that name fds (syscalls/table.ts FD_ARGUMENTS): ring 3 lets a call go past calls waiting in it unless it is one of the former behind another, or names an fd one of them names. */
  readonly dataCalls: readonly number[];
  readonly fdArguments: Readonly<Record<number, readonly FdArgument[]>>;
  /** The most bytes one SYS_WRITE carries. */
  readonly writeMax: number;
  /** What the runtime lets cross in one syscall's arguments: string units and bytes, values, nesting. */
  readonly argUnits: number;
  readonly argNodes: number;
  readonly argDepth: number;
  readonly argv: readonly string[];
  /** The program's name, for process.argv[1]. */
  readonly program: string;
  /** The name a built program's frames carry (agent-stack.ts bundleName), when it has a source map: ring 3 maps them (the `source-map` layer). */
  readonly bundle?: string;
  /** The runtime layers run before the program's first line (program-layers.ts). */
  readonly layers?: readonly string[];
  /** The program names globals whose first use compiles much of a layer (program-layers.ts commonPaths): its layers come with their warm code caches. Read by the kernel's side only. */
  readonly commonPaths?: boolean;
  readonly env: Readonly<Record<string, string>>;
  readonly pid: number;
  readonly ppid: number;
  readonly agentId: string;
}

export interface SandboxHooks {
  /**
   * syscall runs one syscall; `mode` says whether the caller sleeps for it (blocking) or gets a completion (async);
   * `bytes` is what its arguments count, if the caller weighed them (crossing-turn.ts callBytes: at least their
   * encoding's size; a Sandbox always does).
   */
  syscall(nr: unknown, args: unknown[], call: CallScope, mode: 'blocking' | 'async', bytes?: number): Reply;
  /** end is called at most once, when the program's main settles or the isolate dies on its own. */
  end(how: SandboxEnd): void;
  /** idle is called when nothing runs in the isolate and the process goes on (main unsettled, or something outstanding). */
  idle(): void;
  /**
   * crowded says why an asynchronous call of `bytes` (crossing-turn.ts callBytes) cannot go now though others of this
   * sandbox are on their way (a sandbox host's channel to the kernel holds their share): it is answered busy, and the
   * hooks' owner calls the sandbox's nudge() once those have left. Absent: never.
   */
  crowded?(bytes: number): string | undefined;
  /** charge bills the process's tree for kernel work done on the event loop for it (loading a runtime layer), ns. */
  charge(ns: number): void;
  /** undelivered gives back handler signals a sandbox host could not deliver (its isolate was running): they wait for the next reply or idle. */
  undelivered?(signals: readonly string[]): void;
  /** leases lets a sandbox host run some calls itself (kernel/hosts/leases.ts); absent: every call comes to the kernel. */
  readonly leases?: LeaseHooks;
  /**
   * stuck: the isolate's thread still ran STUCK_MS after its disposal. isolated-vm runs some of a program's code where a
   * disposal cannot stop it (reading the reason of a promise left rejected at the end of a call); such a thread runs on
   * for good, and the process that holds it cannot end cleanly. Called at most once, after the end.
   */
  stuck?(why: string): void;
}
