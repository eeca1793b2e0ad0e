/**
 * Host is the kernel's side of one sandbox host process (host-main.ts): the
 * child process and its channel (frames.ts), the questions asked of it and
 * their answers, its heartbeat, its sandboxes (RemoteSandbox) and those
 * disposed of that it has not yet acknowledged; messages from it are routed
 * to the sandbox they name. A host that breaks the protocol, stops reading
 * its channel, never starts or stops answering is killed (HostPool, its
 * owner, then loses its agents and replaces it).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { KernelError } from '../../abi/errno.ts';
import { encode, FrameReader } from './frames.ts';
import { LATE_REPORT_MS } from './leases.ts';
import { FAIR_HELD_BYTES, MAX_HOST_HELD_BYTES, MAX_SANDBOX_HELD_BYTES, Outbox } from './outbox.ts';
import { isToKernel, type Ask, type ToHost, type ToKernel } from './protocol.ts';
import type { HostLink, RemoteSandbox } from './remote-sandbox.ts';

/** starting: not ready yet; ready: takes agents; spare: kept in reserve, ready or not; draining: quarantined, ends once its agents have. */
export type HostState = 'starting' | 'ready' | 'spare' | 'draining' | 'dead';

/** What a host tells the pool that owns it. */
export interface HostOwner {
  /** The host process ended (`how`: killed by a signal, exited, could not be started). */
  died(host: Host, how: string): void;
  /** record writes one host event to the decision log. */
  record(detail: string): void;
  /** The host said it is ready. */
  ready(host: Host): void;
  /** One of its sandboxes (for process `pid`) was disposed of. */
  released(host: Host, pid?: number): void;
  /** An isolate in it took V8's catastrophic path (of a process of the tree of pid `tree`, when known). */
  quarantine(host: Host, why: string, tree?: number): void;
}

/** mib shows `bytes` in MiB, to one decimal. */
const mib = (bytes: number): number => Math.round((bytes / 2 ** 20) * 10) / 10;

/** How long a host that never said it was ready has, ms. */
const START_MS = 30_000;

/** How a host's end reads when it ended itself after the kernel told it to exit and it said bye (host-main.ts: always by SIGKILL). */
export const ENDED_AS_ASKED = 'ended as asked';

export class Host implements HostLink {
  readonly id: number;
  readonly child: ChildProcess;
  state: HostState;
  readonly boxes = new Map<number, RemoteSandbox>();
  /** Sandboxes disposed of and not yet acknowledged by the host (calls their leases ran may still come), with when. */
  private readonly disposing = new Map<number, { readonly box: RemoteSandbox; readonly at: number }>();
  private readonly pool: HostOwner;
  private readonly channel: Socket;
  private readonly reader: FrameReader;
  /** The messages about each sandbox on their way (outbox.ts), while any are. */
  private readonly outboxes = new Map<number, Outbox>();
  /** What they hold in all (waiting, or written and not yet taken by the OS). */
  private held = 0;
  /** What the replies of each sandbox's calls under way may bring (reserve), counted in `held` too. */
  private readonly reserved = new Map<number, number>();
  /** Told to exit while its outboxes still held something: what runs once the exit, sent after them, is written. */
  private exiting: (() => void) | undefined;
  /** The exit message was sent, and the host said its last (bye): the SIGKILL of itself that follows is its end as asked. */
  private toldToExit = false;
  private saidBye = false;
  private readonly asks = new Map<number, { readonly sid: number; resolve(v: boolean | null): void; reject(e: Error): void }>();
  private nextReq = 1;
  private ping = 0;
  /** The last ping the host answered. */
  private answered = 0;
  /** The host said it was ready (once). */
  wasReady = false;
  /** Calls it ran under leases. */
  served = 0;
  lastHeard = performance.now();
  readonly startedAt = performance.now();
  /** When the channel last took bytes from the kernel, or began to hold some: a host that reads none for hang_ms is killed. */
  private progress = performance.now();
  /** It was killed (its exit has not come yet): nothing more is sent or recorded for it. */
  private killed = false;

  constructor(pool: HostOwner, id: number, state: 'starting' | 'spare', entry: string) {
    this.pool = pool;
    this.id = id;
    this.state = state;
    // Not fork(): Node's IPC channel decodes frames where a bad one ends this process. fd 3 is a socket pair of our own.
    this.child = spawn(process.execPath, ['--no-node-snapshot', '--disable-warning=ExperimentalWarning', entry], { stdio: ['ignore', 'inherit', 'inherit', 'pipe'] });
    this.channel = this.child.stdio[3] as Socket;
    this.reader = new FrameReader(
      (m, ns) => this.onMessage(m, ns),
      (why) => this.broke(why),
    );
    this.channel.on('data', (chunk: Buffer) => this.reader.push(chunk));
    this.channel.on('error', () => undefined);
    // A host told to exit ends itself with SIGKILL once it said bye (host-main.ts says why): the end it was asked for.
    // 'close', not 'exit': it comes after the channel's last data (the bye) was read.
    this.child.on('close', (code, signal) => pool.died(this, this.saidBye && signal === 'SIGKILL' ? ENDED_AS_ASKED : signal !== null ? `killed by ${signal}` : `exited with status ${code}`));
    // A process that could not be started never exits: it is dead all the same.
    this.child.on('error', (err) => {
      if (this.child.pid === undefined) pool.died(this, `could not be started: ${err.message}`);
    });
  }

