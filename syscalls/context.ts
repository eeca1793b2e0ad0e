/**
 * The narrow kernel services syscall handlers and the dispatcher call. The
 * kernel implements them; nothing in syscalls/ reaches into kernel internals.
 */
import type { DirEntry, FileStat, OpenMode } from '../vfs/backend.ts';
import type { MaybePromise } from '../vfs/maybe.ts';
import type { JsonValue } from './schema.ts';
import type { PolicyRequest } from '../abi/policy-request.ts';
import type { Access, Effect, Resource } from '../abi/kinds.ts';
import type { DecisionRecorder } from './records.ts';
import type { Telemetry } from './telemetry.ts';

/** AgentIdentity is who makes a syscall: id, labels and capabilities (its manifest). */
export interface AgentIdentity {
  readonly agentId: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly capabilities: ReadonlySet<string>;
  /** child: the process was spawned by another process of its tree (it runs as the tree's root agent). */
  readonly child: boolean;
  /** outside: an agent outside the kernel asking agentd before it acts (kernel/capabilities.ts OutsideIdentity): the kernel confines nothing of it, and its breakers are its own. */
  readonly outside?: boolean;
  /** pathAllowed: the agent's own tree, or a vfs capability covering `path` for `access`. */
  pathAllowed(path: string, access: Access): boolean;
  /** toolAllowed: a tool capability names `tool`. */
  toolAllowed(tool: string): boolean;
}

/** AccessRequest is what the dispatcher asks the authorizer about. */
export interface AccessRequest {
  readonly pid: number;
  readonly agentId: string;
  readonly identity: AgentIdentity;
  readonly syscall: string;
  readonly access: Access;
  /** The resolved absolute path, for rows whose policy point is a path (or a program file). */
  readonly path?: string;
  /** What is done to `path` when it is not `access` (a program file is read to spawn it). */
  readonly pathAccess?: Access;
  /** The tool name, for rows whose policy point is a tool. */
  readonly tool?: string;
  /** The decoded arguments, for argument patterns; for a tool call, the tool's own arguments. */
  readonly args: Readonly<Record<string, unknown>>;
  /** Guarded data flows the call would make (e.g. `vfs-to-exec`); only a rule naming each in allow_flows lets it through. */
  readonly flows?: readonly string[];
  /** The process a row whose policy point is a process acts on, and what it is to the caller (absent: no such live process). */
  readonly target?: { readonly pid: number; readonly kin: Kin };
  /** What kind of thing the call acts on (the row's policy point): a file, a tool, a program, a process; or the caller's own fds or self. Absent: not a syscall (an action outside the kernel). */
  readonly resource?: Resource;
}

/** OUTSIDE is how a breaker owner names an agent outside the kernel (agent ids hold no `:`). */
const OUTSIDE = 'outside:';

/**
 * breakerOf names the breaker a call counts on: its agent's, for its tool
 * (else its syscall). An agent outside the kernel names its actions and
 * tools itself, so its breakers are an owner of their own (`outside:ID`):
 * a credential can neither trip, crowd out nor close the breakers of
 * processes of the same agent id.
 */
export function breakerOf(request: Pick<AccessRequest, 'agentId' | 'identity' | 'tool' | 'syscall'>): { readonly owner: string; readonly key: string } {
  return { owner: request.identity.outside === true ? `${OUTSIDE}${request.agentId}` : request.agentId, key: request.tool ?? request.syscall };
}

/** shownBreaker is a breaker as records, ps and /metrics show it: the agent, and the key (`outside:NAME` for an outside agent's). */
export function shownBreaker(owner: string, key: string): { readonly agentId: string; readonly key: string; readonly outside: boolean } {
  return owner.startsWith(OUTSIDE) ? { agentId: owner.slice(OUTSIDE.length), key: `${OUTSIDE}${key}`, outside: true } : { agentId: owner, key, outside: false };
}

/** Kin is what a process is to the caller: itself, its child, or another (which signal:any is needed to signal). */
export type Kin = 'self' | 'child' | 'other';

