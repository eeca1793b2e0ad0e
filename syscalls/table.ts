/**
 * The syscall table: one row per syscall, numbers fixed here once. A row is
 * data — number, name, argument schema, policy point, implementation, note —
 * and nothing registers a syscall anywhere else. The dispatcher runs the same
 * pipeline for every row (decode → authorize → record → implementation).
 */
import { bool, bytes, type Decoded, int, json, list, oneOf, optional, type Schema, shape, str, stringRecord } from './schema.ts';
import { ARG_LIMITS } from '../abi/limits.ts';
import type { CallScope, SyscallContext } from './context.ts';
import type { Access, Resource } from '../abi/kinds.ts';
import { sysCheckpolicy } from './handlers/checkpolicy.ts';
import { sysClose } from './handlers/close.ts';
import { sysExec } from './handlers/exec.ts';
import { sysExit } from './handlers/exit.ts';
import { sysGetpid } from './handlers/getpid.ts';
import { sysMkdir } from './handlers/mkdir.ts';
import { sysOpen } from './handlers/open.ts';
import { sysRead } from './handlers/read.ts';
import { sysReaddir } from './handlers/readdir.ts';
import { sysStat } from './handlers/stat.ts';
import { sysUnlink } from './handlers/unlink.ts';
import { sysCheckpoint } from './handlers/checkpoint.ts';
import { sysPipe } from './handlers/pipe.ts';
import { sysSigaction } from './handlers/sigaction.ts';
import { sysSignal } from './handlers/signal.ts';
import { sysSigprocmask } from './handlers/sigprocmask.ts';
import { sysSpawn } from './handlers/spawn.ts';
import { sysWait } from './handlers/wait.ts';
import { sysWrite } from './handlers/write.ts';
import { sysTimer } from './handlers/timer.ts';
import { sysCancel } from './handlers/cancel.ts';
import { sysRandom } from './handlers/random.ts';

/**
 * PolicyPoint says what resource a row touches, for the authorizer and the
 * recorder: a path argument, an fd the caller holds, the caller itself, a
 * tool or another process; and whether the call reads or changes something.
 */
export type PolicyPoint = {
  /** program: a registered program's name, or a VFS path that is read (and so authorized as a path). */
  readonly resource: Resource;
  /** read: no effect outside the kernel's answer; write: changes something; by-flags: open decides. */
  readonly access: Access | 'by-flags';
};

/** Implementation runs an allowed call; a handler is given only the part of the process `C` it declares (a Pick of SyscallContext). */
export type Implementation<S extends Schema, C = SyscallContext> =
  | { readonly kind: 'handler'; readonly run: (ctx: C, args: Decoded<S>, call: CallScope) => unknown }
  | { readonly kind: 'enosys'; readonly until: string };

export interface SyscallRow<N extends string = string, S extends Schema = Schema, P extends PolicyPoint = PolicyPoint, C = SyscallContext, W extends Runs = Runs> {
  readonly nr: number;
  readonly name: N;
  readonly args: S;
  readonly argNames: readonly string[];
  readonly policy: P;
  readonly impl: Implementation<S, C>;
  readonly note: string;
  /**
   * Who may run an allowed call: `kernel`, always the kernel; `host`, also a
   * sandbox host, by itself, while it holds the kernel's lease for the
   * caller (kernel/hosts/leases.ts). A `host` row uses only what the host
   * has (HostCallContext) and has no effect outside the calling process.
   */
  readonly runs: W;
}

export type Runs = 'kernel' | 'host';

type Enosys = { readonly kind: 'enosys'; readonly until: string };

function row<const N extends string, const S extends Schema, const P extends PolicyPoint, C extends Partial<SyscallContext> = SyscallContext, const W extends Runs = 'kernel'>(
  nr: number,
  name: N,
  args: S,
  policy: P,
  run: ((ctx: C, args: Decoded<NoInfer<S>>, call: CallScope) => unknown) | Enosys,
  note: string,
  runs?: W,
): SyscallRow<N, S, P, C, W> {
  const impl: Implementation<S, C> = typeof run === 'function' ? { kind: 'handler', run } : run;
  return Object.freeze({ nr, name, args, argNames: Object.freeze(Object.keys(args)), policy, impl, note, runs: runs ?? ('kernel' as W) });
}

