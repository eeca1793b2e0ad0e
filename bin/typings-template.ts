/**
 * The hand-written part of userspace/agent.d.ts (bin/gen-typings.ts appends
 * it to what it generates from the tables): the result shapes the kernel
 * returns, the `sys` wrappers of userspace/runtime/sys.js, and the globals
 * `sys`, `SYS` and `syscall`. It may use the generated types (Errno,
 * SignalName, CatchableSignal, SyscallName, SyscallNumbers, SyscallsByNumber,
 * SyscallArgs, SyscallArgsByName, SyscallResults); keep it in step with
 * sys.js by hand.
 */
export const SYS_TEMPLATE = `
/** Plain data, as a structured argument (SYS_EXEC's args, SYS_CHECKPOLICY's args) may hold it. */
type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/** The raw reply of \`syscall()\`: a value or a fault. */
type SyscallReply<T = unknown> = { v: T } | { errno: Errno; message: string };

/** fopen-style open flags. */
type OpenFlags = SyscallArgsByName['SYS_OPEN']['flags'];

/** What SYS_SPAWN's options may hold: capabilities (no wider than the caller's), labels, and caller fds for the child's stdin/stdout/stderr. */
type SpawnOptions = NonNullable<SyscallArgsByName['SYS_SPAWN']['options']>;

/** What became of a signal sent with \`sys.kill\`. */
type SignalOutcome = 'pending' | 'delivered' | 'handled' | 'ignored' | 'stopped' | 'continued' | 'terminated' | 'checkpointed';

interface FileStat {
  type: 'file' | 'dir';
  size: number;
  mtimeMs: number;
}

interface DirEntry {
  name: string;
  type: 'file' | 'dir';
}

/** What a tool call returns: its output (plain JSON data), the output's size and the time the tool took. */
interface ToolResult {
  tool: string;
  output: unknown;
  bytes: number;
  ms: number;
}

/** A child's exit as its parent sees it: status 128 + N when signal N killed it. */
interface WaitResult {
  pid: number;
  status: number;
  signal: SignalName | null;
}

/** A snapshot of mem/ under state/checkpoints/<n>. */
interface CheckpointInfo {
  n: number;
  path: string;
  bytes: number;
  files: number;
}

/** Whether a call would be allowed, and by which rule. */
interface PolicyAnswer {
  effect: 'allow' | 'deny' | 'require_approval';
  rule: string;
  reason: string;
  policyVersion: string | null;
}

/** Thrown by every \`sys.*\` call that fails (and the rejection of every \`sys.async.*\` one). */
interface SyscallError extends Error {
  readonly name: 'SyscallError';
  readonly errno: Errno;
  readonly syscall: SyscallName;
}

/** Options of the \`sys.async\` calls that can be canceled: aborting \`signal\` cancels the call (SYS_CANCEL) and rejects its promise with the signal's reason. */
interface CancelOptions {
  signal?: AbortSignal;
}

/** The libc-like wrappers, blocking form: the isolate sleeps until the reply (timers and promises wait too). */
interface Sys {
  readonly SyscallError: new (syscall: SyscallName, fault: { errno: Errno; message: string }) => SyscallError;
  /** Arguments given after \`--\` on \`agentctl run\`. */
  readonly args: readonly string[];
  readonly pid: number;
  /** The agent id; the agent's tree is /agent/<agentId>, and relative paths start there. */
  readonly agentId: string;
  /** open returns an fd; flags default to 'r'. */
  open(path: string, flags?: OpenFlags): number;
  /** read returns up to \`length\` bytes (default 65536); an empty array is end of file. */
  read(fd: number, length?: number): Uint8Array;
  /** write returns the number of bytes written; fd 1 and 2 are the operator's stdout and stderr. */
  write(fd: number, data: string | Uint8Array): number;
  close(fd: number): void;
  stat(path: string): FileStat;
  /** readdir lists a whole directory (default '.'), a page (SYS_READDIR) at a time. */
  readdir(path?: string): DirEntry[];
  mkdir(path: string, options?: { recursive?: boolean }): void;
  /** unlink removes a file or an empty directory. */
  unlink(path: string): void;
  getpid(): number;
  /** exit ends the process with \`code\` (0–255, default 0) at once. */
  exit(code?: number): never;
  /**
   * exec runs a registered tool through the kernel: capability \`tool:<name>\`,
   * then policy (on the tool name and its arguments), then the tool under its
   * time and output limits. \`args\` must match the tool's JSON Schema.
   * EACCES, ENOENT (no such tool), EINVAL (schema error), ETIMEDOUT, EFBIG
   * (output over the limit), EIO (the tool failed). \`tools.list\` lists tools.
   */
  exec(tool: string, args?: unknown): ToolResult;
  /** kill sends a signal to a child (or any process, with signal:any); returns the outcome. */
  kill(pid: number, signal: SignalName | number): SignalOutcome;
  readonly signal: {
    /** on runs \`handler\` when a catchable signal arrives (at a syscall, or at once if the agent is idle). */
    on(signal: CatchableSignal, handler: (signal: CatchableSignal) => void | Promise<void>): void;
    ignore(signal: CatchableSignal): void;
    reset(signal: CatchableSignal): void;
    /** mask holds signals pending and returns the mask in force (unblockable signals are never in it). */
    mask(signals: readonly SignalName[]): SignalName[];
    unmask(signals: readonly SignalName[]): SignalName[];
    setMask(signals: readonly SignalName[]): SignalName[];
  };
  /** spawn starts a child from a program path in this agent's tree, or a program the operator registered; returns its pid. */
  spawn(program: string, argv?: readonly string[], options?: SpawnOptions): number;
  /** wait blocks until child \`pid\` exits and reaps it. ECHILD if it is not a child. */
  wait(pid: number): WaitResult;
  /** pipe returns [readFd, writeFd]: 64 KiB, blocking, EPIPE without readers. */
  pipe(): [number, number];
  /** checkpoint snapshots mem/ under state/checkpoints/<n> (as SIGUSR1 does). */
  checkpoint(): CheckpointInfo;
  /** sleep blocks the whole isolate for \`ms\` (timers and promises wait too); prefer \`await sys.async.sleep(ms)\`. */
  sleep(ms: number): void;
  /** random returns \`length\` (1–65536) bytes from the kernel's cryptographic generator. */
  random(length: number): Uint8Array;
  /** checkPolicy: would \`syscall\` with \`args\` (array, or object by argument name) be allowed? Nothing runs. */
  checkPolicy<N extends SyscallName>(syscall: N, args?: SyscallArgs[N] | SyscallArgsByName[N]): PolicyAnswer;
  /** readFile reads a whole file as UTF-8 text. */
  readFile(path: string): string;
  /** readFileBytes reads a whole file as bytes. */
  readFileBytes(path: string): Uint8Array;
  /** writeFile replaces a file's contents with \`data\` (text or bytes, any size: written a piece at a time). */
  writeFile(path: string, data: string | Uint8Array): void;
  /** appendFile adds \`data\` to the end of a file, creating it if needed. */
  appendFile(path: string, data: string | Uint8Array): void;
  encodeUtf8(text: string): Uint8Array;
  decodeUtf8(bytes: Uint8Array): string;
  /** The same calls as promises: many can be outstanding, and the isolate keeps running meanwhile. */
  readonly async: SysAsync;
}

/** The promise forms of the \`sys\` calls; a failure rejects with a SyscallError. */
interface SysAsync {
  open(path: string, flags?: OpenFlags, options?: CancelOptions): Promise<number>;
  read(fd: number, length?: number, options?: CancelOptions): Promise<Uint8Array>;
  write(fd: number, data: string | Uint8Array, options?: CancelOptions): Promise<number>;
  close(fd: number): Promise<0>;
  stat(path: string): Promise<FileStat>;
  readdir(path?: string): Promise<DirEntry[]>;
  mkdir(path: string, options?: { recursive?: boolean }): Promise<0>;
  unlink(path: string): Promise<0>;
  exec(tool: string, args?: unknown, options?: CancelOptions): Promise<ToolResult>;
  spawn(program: string, argv?: readonly string[], options?: SpawnOptions): Promise<number>;
  wait(pid: number, options?: CancelOptions): Promise<WaitResult>;
  checkpoint(): Promise<CheckpointInfo>;
  /** sleep resolves after \`ms\` without blocking the isolate (SYS_TIMER). */
  sleep(ms: number, options?: CancelOptions): Promise<undefined>;
  random(length: number): Promise<Uint8Array>;
  readFile(path: string): Promise<string>;
  readFileBytes(path: string): Promise<Uint8Array>;
  writeFile(path: string, data: string | Uint8Array): Promise<void>;
  appendFile(path: string, data: string | Uint8Array): Promise<void>;
}

/** The argument list \`syscall(nr, ...)\` takes: the row's, for a known number. */
type SyscallArgsOf<Nr extends number> = Nr extends keyof SyscallsByNumber ? SyscallArgs[SyscallsByNumber[Nr]] : unknown[];
/** What \`syscall(nr, ...)\` replies with: the row's result, for a known number. */
type SyscallResultOf<Nr extends number> = Nr extends keyof SyscallsByNumber ? SyscallResults[SyscallsByNumber[Nr]] : unknown;

declare const sys: Sys;
/** Syscall numbers by name. */
declare const SYS: SyscallNumbers;
/**
 * syscall is the raw syscall instruction: it never throws for a kernel error
 * but returns a fault instead (ENOSYS for an unknown number). The blocking
 * form: the isolate sleeps until the reply.
 */
declare function syscall<Nr extends number>(nr: Nr, ...args: SyscallArgsOf<Nr>): SyscallReply<SyscallResultOf<Nr>>;
`;