/** Decision names the effect, the rule that made it, and why. */
export interface Decision {
  readonly effect: Effect;
  readonly rule: string;
  readonly reason: string;
  /** The version (content hash) of the policy that decided, if a policy did. */
  readonly policyVersion?: string;
  /** A signal to send the caller when this is a deny (e.g. SIGPOLICY). */
  readonly onViolation?: string;
  /** How long a require_approval decision may wait. */
  readonly approvalTimeoutMs?: number;
  /** The errno a deny answers (default EACCES): EPERM for a process the caller may not signal, as kill(2) says; EAGAIN while a circuit breaker is open; EIO when limits the cluster counts cannot be read. */
  readonly errno?: 'EPERM' | 'EAGAIN' | 'EIO';
  /** How the shadow policy decided otherwise (kernel/policy/shadow.ts): recorded after the decision, changes nothing. */
  readonly shadow?: string;
  /** The question the policy was asked, when the policy decided (absent: the kernel decided before it); recorded for replay. */
  readonly asked?: PolicyRequest;
}

/** CallEnd is what an executed call came to, for the checks after it. */
export interface CallEnd {
  readonly ok: boolean;
  readonly errno?: string;
  readonly value?: unknown;
}

/** Breach is a check after a call that failed (an intent contract's post-condition or invariant): recorded, and its signal sent to the caller. */
export interface Breach {
  readonly rule: string;
  readonly reason: string;
  readonly signal: string;
}

/** Authorizer decides every syscall; an error inside it (or a rejected promise) is a deny. */
export interface Authorizer {
  /** afterward checks a call that ran (post-conditions and invariants): what failed; an error inside it is a breach. */
  afterward(request: AccessRequest, end: CallEnd): readonly Breach[];
  /** authorize decides and counts the call against any limits: later, when the cluster counts them (one Redis round trip). */
  authorize(request: AccessRequest): Decision | Promise<Decision>;
  /** check decides without counting: "would this be allowed?". */
  check(request: AccessRequest): Decision;
  /**
   * steady is the allow every later call like `request` (same process,
   * same syscall, any arguments) will get for as long as nothing the kernel
   * announces changes (policy, shadow policy, breakers, the process's
   * signals): undefined when a later answer may differ (it counts calls,
   * reads the time, trust, arguments or paths, a contract covers it) or it
   * is not a plain allow. What a sandbox host may serve itself (kernel/hosts/leases.ts).
   */
  steady?(request: AccessRequest): Decision | undefined;
  /** question is what the policy would be asked for `request` now (its arguments, the agent's trust and tokens): what a record keeps for replay. */
  question?(request: AccessRequest): PolicyRequest;
}

/** FileSystem is the agent's VFS as handlers see it; paths are already resolved. */
export interface FileSystem {
  resolve(input: string): string;
  stat(path: string): MaybePromise<FileStat>;
  readdir(path: string): MaybePromise<DirEntry[]>;
  /** readdirPage lists at most `limit` entries named after `after`, by name (SYS_READDIR's page). */
  readdirPage(path: string, after: string, limit: number): MaybePromise<DirEntry[]>;
  mkdir(path: string, recursive: boolean): MaybePromise<void>;
  unlink(path: string): MaybePromise<void>;
}

/** Files is the calling process's fd table. Pipe reads and writes may block (a promise). */
export interface Files {
  open(path: string, mode: OpenMode): MaybePromise<number>;
  /** read and write block on a pipe until it can go on, or until `cancel` aborts (ECANCELED; a read then takes nothing). */
  read(fd: number, length: number, cancel?: AbortSignal): MaybePromise<Uint8Array>;
  write(fd: number, data: Uint8Array, cancel?: AbortSignal): MaybePromise<number>;
  close(fd: number): MaybePromise<void>;
  pipe(): [number, number];
}

/** SpawnRequest is what a process asks for when it spawns a child. */
export interface SpawnRequest {
  /** The resolved path of a program in the VFS (already authorized), or the name of a program the operator registered. */
  readonly program: string;
  readonly argv: readonly string[];
  /** The child's capabilities: at most the caller's. Default none. */
  readonly capabilities?: readonly string[];
  readonly labels?: Readonly<Record<string, string>>;
  /** Caller fds to become the child's 0, 1 and 2 (pipes or inherited stdio). */
  readonly stdin?: number;
  readonly stdout?: number;
  readonly stderr?: number;
}