  /**
   * send writes one message (`frame`: it encoded, if the caller has it). One
   * about a sandbox goes through that sandbox's outbox (outbox.ts), in
   * order, waiting there past its share. Throws if it cannot be cloned or
   * is too large.
   */
  send(message: ToHost, frame: Buffer = encode(message)): void {
    if (this.state === 'dead' || this.killed || this.channel.destroyed) return;
    if (!('sid' in message)) return this.write(frame, undefined);
    const { sid } = message;
    let outbox = this.outboxes.get(sid);
    if (outbox === undefined) {
      outbox = new Outbox(
        (f, done) => this.write(f, done),
        () => this.emptied(sid),
        (bytes) => (this.held += bytes),
      );
      this.outboxes.set(sid, outbox);
    }
    // A sandbox's end does not wait behind the replies it had not taken yet.
    if (message.t === 'dispose') outbox.dropReplies();
    outbox.push(frame, message.t === 'reply');
  }

  /**
   * full says why sandbox `sid`'s new asynchronous calls get EAGAIN now (its
   * messages held in the kernel are past their budget), or undefined. Only a
   * refusal: bytes the OS took may be counted until the channel's write
   * callbacks run, which can be late (Node writes what queued up as one
   * writev), so nothing is killed for them.
   */
  full(sid: number): string | undefined {
    const held = (this.outboxes.get(sid)?.held ?? 0) + (this.reserved.get(sid) ?? 0);
    if (held > MAX_SANDBOX_HELD_BYTES) return `${mib(held)} MiB not yet taken by its sandbox host (at most ${mib(MAX_SANDBOX_HELD_BYTES)} MiB)`;
    // A neighbour holding little goes on: the host's total is past its bound only by what those each hold.
    if (this.held > MAX_HOST_HELD_BYTES && held > FAIR_HELD_BYTES) return `${mib(held)} MiB not yet taken by its sandbox host, which has ${mib(this.held)} MiB waiting for its agents (at most ${mib(MAX_HOST_HELD_BYTES)} MiB)`;
    return undefined;
  }

  /**
   * exit tells the host to exit once every outbox has drained, so that the
   * exit comes after what waits for its sandboxes (a disposal, above all:
   * the host acknowledges it after reporting the calls its leases ran; an
   * exit ahead of it ended the host with those never recorded). `sent`
   * runs once the exit is written. A host that takes nothing of what waits
   * is judged as ever: killed after hang_ms (heartbeat).
   */
  exit(sent: () => void): void {
    this.exiting = sent;
    if (this.outboxes.size === 0) this.emptied();
  }

  /** emptied: sandbox `sid`'s outbox (if any) has drained; the last one lets an exit waiting for it go. */
  private emptied(sid?: number): void {
    if (sid !== undefined) this.outboxes.delete(sid);
    const sent = this.exiting;
    if (sent === undefined || this.outboxes.size > 0) return;
    this.exiting = undefined;
    this.toldToExit = true;
    this.send({ t: 'exit' });
    sent();
  }

  /**
   * reserve counts `bytes` (negative: gives them back) for sandbox `sid` as
   * held: the most the reply of a call under way may bring, so replies that
   * come later are bounded as the ones waiting are (a review: a batch of
   * reads on empty pipes passed the check, each, before any reply came).
   */
  reserve(sid: number, bytes: number): void {
    const now = (this.reserved.get(sid) ?? 0) + bytes;
    if (now > 0) this.reserved.set(sid, now);
    else this.reserved.delete(sid);
    this.held += bytes;
  }

  /** wouldWait: a message of `bytes` about sandbox `sid` sent now would wait in its outbox. */
  wouldWait(sid: number, bytes: number): boolean {
    return this.outboxes.get(sid)?.wouldWait(bytes) === true;
  }

  private write(frame: Buffer, done: (() => void) | undefined): void {
    if (this.channel.writableLength === 0) this.progress = performance.now();
    this.channel.write(frame, () => {
      this.progress = performance.now();
      done?.();
    });
  }

  ask(sid: number, ask: Ask): Promise<boolean | null> {
    if (this.state === 'dead') return Promise.reject(new KernelError('EIO', `sandbox host ${this.id} is gone`));
    const req = this.nextReq++;
    return new Promise((resolve, reject) => {
      this.asks.set(req, { sid, resolve, reject });
      try {
        this.send({ t: 'ask', sid, req, ...ask });
      } catch (err) {
        this.asks.delete(req);
        reject(new KernelError('EINVAL', `cannot send to the sandbox host: ${err instanceof Error ? err.message : String(err)}`));
      }
    });
  }

