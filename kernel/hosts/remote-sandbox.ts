/**
 * RemoteSandbox is a process's sandbox when its isolate lives in a sandbox
 * host process: the kernel's side of it. Each syscall the isolate makes
 * arrives as a `call`, runs through the hooks (the syscall gate and the one
 * dispatcher, here in the kernel) and goes back as a `reply` (with a lease,
 * when the host may run such calls itself: kernel/hosts/leases.ts; the
 * calls it then ran come back as `served`, to be recorded); the host's
 * events (idle, end, CPU time) come back the same way. Disposing it disposes
 * the isolate in the host; the host dying ends it as `lost`.
 */
import { KernelError } from '../../abi/errno.ts';
import { MAX_OUTSTANDING, MAX_OUTSTANDING_LOOP } from '../async-calls.ts';
import type { Decision } from '../../syscalls/context.ts';
import type { Reply } from '../../syscalls/dispatch.ts';
import type { Program } from '../program.ts';
import type { BootRecord, ProcessSandbox, SandboxEnd, SandboxHooks } from '../process-sandbox.ts';
import type { Ask, FinalReply, ToHost, ToKernel } from './protocol.ts';
import { encode } from './frames.ts';
import { LeaseBook, type Lease } from './leases.ts';
import { hostRow } from '../../syscalls/leased.ts';
import { replyBound } from './reply-bound.ts';

/** More than a lease adds to a reply's frame (its generation, a few syscall numbers, its calls and time). */
const LEASE_BYTES = 1024;

/** The most calls one sandbox has outstanding at once: its runtime's own bounds on asynchronous calls, and one blocking call. */
const MAX_CALLS = MAX_OUTSTANDING + MAX_OUTSTANDING_LOOP + 1;

/** HostLink is what a RemoteSandbox needs of its host. */
export interface HostLink {
  readonly id: number;
  /** Calls the host ran under its leases, counted here. */
  served: number;
  /** send writes one message (one about a sandbox after those before it: outbox.ts), given as `frame` if already encoded. Throws if it cannot be cloned or is too large. */
  send(message: ToHost, frame?: Buffer): void;
  /** wouldWait: a message of `bytes` about sandbox `sid` sent now would wait in its outbox. */
  wouldWait(sid: number, bytes: number): boolean;
  /** full: why sandbox `sid`'s new asynchronous calls get EAGAIN now (replies held for it past their budget: outbox.ts), or undefined. */
  full(sid: number): string | undefined;
  /** reserve counts `bytes` (negative: gives them back) as held for sandbox `sid`: what a call under way may bring. */
  reserve(sid: number, bytes: number): void;
  ask(sid: number, ask: Ask): Promise<boolean | null>;
  /** release: sandbox `sid` is gone (its host may drain). */
  release(sid: number): void;
  /** quarantine: an isolate of this host, of a process of the tree of pid `tree` if known, took V8's catastrophic path. */
  quarantine(why: string, tree?: number): void;
}

/** The messages of one sandbox (its host answers questions, and acknowledges a disposal, itself). */
export type SandboxMessage = Exclude<Extract<ToKernel, { readonly sid: number }>, { readonly t: 'answer' | 'disposed' }>;

function final(reply: Reply): Promise<FinalReply> {
  if (!('later' in reply)) return Promise.resolve(reply);
  return reply.later.then(final, (): FinalReply => ({ errno: 'EIO', message: 'internal kernel error' }));
}

export class RemoteSandbox implements ProcessSandbox {
  readonly sid: number;
  /** The root pid of the process's tree. */
  readonly tree: number;
  /** The process the sandbox is for (as its boot record says), for what the host's records name. */
  readonly pid: number;
  private readonly host: HostLink;
  private readonly hooks: SandboxHooks;
  private readonly created: Promise<unknown>;
  /** The host's syscalls under way, each with the controller that cancels its work (and, blocking, what was asked: a lease may follow it). */
  private readonly calls = new Map<number, { readonly controller: AbortController; readonly nr: unknown; readonly args: readonly unknown[]; readonly bound: number }>();
  /** The leases the host holds for this sandbox (kernel/hosts/leases.ts). */
  private readonly lease: LeaseBook;
  /** Calls the host ran before it learned the kernel had ended the process, by syscall and decision: recorded once it has reported them all. */
  private readonly late = new Map<string, { readonly nr: number; readonly decision: Decision; count: number }>();
  private cpuNs = 0;
  private started = false;
  /** Entries into the isolate sent to the host (start, deliveries, replies), and how many of them the host's last idle followed. */
  private entries = 0;
  private idleAfter = 0;
  /** How many idles the host has reported. */
  private idles = 0;
  private blocked = 0;
  /** How the sandbox ended before its program started (its host died, or it broke): the spawn fails with it. */
  private early: string | undefined;
  /** The end was reported to the kernel (at most once). */
  private ended = false;
  private gone = false;