/** WaitResult is a child's exit as its parent sees it. */
export interface WaitResult {
  readonly pid: number;
  readonly status: number;
  readonly signal: string | null;
}

/** CheckpointInfo names a snapshot of the agent's memory. */
export interface CheckpointInfo {
  readonly n: number;
  readonly path: string;
  readonly bytes: number;
  readonly files: number;
}

/** PolicyAnswer is what SYS_CHECKPOLICY returns to ring 3. */
export interface PolicyAnswer {
  readonly effect: Effect;
  readonly rule: string;
  readonly reason: string;
  readonly policyVersion: string | null;
}

/** ToolResult is what a successful SYS_EXEC returns to ring 3. */
export interface ToolResult {
  readonly tool: string;
  /** The tool's output: plain JSON data, at most the tool's output limit when serialized. */
  readonly output: JsonValue;
  /** Serialized size of `output`, bytes. */
  readonly bytes: number;
  /** Wall time the tool ran, ms. */
  readonly ms: number;
}

/** ToolCalls is the tool registry as the calling process sees it. */
export interface ToolCalls {
  /** flows names the guarded data flows calling `tool` with `args` would make, for the policy request. */
  flows(tool: string, args: JsonValue): readonly string[];
  /**
   * call validates `args` against the tool's schema and runs it under its
   * time and output limits. ENOENT unknown tool, EINVAL schema error,
   * ETIMEDOUT, EFBIG output too large, EIO (or the tool's own errno) when it fails.
   */
  call(tool: string, args: JsonValue, cancel?: AbortSignal): ToolResult | Promise<ToolResult>;
}

/**
 * Caller is what the dispatcher needs of every caller, whatever it calls:
 * who it is, whether it still lives, and how a violation ends it. Each
 * handler declares the rest it uses (a Pick of SyscallContext), and so does
 * each kind of policy point (RequestNeeds); a caller that is not a process
 * (the MCP gateway) supplies only what the rows it dispatches need.
 */
export interface Caller {
  readonly pid: number;
  readonly agentId: string;
  readonly identity: AgentIdentity;
  /** alive is false once the process has ended (a blocked call must then not run). */
  alive(): boolean;
  /** violation ends the calling process with `signal` (e.g. SIGPOLICY) after a denied call. */
  violation(signal: string, why: string): void;
  /**
   * logged charges `bytes` of decision records the caller's calls added to the
   * log (DecisionRecorder.bytes) to its share: its tree's
   * `log_bytes_per_second`, an outside agent's evaluate share. Absent: not counted.
   */
  logged?(bytes: number): void;
}

/** SyscallContext is the calling process as the dispatcher and handlers see it: the Caller and everything a handler may use. */
export interface SyscallContext extends Caller {
  readonly fs: FileSystem;
  readonly files: Files;
  /** tools runs SYS_EXEC's tool calls for this process. */
  readonly tools: ToolCalls;
  /** exit ends the calling process with `code` once the syscall returns. */
  exit(code: number): void;
  /** checkPolicy answers whether syscall `name` with raw `args` would be allowed, doing nothing. */
  checkPolicy(name: string, args: unknown): PolicyAnswer;
  /** signal sends `signal` to `pid` (whether the caller may was decided with the call: see AccessRequest.target). ESRCH, EINVAL. */
  signal(pid: number, signal: string): string;
  /** kinOf says what live process `pid` is to the caller; undefined if there is none. */
  kinOf(pid: number): Kin | undefined;
  /** sigaction sets a catchable signal's disposition and returns its canonical name. EINVAL. */
  sigaction(signal: string, disposition: 'default' | 'ignore' | 'handle'): string;
  /** sigprocmask changes the mask and returns it (unblockable signals are never in it). */
  sigprocmask(how: 'block' | 'unblock' | 'set', signals: readonly string[]): string[];
  /** registeredProgram: `name` is a program the operator registered (else a SYS_SPAWN program is a path in the VFS). */
  registeredProgram(name: string): boolean;
  /** spawn starts a child process. EPERM for capabilities the caller lacks, EAGAIN past the child limit. */
  spawn(request: SpawnRequest): MaybePromise<number>;
  /** wait blocks until child `pid` exits and reaps it. ECHILD if it is not the caller's child. */
  wait(pid: number): Promise<WaitResult>;
  /** checkpoint snapshots the agent's memory under state/checkpoints/<n>. */
  checkpoint(): Promise<CheckpointInfo>;
  /** sleep resolves after `ms` (at once for 0, on the next turn); ECANCELED when `cancel` aborts first. The timer never outlives the process. */
  sleep(ms: number, cancel: AbortSignal): Promise<void>;
  /** cancel aborts the caller's outstanding asynchronous call `id`; false if there is none (it completed, or never was). */
  cancel(id: number): boolean | Promise<boolean>;
  /** randomBytes returns `length` bytes from the kernel's cryptographic generator. */
  randomBytes(length: number): Uint8Array;
}

