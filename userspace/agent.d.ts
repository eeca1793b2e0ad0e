/**
 * Typings for agent programs. An agent program is a plain script (top-level
 * `await` allowed) that runs inside its own isolate; these globals are all it
 * has besides the JavaScript built-ins. Reference this file from an agent
 * with `/// <reference path="../userspace/agent.d.ts" />` or list it in the
 * agent project's tsconfig `files`.
 */

/** Errno names a syscall can fail with. */
type Errno =
  | 'EPERM' | 'ENOENT' | 'ESRCH' | 'EIO' | 'ENOEXEC' | 'EBADF' | 'EAGAIN' | 'ENOMEM' | 'EACCES' | 'EEXIST'
  | 'ENOTDIR' | 'EISDIR' | 'EINVAL' | 'EMFILE' | 'EFBIG' | 'ENOSPC' | 'EROFS' | 'ENAMETOOLONG' | 'ENOSYS' | 'ENOTEMPTY'
  | 'EINTR' | 'EPIPE' | 'ECHILD' | 'ETIMEDOUT';

type SyscallName =
  | 'SYS_READ' | 'SYS_WRITE' | 'SYS_OPEN' | 'SYS_CLOSE' | 'SYS_STAT' | 'SYS_READDIR' | 'SYS_MKDIR'
  | 'SYS_UNLINK' | 'SYS_GETPID' | 'SYS_EXIT' | 'SYS_EXEC' | 'SYS_SIGNAL' | 'SYS_CHECKPOLICY'
  | 'SYS_SIGACTION' | 'SYS_SIGPROCMASK' | 'SYS_SPAWN' | 'SYS_WAIT' | 'SYS_PIPE' | 'SYS_CHECKPOINT';

/** Signal names; SIGKILL, SIGPOLICY and SIGTRUST can be neither caught, ignored nor masked. */
type SignalName = 'SIGSTOP' | 'SIGCONT' | 'SIGINT' | 'SIGKILL' | 'SIGTERM' | 'SIGUSR1' | 'SIGPOLICY' | 'SIGTRUST';

/** The raw reply of `syscall()`: a value or a fault. */
type SyscallReply<T = unknown> = { v: T } | { errno: Errno; message: string };

/** fopen-style open flags. */
type OpenFlags = 'r' | 'r+' | 'w' | 'w+' | 'a' | 'a+';

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

/** Thrown by every `sys.*` call that fails. */
interface SyscallError extends Error {
  readonly name: 'SyscallError';
  readonly errno: Errno;
  readonly syscall: SyscallName;
}

interface Sys {
  readonly SyscallError: new (syscall: SyscallName, fault: { errno: Errno; message: string }) => SyscallError;
  /** Arguments given after `--` on `agentctl run`. */
  readonly args: readonly string[];
  readonly pid: number;
  /** The agent id; the agent's tree is /agent/<agentId>, and relative paths start there. */
  readonly agentId: string;
  open(path: string, flags?: OpenFlags): number;
  /** read returns up to `length` bytes (default 65536); an empty array is end of file. */
  read(fd: number, length?: number): Uint8Array;
  write(fd: number, data: string | Uint8Array): number;
  close(fd: number): void;
  stat(path: string): FileStat;
  readdir(path?: string): DirEntry[];
  mkdir(path: string, options?: { recursive?: boolean }): void;
  unlink(path: string): void;
  getpid(): number;
  /** exit ends the process with `code` (0–255) at once. */
  exit(code?: number): never;
  /**
   * exec runs a registered tool through the kernel: capability `tool:<name>`,
   * then policy (on the tool name and its arguments), then the tool under its
   * time and output limits. `args` must match the tool's JSON Schema.
   * EACCES, ENOENT (no such tool), EINVAL (schema error), ETIMEDOUT, EFBIG
   * (output over the limit), EIO (the tool failed). `tools.list` lists tools.
   */
  exec(tool: string, args?: unknown): ToolResult;
  /** kill sends a signal to a child (or any process, with signal:any); returns the outcome. */
  kill(pid: number, signal: SignalName | number): 'pending' | 'delivered' | 'ignored' | 'stopped' | 'continued' | 'terminated' | 'checkpointed';
  readonly signal: {
    /** on runs `handler` when the signal arrives (at a syscall, or at once if the agent is idle). SIGINT, SIGTERM, SIGUSR1. */
    on(signal: SignalName, handler: (signal: SignalName) => void | Promise<void>): void;
    ignore(signal: SignalName): void;
    reset(signal: SignalName): void;
    /** mask holds signals pending and returns the mask in force. */
    mask(signals: SignalName[]): SignalName[];
    unmask(signals: SignalName[]): SignalName[];
    setMask(signals: SignalName[]): SignalName[];
  };
  /** spawn starts a child from a program path in this agent's tree, or a program the operator registered. */
  spawn(program: string, argv?: string[], options?: { capabilities?: string[]; labels?: Record<string, string>; stdin?: number; stdout?: number; stderr?: number }): number;
  /** wait blocks until child `pid` exits. */
  wait(pid: number): { pid: number; status: number; signal: SignalName | null };
  /** pipe returns [readFd, writeFd]: 64 KiB, blocking, EPIPE without readers. */
  pipe(): [number, number];
  /** checkpoint snapshots mem/ under state/checkpoints/<n> (as SIGUSR1 does). */
  checkpoint(): { n: number; path: string; bytes: number; files: number };
  /** checkPolicy: would `syscall` with `args` (array, or object by argument name) be allowed? Nothing runs. */
  checkPolicy(syscall: SyscallName, args?: unknown): { effect: "allow" | "deny" | "require_approval"; rule: string; reason: string; policyVersion: string | null };
  readFile(path: string): string;
  writeFile(path: string, data: string | Uint8Array): void;
  appendFile(path: string, data: string | Uint8Array): void;
  encodeUtf8(text: string): Uint8Array;
  decodeUtf8(bytes: Uint8Array): string;
}

declare const sys: Sys;
/** Syscall numbers by name. */
declare const SYS: Readonly<Record<SyscallName, number>>;
/** The raw syscall instruction: never throws for a kernel error, returns a fault instead. */
declare function syscall(nr: number, ...args: unknown[]): SyscallReply;
/** console.log/info/debug write to fd 1, console.error/warn to fd 2. */
declare const console: {
  log(...values: unknown[]): void;
  info(...values: unknown[]): void;
  debug(...values: unknown[]): void;
  error(...values: unknown[]): void;
  warn(...values: unknown[]): void;
};