  constructor(host: HostLink, sid: number, program: Program, heapMib: number, boot: BootRecord, hooks: SandboxHooks, tree = boot.pid) {
    this.host = host;
    this.sid = sid;
    this.tree = tree;
    this.pid = boot.pid;
    this.hooks = hooks;
    this.lease = new LeaseBook((tokens, window) => hooks.leases?.refund(tokens, window));
    this.created = host.ask(sid, { op: 'create', program, heapMib, boot });
    // A failed creation is reported by compileAsync.
    this.created.catch(() => undefined);
  }

  /** compile: a program for a sandbox host is compiled there, off the kernel's event loop (spawnAsync). EINVAL. */
  compile(): void {
    throw new KernelError('EINVAL', 'a kernel with sandbox hosts compiles programs in the host: spawn with spawnAsync');
  }

  async compileAsync(): Promise<void> {
    try {
      await this.created;
      await this.host.ask(this.sid, { op: 'compile' });
    } catch (err) {
      throw this.early === undefined ? err : this.unprepared();
    }
    if (this.early !== undefined) throw this.unprepared();
  }

  private unprepared(): KernelError {
    return new KernelError('EIO', `the program could not be prepared: ${this.early}`);
  }

  /** start runs the program; settles when its synchronous part is done. A host gone meanwhile ends it as `lost`; a start the host refuses, as an error. */
  async start(): Promise<void> {
    this.started = true;
    this.entries++;
    try {
      await this.host.ask(this.sid, { op: 'start' });
    } catch (err) {
      this.endWith({ kind: 'threw', error: `the sandbox host could not start the program: ${err instanceof Error ? err.message : String(err)}` });
    }
  }

  async deliver(signals: readonly string[]): Promise<void> {
    if (this.gone) return;
    this.entries++;
    const idles = this.idles;
    const answer = await this.host.ask(this.sid, { op: 'deliver', signals: [...signals] }).catch(() => undefined);
    // The host found the isolate running something it delivered itself (a call run under a lease): not delivered.
    if (answer === false && !this.gone) {
      this.entries--;
      this.hooks.undelivered?.(signals);
      // An idle that came meanwhile (with the answer, on a busy kernel) could not be taken as one then: take it now.
      if (this.idles !== idles && !this.ended && this.idle) this.hooks.idle();
    }
  }

  async cancel(id: number): Promise<boolean> {
    if (this.gone) return false;
    return (await this.host.ask(this.sid, { op: 'cancel', id }).catch(() => false)) === true;
  }

  get idle(): boolean {
    return this.started && this.idleAfter >= this.entries && this.blocked === 0 && !this.ended && !this.gone;
  }

  /** waitsOnNothing: not told by the host (its isolate's calls are counted there). */
  get waitsOnNothing(): boolean {
    return false;
  }

  get blockedInSyscall(): boolean {
    return this.blocked > 0;
  }

  get cpuTimeNs(): bigint {
    return BigInt(Math.round(this.cpuNs));
  }

  get disposed(): boolean {
    return this.gone;
  }

  /** cpu takes the host's latest reading of the isolate's CPU time. */
  cpu(ns: number): void {
    if (ns > this.cpuNs) this.cpuNs = ns;
  }

  dispose(): void {
    if (this.gone) return;
    this.gone = true;
    this.ended = true;
    this.abortAll();
    this.lease.close();
    this.host.send({ t: 'dispose', sid: this.sid });
    this.host.release(this.sid);
  }

  quarantine(): boolean {
    this.host.quarantine(`pid ${this.pid}'s isolate took V8's catastrophic out-of-memory path`, this.tree);
    return true;
  }