  /** broke ends a host that broke the protocol: it is killed, and its agents lost. */
  broke(why: string): void {
    if (this.state === 'dead' || this.killed) return;
    this.killed = true;
    this.reader.stop();
    this.pool.record(`sandbox host ${this.id} (pid ${this.child.pid}) ${why}: killed`);
    this.child.kill('SIGKILL');
  }

  release(sid: number): void {
    const box = this.boxes.get(sid);
    this.boxes.delete(sid);
    if (box !== undefined && this.state !== 'dead') this.disposing.set(sid, { box, at: performance.now() });
    this.pool.released(this, box?.pid);
  }

  quarantine(why: string, tree?: number): void {
    this.pool.quarantine(this, why, tree);
  }

  heartbeat(hangMs: number): void {
    if (this.state === 'dead') return;
    if (!this.wasReady) {
      if (performance.now() - this.startedAt > START_MS) this.broke(`did not start within ${START_MS} ms`);
      return;
    }
    if (this.channel.writableLength > 0 && performance.now() - this.progress > hangMs) return this.broke(`stopped reading its channel (${this.channel.writableLength} bytes waiting for ${hangMs} ms)`);
    if (performance.now() - this.lastHeard > hangMs) return this.broke(`stopped answering for ${hangMs} ms`);
    // A disposal the host never acknowledges is let go of after LATE_REPORT_MS: a host cannot make the kernel keep them.
    for (const [sid, { box, at }] of this.disposing) {
      if (performance.now() - at <= LATE_REPORT_MS) continue;
      this.disposing.delete(sid);
      box.reported();
    }
    this.send({ t: 'ping', n: ++this.ping });
  }

  /** fail rejects every question still open (the host is gone). */
  fail(why: string): void {
    for (const { reject } of this.asks.values()) reject(new KernelError('EIO', `sandbox host ${this.id} ${why}`));
    this.asks.clear();
    for (const { box } of this.disposing.values()) box.reported();
    this.disposing.clear();
    this.outboxes.clear();
    this.reserved.clear();
    this.held = 0;
    this.exiting = undefined;
  }

  private onMessage(raw: unknown, decodeNs: number): void {
    // A host that sends nonsense is broken: it ends, and its agents are lost.
    if (!isToKernel(raw)) return this.broke('sent a malformed message');
    const fault = this.route(raw, decodeNs);
    if (fault !== undefined) this.broke(fault);
  }

  /** route acts on one well-formed message (decoded in `decodeNs`); what no honest host sends comes back as the host's fault. */
  private route(m: ToKernel, decodeNs: number): string | undefined {
    switch (m.t) {
      case 'ready':
        if (this.wasReady) return 'said it was ready twice';
        this.wasReady = true;
        if (this.state === 'starting') this.state = 'ready';
        this.lastHeard = performance.now();
        this.pool.ready(this);
        return undefined;
      case 'pong':
        // Only an answer to a ping sent, newer than the last answered, is a sign of life: a host cannot keep itself alive
        // by sending pongs of its own. (A late answer counts: on a loaded machine it may arrive after the next ping.)
        if (m.n > this.answered && m.n <= this.ping) {
          this.answered = m.n;
          this.lastHeard = performance.now();
        }
        return undefined;
      case 'cpu':
        m.sids.forEach((sid, i) => this.boxes.get(sid)?.cpu(m.ns[i]!));
        return undefined;
      case 'answer': {
        const waiting = this.asks.get(m.req);
        if (waiting === undefined) return `answered question ${m.req}, which it was not asked`;
        if (waiting.sid !== m.sid) return `answered question ${m.req} for sandbox ${m.sid}, not ${waiting.sid}`;
        this.asks.delete(m.req);
        if (m.ok) waiting.resolve(m.value);
        else waiting.reject(new KernelError(m.errno === 'ENOEXEC' || m.errno === 'EINTR' || m.errno === 'EINVAL' || m.errno === 'ENOMEM' ? m.errno : 'EIO', m.message.slice(0, 4096)));
        return undefined;
      }
      case 'disposed':
        this.disposing.get(m.sid)?.box.reported();
        this.disposing.delete(m.sid);
        return undefined;
      case 'bye':
        // Only after it was told to exit: a SIGKILL before its bye (its exit hung and the kernel killed it, or the OOM killer) says so.
        if (!this.toldToExit) return 'said bye without being told to exit';
        this.saidBye = true;
        return undefined;
      case 'stuck':
        // A thread of it runs for good, and its process may not exit on its own: drained and replaced, as after V8's catastrophic path.
        if (this.state !== 'draining' && this.state !== 'dead') this.quarantine(m.why);
        return undefined;
      default:
        // Decoding a sandbox's message (a syscall's arguments, up to the ABI's bounds) is the kernel's work for its tree.
        return (this.boxes.get(m.sid) ?? this.disposing.get(m.sid)?.box)?.onMessage(m, decodeNs);
    }
  }
}