const FD = int(0, 1 << 20);
/** The most directory entries one SYS_READDIR returns. */
export const READDIR_PAGE: number = 1024;
const PATH = str(ARG_LIMITS.pathBytes);
const AFTER = optional(str(ARG_LIMITS.pathBytes), '');
const PAGE = optional(int(1, READDIR_PAGE), READDIR_PAGE);
const MODE = oneOf('r', 'r+', 'w', 'w+', 'a', 'a+');
const PID = int(1, 2 ** 31 - 1);
const RECURSIVE = optional(bool, false);
const JSON_ARGS = optional(json(), null);
const SIGNAL = str(32);
const SIGNAL_LIST = list(SIGNAL, 16);
const SIG_ACTION = oneOf('default', 'ignore', 'handle');
const MASK_HOW = oneOf('block', 'unblock', 'set');
const ARGV = optional(list(str(ARG_LIMITS.stringBytes), 256), []);
const FD_OPT = int(0, 1 << 20);
/** The options of SYS_SPAWN that name fds of the caller's (FD_ARGUMENTS). */
const SPAWN_FD_OPTIONS = ['stdin', 'stdout', 'stderr'] as const;
const SPAWN_OPTIONS = optional(
  shape({ capabilities: list(str(512), 256), labels: stringRecord(64, 256), stdin: FD_OPT, stdout: FD_OPT, stderr: FD_OPT }),
  {},
);

// prettier-ignore
export const SYSCALL_TABLE = [
  row(0,  'SYS_READ',        { fd: FD, length: int(0, ARG_LIMITS.ioBytes) },                             { resource: 'fd', access: 'read' },       sysRead,        'read up to length bytes; fd 0 is the operator stdin (end of file for now)'),
  row(1,  'SYS_WRITE',       { fd: FD, data: bytes(ARG_LIMITS.ioBytes) },                                { resource: 'fd', access: 'write' },      sysWrite,       'fd 1 and 2 are the operator stdout and stderr'),
  row(2,  'SYS_OPEN',        { path: PATH, flags: MODE },                                                { resource: 'path', access: 'by-flags' }, sysOpen,        'flags as in fopen: r r+ w w+ a a+'),
  row(3,  'SYS_CLOSE',       { fd: FD },                                                                 { resource: 'fd', access: 'none' },       sysClose,       'closing 0, 1 or 2 is allowed'),
  row(4,  'SYS_STAT',        { path: PATH },                                                             { resource: 'path', access: 'read' },     sysStat,        'type, size, mtimeMs'),
  row(5,  'SYS_READDIR',     { path: PATH, after: AFTER, limit: PAGE },                                  { resource: 'path', access: 'read' },     sysReaddir, 'one page: up to limit (at most 1,024) entries named after `after`, sorted by name (code point order), mount points included; on Redis a page costs a page'),
  row(6,  'SYS_MKDIR',       { path: PATH, recursive: RECURSIVE },                                       { resource: 'path', access: 'write' },    sysMkdir,       'recursive creates parents'),
  row(7,  'SYS_UNLINK',      { path: PATH },                                                             { resource: 'path', access: 'write' },    sysUnlink,      'files and empty directories'),
  row(8,  'SYS_GETPID',      {},                                                                         { resource: 'self', access: 'read' },     sysGetpid,      'never fails',                                                                                   'host'),
  row(9,  'SYS_EXIT',        { code: int(0, 255) },                                                      { resource: 'self', access: 'write' },    sysExit,        'the isolate stops as the call returns'),
  row(10, 'SYS_EXEC',        { tool: str(256), args: JSON_ARGS },                                        { resource: 'tool', access: 'write' },    sysExec,        "args checked against the tool's schema; policy sees the tool and its arguments; a slow tool blocks only its caller"),
  row(11, 'SYS_SIGNAL',      { pid: PID, signal: SIGNAL },                                               { resource: 'process', access: 'write' }, sysSignal,      'own children, or any process with signal:any; returns the outcome'),
  row(12, 'SYS_CHECKPOLICY', { syscall: str(64), args: JSON_ARGS },                                      { resource: 'self', access: 'read' },     sysCheckpolicy, 'would this call be allowed? args: positional array or object by name; nothing runs'),
  row(13, 'SYS_SIGACTION',   { signal: SIGNAL, action: SIG_ACTION },                                     { resource: 'self', access: 'write' },    sysSigaction,   'catchable: SIGINT SIGTERM SIGUSR1; the runtime keeps the handler'),
  row(14, 'SYS_SIGPROCMASK', { how: MASK_HOW, signals: SIGNAL_LIST },                                    { resource: 'self', access: 'write' },    sysSigprocmask, 'unblockable signals are silently left out'),
  row(15, 'SYS_SPAWN',       { program: str(ARG_LIMITS.pathBytes), argv: ARGV, options: SPAWN_OPTIONS }, { resource: 'program', access: 'write' }, sysSpawn,       'a registered program, or a VFS path read as SYS_OPEN would; the child runs as its tree\'s agent; capabilities no wider than the caller; stdin/stdout/stderr: caller fds'),
  row(16, 'SYS_WAIT',        { pid: PID },                                                               { resource: 'process', access: 'read' },  sysWait,        'blocks until the child exits; reaps it'),
  row(17, 'SYS_PIPE',        {},                                                                         { resource: 'self', access: 'none' },     sysPipe,        '64 KiB, blocking reads and writes, EPIPE without readers'),
  row(18, 'SYS_CHECKPOINT',  {},                                                                         { resource: 'self', access: 'write' },    sysCheckpoint,  'as SIGUSR1: snapshot mem/ to state/checkpoints/<n>'),
  row(19, 'SYS_TIMER',       { ms: int(0, 2 ** 31 - 1) },                                                { resource: 'self', access: 'none' },     sysTimer,       'completes after ms; the event loop\'s timers ride on it; past the tree\'s syscall rate it waits for the next second instead of failing', 'host'),
  row(20, 'SYS_CANCEL',      { id: int(1, 2 ** 31 - 1) },                                                { resource: 'self', access: 'none' },     sysCancel,      'cancels one of the caller\'s outstanding asynchronous calls (it completes with ECANCELED); false if none', 'host'),
  row(21, 'SYS_RANDOM',      { length: int(1, 65536) },                                                  { resource: 'self', access: 'read' },     sysRandom,      'bytes from the kernel\'s cryptographic generator (crypto.getRandomValues and randomUUID ride on it)', 'host'),
] as const;

