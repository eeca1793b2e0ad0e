/**
 * The one typed channel between the kernel (the supervisor) and a sandbox
 * host process: frames of V8's structured-clone serialization (frames.ts),
 * so syscall arguments and replies (bytes included) cross as they cross the
 * isolate boundary. Everything a host sends is checked before use
 * (isToKernel, then the kernel's own bookkeeping): a host is as untrusted as
 * the isolates it runs.
 */
import type { Reply } from '../../syscalls/dispatch.ts';
import type { Program } from '../program.ts';
import type { BootRecord, SandboxEnd } from '../process-sandbox.ts';
import { MAX_SERVED_BATCH, type Lease } from './leases.ts';

/** FinalReply is a syscall's reply once it is final (no `later`). */
export type FinalReply = Exclude<Reply, { readonly later: Promise<Reply> }>;

/** What the kernel asks a host for about one sandbox; each is answered once (Answer). */
export type Ask =
  | { readonly op: 'create'; readonly program: Program; readonly heapMib: number; readonly boot: BootRecord }
  | { readonly op: 'compile' }
  | { readonly op: 'start' }
  | { readonly op: 'deliver'; readonly signals: readonly string[] }
  | { readonly op: 'cancel'; readonly id: number };

/** Messages from the kernel to a host. */
export type ToHost =
  | ({ readonly t: 'ask'; readonly sid: number; readonly req: number } & Ask)
  /** The reply of the host's syscall `cid`, with the lease the host holds for the sandbox from then on, if any (kernel/hosts/leases.ts). */
  | { readonly t: 'reply'; readonly sid: number; readonly cid: number; readonly reply: FinalReply; readonly lease?: Lease }
  /** The sandbox's leases up to `gen` are revoked: its calls go to the kernel again (the host acknowledges with `revoked`). */
  | { readonly t: 'revoke'; readonly sid: number; readonly gen: number }
  /** The process is stopped (on) or continued (off): completions of calls the host ran itself wait while it is stopped. */
  | { readonly t: 'hold'; readonly sid: number; readonly on: boolean }
  | { readonly t: 'dispose'; readonly sid: number }
  | { readonly t: 'ping'; readonly n: number }
  /** The host has drained: it ends. */
  | { readonly t: 'exit' };

/** Messages from a host to the kernel. */
export type ToKernel =
  | { readonly t: 'ready'; readonly pid: number }
  | { readonly t: 'answer'; readonly sid: number; readonly req: number; readonly ok: true; readonly value: boolean | null }
  | { readonly t: 'answer'; readonly sid: number; readonly req: number; readonly ok: false; readonly errno: string; readonly message: string }
  /** Syscall `nr` from sandbox `sid`: the kernel runs it and replies with `cid`. */
  | { readonly t: 'call'; readonly sid: number; readonly cid: number; readonly nr: unknown; readonly args: unknown[]; readonly mode: 'blocking' | 'async' }
  /** Calls (syscall number, arguments) the host ran under sandbox `sid`'s lease `gen`, in order: sent ahead of anything else the host sends. */
  | { readonly t: 'served'; readonly sid: number; readonly gen: number; readonly calls: readonly (readonly [number, readonly unknown[]])[] }
  /** The host dropped sandbox `sid`'s leases up to `gen`, and has reported every call it ran under them. */
  | { readonly t: 'revoked'; readonly sid: number; readonly gen: number }
  /** The host disposed of sandbox `sid`, and has reported every call it ran under its leases. */
  | { readonly t: 'disposed'; readonly sid: number }
  /** The isolate let go of call `cid` (SYS_CANCEL, or its process ending): the kernel aborts its work. */
  | { readonly t: 'abort'; readonly sid: number; readonly cid: number }
  | { readonly t: 'end'; readonly sid: number; readonly how: SandboxEnd; readonly cpuNs: number }
  /** Nothing runs in the isolate, after `seen` entries the kernel sent (replies, start, deliveries): a later one may be running. */
  | { readonly t: 'idle'; readonly sid: number; readonly cpuNs: number; readonly seen: number }
  | { readonly t: 'charge'; readonly sid: number; readonly ns: number }
  /** CPU time of the host's live sandboxes, sent while any runs, for the kernel's CPU limits and `ps`. */
  | { readonly t: 'cpu'; readonly sids: readonly number[]; readonly ns: readonly number[] }
  | { readonly t: 'pong'; readonly n: number }
  /** An isolate of the host kept a thread running after its disposal (SandboxHooks.stuck): the host should be drained and end. */
  | { readonly t: 'stuck'; readonly why: string }
  /** Told to exit, the host has sent everything and ends itself now (by SIGKILL: host-main.ts says why). */
  | { readonly t: 'bye' };

const int = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const END_KINDS: ReadonlySet<string> = new Set(['returned', 'threw', 'memory-limit', 'catastrophic', 'lost']);

function isEnd(v: unknown): v is SandboxEnd {
  if (v === null || typeof v !== 'object') return false;
  const how = v as Record<string, unknown>;
  if (typeof how.kind !== 'string' || !END_KINDS.has(how.kind)) return false;
  if (how.kind === 'returned') return int(how.status) && how.status <= 255;
  if (how.kind === 'threw') return typeof how.error === 'string' && (how.status === undefined || how.status === 1 || how.status === 7);
  if (how.kind === 'catastrophic') return typeof how.message === 'string';
  if (how.kind === 'lost') return typeof how.why === 'string';
  return true;
}

/** isToKernel: `m` is a well-formed message from a host (anything else is the host's fault, and ends it). */
export function isToKernel(m: unknown): m is ToKernel {
  if (m === null || typeof m !== 'object') return false;
  const o = m as Record<string, unknown>;
  switch (o.t) {
    case 'ready':
      return int(o.pid);
    case 'answer':
      return int(o.sid) && int(o.req) && (o.ok === true ? o.value === null || typeof o.value === 'boolean' : o.ok === false && typeof o.errno === 'string' && typeof o.message === 'string');
    case 'call':
      return int(o.sid) && int(o.cid) && Array.isArray(o.args) && (o.mode === 'blocking' || o.mode === 'async');
    case 'abort':
      return int(o.sid) && int(o.cid);
    case 'revoked':
      return int(o.sid) && int(o.gen);
    case 'disposed':
      return int(o.sid);
    case 'served':
      return int(o.sid) && int(o.gen) && Array.isArray(o.calls) && o.calls.length > 0 && o.calls.length <= MAX_SERVED_BATCH && o.calls.every((c) => Array.isArray(c) && c.length === 2 && int(c[0]) && Array.isArray(c[1]));
    case 'end':
      return int(o.sid) && finite(o.cpuNs) && isEnd(o.how);
    case 'idle':
      return int(o.sid) && finite(o.cpuNs) && int(o.seen);
    case 'charge':
      return int(o.sid) && finite(o.ns) && o.ns >= 0;
    case 'cpu':
      return Array.isArray(o.sids) && Array.isArray(o.ns) && o.sids.length === o.ns.length && o.sids.every(int) && o.ns.every(finite);
    case 'pong':
      return int(o.n);
    case 'stuck':
      return typeof o.why === 'string' && o.why.length <= 4096;
    case 'bye':
      return true;
    default:
      return false;
  }
}