  /** lost ends the sandbox because its host died (before its program started, its spawn fails instead). */
  lost(why: string): void {
    this.endWith({ kind: 'lost', why });
    this.gone = true;
  }

  /** endWith reports how the sandbox ended, once; before its program started, the spawn fails with it instead (the process never was). */
  private endWith(how: SandboxEnd): void {
    if (this.gone || this.ended) return;
    this.ended = true;
    this.abortAll();
    // The host ended it (its calls were reported first) or died: nothing more comes.
    this.lease.close();
    this.lease.settle();
    if (!this.started) {
      this.early = how.kind === 'lost' ? how.why : `it ended (${how.kind}) before it started`;
      return;
    }
    this.hooks.end(how);
  }

  /**
   * onMessage acts on one message of the host about this sandbox, whose
   * decoding took `decodeNs` of the kernel's time (billed to the tree, as
   * is encoding a reply); a message no honest host sends is returned as the
   * host's fault.
   */
  onMessage(m: SandboxMessage, decodeNs: number): string | undefined {
    this.hooks.charge(decodeNs);
    switch (m.t) {
      case 'call':
        return this.call(m.cid, m.nr, m.args, m.mode);
      case 'abort':
        this.calls.get(m.cid)?.controller.abort();
        return undefined;
      case 'served':
        return this.served(m.gen, m.calls);
      case 'revoked':
        this.lease.acknowledged(m.gen);
        return undefined;
      case 'end':
        this.cpu(m.cpuNs);
        this.endWith(m.how);
        return undefined;
      case 'idle':
        this.cpu(m.cpuNs);
        if (m.seen > this.entries) return `sandbox ${this.sid} went idle after ${m.seen} entries of ${this.entries}`;
        this.idleAfter = m.seen;
        this.idles++;
        if (!this.ended && this.idle) this.hooks.idle();
        return undefined;
      case 'charge':
        this.hooks.charge(m.ns);
        return undefined;
      default:
        return m satisfies never;
    }
  }

  /** call runs the host's syscall `cid` through the kernel's hooks and sends the reply back when it is final. */
  private call(cid: number, nr: unknown, args: unknown[], mode: 'blocking' | 'async'): string | undefined {
    if (this.gone || this.ended) return undefined;
    if (this.calls.has(cid)) return `sandbox ${this.sid} reused call id ${cid}`;
    if (mode === 'blocking' && this.blocked > 0) return `sandbox ${this.sid} made a blocking call while blocked in another`;
    // Only calls under way here count: a reply the kernel sent may sit unacknowledged in the channel after the host took it.
    if (this.calls.size >= MAX_CALLS) return `sandbox ${this.sid} has more than ${MAX_CALLS} calls outstanding`;
    // An asynchronous call that may bring a large reply is refused, not run, while what is held for the sandbox is past its
    // budget: its agent waits, not its host. (A blocking call is not: one at a time, its reply adds at most one to what
    // waits; nor a call whose reply is small: the runtime's own close, cancel and timers must go on.) One that runs
    // reserves what its reply may bring until the reply comes.
    const bound = mode === 'async' ? replyBound(nr, args) : 0;
    const full = bound > 0 ? this.host.full(this.sid) : undefined;
    const controller = new AbortController();
    this.calls.set(cid, { controller, nr, args, bound: full === undefined ? bound : 0 });
    if (mode === 'blocking') this.blocked++;
    let reply: Reply;
    if (full !== undefined) reply = { errno: 'EAGAIN', message: `replies waiting for it: ${full}` };
    else {
      if (bound > 0) this.host.reserve(this.sid, bound);
      try {
        reply = this.hooks.syscall(nr, args, { cancel: controller.signal }, mode);
      } catch {
        reply = { errno: 'EIO', message: 'internal kernel error' };
      }
    }
    // A reply final now is sent now, so the next call read with it sees what it added to the outbox.
    if ('later' in reply) void final(reply).then((done) => this.reply(cid, mode, done));
    else this.reply(cid, mode, reply);
    return undefined;
  }

