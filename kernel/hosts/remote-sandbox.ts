/**
 * RemoteSandbox is a process's sandbox when its isolate lives in a sandbox
 * host process: the kernel's side of it. Each syscall the isolate makes
 * arrives as a `call`, runs through the hooks (the syscall gate and the one
 * dispatcher, here in the kernel) and goes back as a `reply`; the host's
 * events (idle, end, CPU time) come back the same way. Disposing it disposes
 * the isolate in the host; the host dying ends it as `lost`.
 */
import { KernelError } from '../../abi/errno.ts';
import type { Reply } from '../../syscalls/dispatch.ts';
import type { Program } from '../program.ts';
import type { BootRecord, ProcessSandbox, SandboxHooks } from '../sandbox.ts';
import type { Ask, FinalReply, ToHost, ToKernel } from './protocol.ts';

/** HostLink is what a RemoteSandbox needs of its host. */
export interface HostLink {
  readonly id: number;
  send(message: ToHost): void;
  ask(sid: number, ask: Ask): Promise<boolean | null>;
  /** release: sandbox `sid` is gone (its host may drain). */
  release(sid: number): void;
  /** quarantine: an isolate of this host took V8's catastrophic path. */
  quarantine(why: string): void;
}

/** The messages of one sandbox. */
export type SandboxMessage = Extract<ToKernel, { readonly sid: number }>;

function final(reply: Reply): Promise<FinalReply> {
  return 'later' in reply ? reply.later.then(final) : Promise.resolve(reply);
}

export class RemoteSandbox implements ProcessSandbox {
  readonly sid: number;
  /** The process the sandbox is for (as its boot record says), for what the host's records name. */
  private readonly pid: number;
  private readonly host: HostLink;
  private readonly hooks: SandboxHooks;
  private readonly created: Promise<unknown>;
  /** The host's syscalls under way, each with the controller that cancels its work. */
  private readonly calls = new Map<number, AbortController>();
  private cpuNs = 0;
  private started = false;
  /** Something runs in the isolate (its start, a delivery, a completion) since it was last idle. */
  private running = false;
  private blocked = 0;
  /** The end was reported to the kernel (at most once). */
  private ended = false;
  private gone = false;

  constructor(host: HostLink, sid: number, program: Program, heapMib: number, boot: BootRecord, hooks: SandboxHooks) {
    this.host = host;
    this.sid = sid;
    this.pid = boot.pid;
    this.hooks = hooks;
    this.created = host.ask(sid, { op: 'create', program, heapMib, boot });
    // A failed creation is reported by compileAsync.
    this.created.catch(() => undefined);
  }

  /** compile: a program for a sandbox host is compiled there, off the kernel's event loop (spawnAsync). EINVAL. */
  compile(): void {
    throw new KernelError('EINVAL', 'a kernel with sandbox hosts compiles programs in the host: spawn with spawnAsync');
  }

  async compileAsync(): Promise<void> {
    await this.created;
    await this.host.ask(this.sid, { op: 'compile' });
  }

  /** start runs the program; settles when its synchronous part is done, or when its host is gone (the end comes as `lost`). */
  async start(): Promise<void> {
    this.started = true;
    this.running = true;
    await this.host.ask(this.sid, { op: 'start' }).catch(() => undefined);
  }

  async deliver(signals: readonly string[]): Promise<void> {
    if (this.gone) return;
    this.running = true;
    await this.host.ask(this.sid, { op: 'deliver', signals: [...signals] }).catch(() => undefined);
  }

  async cancel(id: number): Promise<boolean> {
    if (this.gone) return false;
    return (await this.host.ask(this.sid, { op: 'cancel', id }).catch(() => false)) === true;
  }

  get idle(): boolean {
    return this.started && !this.running && this.blocked === 0 && !this.ended && !this.gone;
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
    this.host.send({ t: 'dispose', sid: this.sid });
    this.host.release(this.sid);
  }

  quarantine(): boolean {
    this.host.quarantine(`pid ${this.pid}'s isolate took V8's catastrophic out-of-memory path`);
    return true;
  }

  /** lost ends the sandbox because its host died. */
  lost(why: string): void {
    if (this.gone) return;
    this.gone = true;
    this.abortAll();
    if (this.ended) return;
    this.ended = true;
    this.hooks.end({ kind: 'lost', why });
  }

  /** onMessage acts on one message of the host about this sandbox. */
  onMessage(m: SandboxMessage): void {
    switch (m.t) {
      case 'call':
        return this.call(m.cid, m.nr, m.args, m.mode);
      case 'abort':
        this.calls.get(m.cid)?.abort();
        return;
      case 'end':
        this.cpu(m.cpuNs);
        if (this.ended) return;
        this.ended = true;
        this.abortAll();
        this.hooks.end(m.how);
        return;
      case 'idle':
        this.cpu(m.cpuNs);
        this.running = false;
        if (!this.ended) this.hooks.idle();
        return;
      case 'charge':
        this.hooks.charge(m.ns);
        return;
      case 'answer':
        return;
      default:
        return m satisfies never;
    }
  }

  /** call runs the host's syscall `cid` through the kernel's hooks and sends the reply back when it is final. */
  private call(cid: number, nr: unknown, args: unknown[], mode: 'blocking' | 'async'): void {
    if (this.gone) return;
    const controller = new AbortController();
    this.calls.set(cid, controller);
    if (mode === 'blocking') this.blocked++;
    let reply: Reply;
    try {
      reply = this.hooks.syscall(nr, args, { cancel: controller.signal }, mode);
    } catch {
      reply = { errno: 'EIO', message: 'internal kernel error' };
    }
    void final(reply).then((done) => {
      this.calls.delete(cid);
      if (mode === 'blocking') this.blocked--;
      if (this.gone) return;
      this.running = true;
      this.host.send({ t: 'reply', sid: this.sid, cid, reply: done });
    });
  }

  private abortAll(): void {
    for (const controller of this.calls.values()) controller.abort();
    this.calls.clear();
    this.blocked = 0;
  }
}