export type AnyRow = (typeof SYSCALL_TABLE)[number];

/** HandlerNeeds is what row `R`'s handler uses of the calling process (nothing for a row not implemented yet). */
export type HandlerNeeds<R extends AnyRow> = Extract<R['impl'], { readonly kind: 'handler' }> extends { readonly run: (ctx: infer C, ...rest: never[]) => unknown } ? C : object;
export type SyscallName = AnyRow['name'];

/** HostCallContext is all a sandbox host has of a caller to run a `host` row with. */
export type HostCallContext = Pick<SyscallContext, 'pid' | 'randomBytes' | 'sleep' | 'cancel'>;

/** HostRow is a row a sandbox host may run; it fails to compile if such a row's handler needs more than HostCallContext. */
export type HostRow = Extract<AnyRow, { readonly runs: 'host' }>;
/** The names of `host` rows whose handler needs more than a host has. */
type HostMisfits<R extends AnyRow> = R extends { readonly runs: 'host' } ? (HostCallContext extends HandlerNeeds<R> ? never : R['name']) : never;
const HOST_ROWS_FIT: [HostMisfits<AnyRow>] extends [never] ? true : { readonly needsMoreThanAHostHas: HostMisfits<AnyRow> } = true;
void HOST_ROWS_FIT;

/** ROW_BY_NR indexes the table by syscall number. */
export const ROW_BY_NR: readonly (AnyRow | undefined)[] = (() => {
  const out: (AnyRow | undefined)[] = [];
  for (const r of SYSCALL_TABLE) {
    if (out[r.nr] !== undefined) throw new Error(`syscall number ${r.nr} used twice`);
    out[r.nr] = r;
  }
  return out;
})();

/** rowOf is the row named `name`, typed as that row (what dispatchRow's caller must have follows from it). */
export function rowOf<const N extends SyscallName>(name: N): Extract<AnyRow, { readonly name: N }> {
  const found = SYSCALL_TABLE.find((r): r is Extract<AnyRow, { readonly name: N }> => r.name === name);
  if (found === undefined) throw new Error(`no syscall ${name}`);
  return found;
}

/** syscallName names syscall number `nr` for records and messages: its row's name, `#<nr>` for an unknown number, `#?` for anything else. */
export function syscallName(nr: unknown): string {
  return typeof nr === 'number' ? (ROW_BY_NR[nr]?.name ?? `#${nr}`) : '#?';
}

/** SYSCALL_NUMBERS maps names to numbers; it is what ring 3 sees as `SYS`. */
export const SYSCALL_NUMBERS: Readonly<Record<SyscallName, number>> = Object.freeze(
  Object.fromEntries(SYSCALL_TABLE.map((r) => [r.name, r.nr])) as Record<SyscallName, number>,
);

/** An argument that names an fd of the caller's: by its place among the arguments, and its field when it is in an object. */
export type FdArgument = readonly [index: number, field: string | null];

/**
 * FD_ARGUMENTS says, by syscall number, which arguments name fds of the
 * caller's: the first of a call on an fd (resource `fd`), SYS_SPAWN's
 * stdin/stdout/stderr. Ring 3 keeps a call behind a call naming one of the
 * same fds still waiting in it, so calls on an fd happen in program order.
 */
export const FD_ARGUMENTS: Readonly<Record<number, readonly FdArgument[]>> = Object.freeze(
  Object.fromEntries([
    ...SYSCALL_TABLE.filter((r) => r.policy.resource === 'fd').map((r): [number, FdArgument[]] => [r.nr, [[0, null]]]),
    [rowOf('SYS_SPAWN').nr, SPAWN_FD_OPTIONS.map((field): FdArgument => [rowOf('SYS_SPAWN').argNames.indexOf('options'), field])],
  ]),
);