/** RequestNeeds is what building the authorizer's question needs of the caller, per kind of policy point (syscalls/dispatch.ts builds it). */
export interface RequestNeeds {
  readonly path: { readonly fs: Pick<FileSystem, 'resolve'> };
  readonly tool: { readonly tools: Pick<ToolCalls, 'flows'> };
  readonly program: { readonly fs: Pick<FileSystem, 'resolve'> } & Pick<SyscallContext, 'registeredProgram'>;
  readonly process: Pick<SyscallContext, 'kinOf'>;
  readonly fd: object;
  readonly self: object;
}

/**
 * CallScope is what one syscall carries besides its arguments: `cancel`
 * aborts when the call is canceled (SYS_CANCEL of an asynchronous call) or
 * its process ends; a handler whose work outlives the call stops it then.
 */
export interface CallScope {
  readonly cancel: AbortSignal;
}

/** ApprovalTicket describes a call waiting for an operator's decision. */
export interface ApprovalTicket {
  readonly pid: number;
  readonly agentId: string;
  readonly syscall: string;
  readonly path?: string;
  readonly tool?: string;
  readonly rule: string;
  readonly reason: string;
  readonly timeoutMs: number;
  /** The version of the policy whose rule asked. */
  readonly policyVersion?: string;
  /** For a question from outside the kernel: the digest of the request its approval is bound to (kernel/service/grants.ts). */
  readonly digest?: string;
  /** The call's arguments (a tool call's own), for whoever answers; the gate keeps a bounded form (kernel/approvals.ts). */
  readonly arguments?: unknown;
}

/** ApprovalAnswer is the operator's (or automatic approver's) decision. */
export interface ApprovalAnswer {
  readonly approved: boolean;
  readonly approver: string;
  readonly reason: string;
}

/** Approvals blocks a require_approval call until it is answered or times out (deny). */
export interface Approvals {
  ask(ticket: ApprovalTicket): Promise<ApprovalAnswer>;
}

/** Misbehaviour is what lowers an agent's trust: a denial, a denial by a rule with on_violation, a refused approval, a circuit breaker it tripped. */
export type Misbehaviour = 'denial' | 'violation' | 'approvalDenied' | 'breakerTrip';

/** The rule of a call a circuit breaker refused (kernel/breakers.ts): not itself a failure of the call's kind. */
export const BREAKER_RULE = 'kernel.breaker';

/** Conduct keeps each agent's trust score (kernel/trust.ts) and circuit breakers (kernel/breakers.ts). */
export interface Conduct {
  /** misbehaved charges the agent; crossing the policy's trust floor sends SIGTRUST to its processes. */
  misbehaved(agentId: string, what: Misbehaviour): void;
  /** ended notes how a call of `key` (its tool, else its syscall) ended for the breakers: ok, or denied or failed. */
  ended(agentId: string, key: string, ok: boolean): void;
}

/** KernelServices is what the dispatcher needs besides the caller. */
export interface KernelServices {
  readonly authorizer: Authorizer;
  readonly recorder: DecisionRecorder;
  /** Trust scores: the dispatcher charges denials and refused approvals; absent, nothing is kept. */
  readonly conduct?: Conduct;
  readonly approvals: Approvals;
  /** Traces of decisions (kernel/telemetry); absent when tracing is off, which then costs nothing. */
  readonly telemetry?: Telemetry;
}