  /**
   * reply sends call `cid`'s final reply; one that cannot cross (not
   * cloneable, too large) goes as EIO. A call that succeeded may bring the
   * host a lease for calls like it.
   */
  private reply(cid: number, mode: 'blocking' | 'async', done: FinalReply): void {
    const asked = this.calls.get(cid);
    if (asked === undefined) return;
    this.calls.delete(cid);
    if (asked.bound > 0) this.host.reserve(this.sid, -asked.bound);
    if (mode === 'blocking') this.blocked--;
    if (this.gone) return;
    this.entries++;
    const started = performance.now();
    try {
      const message = { t: 'reply', sid: this.sid, cid, reply: done } as const;
      const frame = encode(message);
      // A reply that would wait in the outbox carries no lease: the host would begin it late, and report its calls late.
      // (The outbox's own test, on the frame with room for a lease.)
      const lease = 'v' in done && done.sig === undefined && !this.host.wouldWait(this.sid, frame.length + LEASE_BYTES) ? this.leaseAfter(asked.nr, asked.args) : undefined;
      if (lease === undefined) this.host.send(message, frame);
      else this.host.send({ ...message, lease });
    } catch (err) {
      this.host.send({ t: 'reply', sid: this.sid, cid, reply: { errno: 'EIO', message: `the reply cannot cross to the sandbox host: ${err instanceof Error ? err.message : String(err)}` } });
    }
    this.hooks.charge((performance.now() - started) * 1e6);
  }

  /** leaseAfter is the lease the host may hold after syscall `nr` with `args` was allowed and ran, if any. */
  private leaseAfter(nr: unknown, args: readonly unknown[]): Lease | undefined {
    const hooks = this.hooks.leases;
    if (hooks === undefined || typeof nr !== 'number' || hostRow(nr) === undefined) return undefined;
    const most = this.lease.needs(nr, performance.now());
    const grant = most === 0 ? undefined : hooks.grant(nr, args, most);
    return grant === undefined ? undefined : this.lease.extend(nr, grant, performance.now());
  }

  /** reported: the host has reported every call it ran for this disposed sandbox (or never will): the late ones are recorded, in one record, and unused tokens go back. */
  reported(): void {
    if (this.late.size > 0) this.hooks.leases?.late([...this.late.values()]);
    this.late.clear();
    this.lease.settle();
  }

  /** hold tells the host the process is stopped or continued: completions of calls it ran itself wait meanwhile. */
  hold(stopped: boolean): void {
    if (!this.gone) this.host.send({ t: 'hold', sid: this.sid, on: stopped });
  }

  /** revokeLease tells the host to drop its lease: its next calls come here. */
  revokeLease(): void {
    if (this.gone) return;
    const gen = this.lease.revoke();
    if (gen !== undefined) this.host.send({ t: 'revoke', sid: this.sid, gen });
  }

  /**
   * served records the calls the host ran under its lease `gen`, in order;
   * one that lease did not allow is the host's fault. Calls that arrive
   * after the kernel ended the process (the host ran them before it
   * learned) are recorded together, in one record after its exit.
   */
  private served(gen: number, calls: readonly (readonly [number, readonly unknown[]])[]): string | undefined {
    const hooks = this.hooks.leases;
    if (hooks === undefined) return `sandbox ${this.sid} ran calls it was never leased`;
    const now = performance.now();
    if (this.gone) {
      for (const [nr] of calls) {
        const decision = this.lease.take(gen, nr, now);
        if (decision === undefined) return `sandbox ${this.sid} ran syscall ${nr} without a lease for it`;
        const key = `${nr} ${decision.rule} ${decision.policyVersion ?? ''}`;
        const kept = this.late.get(key);
        if (kept === undefined) this.late.set(key, { nr, decision, count: 1 });
        else kept.count++;
        this.host.served++;
      }
      return undefined;
    }
    for (const [nr, args] of calls) {
      const decision = this.lease.take(gen, nr, now);
      if (decision === undefined) return `sandbox ${this.sid} ran syscall ${nr} without a lease for it`;
      try {
        hooks.served(nr, args, decision);
      } catch (err) {
        return `sandbox ${this.sid} ran syscall ${nr} with arguments the kernel refuses: ${err instanceof Error ? err.message : String(err)}`;
      }
      this.host.served++;
    }
    return undefined;
  }

  private abortAll(): void {
    for (const { controller } of this.calls.values()) controller.abort();
    this.calls.clear();
    this.blocked = 0;
  }
}
