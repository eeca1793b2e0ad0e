/**
 * HostPool starts, watches and replaces the sandbox host processes of a
 * kernel, and places each new sandbox on the least-loaded healthy host.
 *
 * - A host in which an isolate took V8's catastrophic path is quarantined:
 *   it takes no new agents, its other agents run to their end, then it is
 *   told to exit; a fresh host is started at once to take new spawns. The
 *   kernel is never degraded by it.
 * - A host that dies outright (abort, SIGKILL, the OOM killer) or stops
 *   answering its heartbeat (killed then) has its agents ended as lost
 *   (SIGKILL, with the reason recorded) and is replaced.
 * - Every host event is recorded in the decision log (type `limit`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KernelError } from '../../abi/errno.ts';
import type { Program } from '../program.ts';
import type { BootRecord, SandboxHooks } from '../process-sandbox.ts';
import { encode, FrameReader } from './frames.ts';
import { isToKernel, type Ask, type ToHost, type ToKernel } from './protocol.ts';
import { RemoteSandbox, type HostLink } from './remote-sandbox.ts';
import { LATE_REPORT_MS } from './leases.ts';

export interface HostPoolOptions {
  /** Healthy hosts kept running. */
  readonly count: number;
  /** The most agents one host runs at once; a spawn past every host's share gets EAGAIN. */
  readonly agentsPerHost: number;
  /** record writes one host event to the decision log. */
  readonly record: (detail: string) => void;
  /** A host that has not answered a heartbeat for this long is killed and its agents lost, ms (default 10,000; at least 100). */
  readonly hangMs?: number;
  /** Hosts started and kept ready in reserve, so a host that dies or is quarantined is replaced at once (default 1). */
  readonly spares?: number;
  /** The host's program (default kernel/hosts/host-main): the tests give a hostile one. */
  readonly entry?: string;
}

/** HostInfo is one host as `agentctl top` and /metrics show it. */
export interface HostInfo {
  readonly id: number;
  readonly pid: number | undefined;
  readonly state: HostState;
  /** It has said it is ready (a spare may not have yet). */
  readonly ready: boolean;
  readonly agents: number;
  /** Syscalls the host ran itself under its leases (kernel/hosts/leases.ts), since it started. */
  readonly served: number;
}

/** starting: not ready yet; ready: takes agents; spare: kept in reserve, ready or not; draining: quarantined, ends once its agents have. */
type HostState = 'starting' | 'ready' | 'spare' | 'draining' | 'dead';

const HOST_MAIN = fileURLToPath(new URL(`./host-main${extname(fileURLToPath(import.meta.url))}`, import.meta.url));
/** The most bytes waiting to be written to one host: a host that stops reading its channel is ended, not buffered for. */
const MAX_BACKLOG_BYTES = 64 * 1024 * 1024;
/** How long a host that never said it was ready has, ms. */
const START_MS = 30_000;
/** The longest wait before a host that failed to start is tried again, ms (the wait doubles from 250 ms). */
const MAX_BACKOFF_MS = 30_000;
/** How long a host told to exit has before it is killed, ms. */
const EXIT_GRACE_MS = 500;

class Host implements HostLink {
  readonly id: number;
  readonly child: ChildProcess;
  state: HostState;
  readonly boxes = new Map<number, RemoteSandbox>();
  /** Sandboxes disposed of and not yet acknowledged by the host (calls their leases ran may still come), with when. */
  private readonly disposing = new Map<number, { readonly box: RemoteSandbox; readonly at: number }>();
  private readonly pool: HostPool;
  private readonly channel: Socket;
  private readonly reader: FrameReader;
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

  constructor(pool: HostPool, id: number, state: 'starting' | 'spare', entry: string) {
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
    this.child.on('exit', (code, signal) => pool.died(this, signal !== null ? `killed by ${signal}` : `exited with status ${code}`));
    // A process that could not be started never exits: it is dead all the same.
    this.child.on('error', (err) => {
      if (this.child.pid === undefined) pool.died(this, `could not be started: ${err.message}`);
    });
  }

  /** send writes one message (kept by the socket until the host reads it). Throws if it cannot be cloned or is too large. */
  send(message: ToHost): void {
    if (this.state === 'dead' || this.channel.destroyed) return;
    this.channel.write(encode(message));
    if (this.channel.writableLength > MAX_BACKLOG_BYTES) this.broke(`stopped reading its channel (${this.channel.writableLength} bytes waiting)`);
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
    if (this.state === 'dead') return;
    this.reader.stop();
    this.pool.record(`sandbox host ${this.id} (pid ${this.child.pid}) ${why}: killed`);
    this.child.kill('SIGKILL');
  }

  release(sid: number): void {
    const box = this.boxes.get(sid);
    this.boxes.delete(sid);
    if (box !== undefined && this.state !== 'dead') this.disposing.set(sid, { box, at: performance.now() });
    this.pool.released(this);
  }

  quarantine(why: string): void {
    this.pool.quarantine(this, why);
  }

  heartbeat(hangMs: number): void {
    if (this.state === 'dead') return;
    if (!this.wasReady) {
      if (performance.now() - this.startedAt > START_MS) this.broke(`did not start within ${START_MS} ms`);
      return;
    }
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
      default:
        // Decoding a sandbox's message (a syscall's arguments, up to the ABI's bounds) is the kernel's work for its tree.
        return (this.boxes.get(m.sid) ?? this.disposing.get(m.sid)?.box)?.onMessage(m, decodeNs);
    }
  }
}

export class HostPool {
  private readonly options: HostPoolOptions;
  private readonly hosts = new Set<Host>();
  private nextHost = 1;
  private nextSid = 1;
  private closing = false;
  private readonly beat: NodeJS.Timeout;
  /** Resolvers waiting for a host to be ready (readyOnce). */
  private readonly waiters: (() => void)[] = [];
  /** Hosts in a row that ended before they were ready, and why the last did: replacements back off, and readyOnce gives up. */
  private failures = 0;
  private lastFailure = '';
  /** Replacements waiting out their back-off. */
  private waiting = 0;

  constructor(options: HostPoolOptions) {
    if (!Number.isInteger(options.count) || options.count < 1) throw new KernelError('EINVAL', `hosts: count must be a whole number ≥ 1, not ${options.count}`);
    if (!Number.isInteger(options.agentsPerHost) || options.agentsPerHost < 1) throw new KernelError('EINVAL', `hosts: agents_per_host must be a whole number ≥ 1, not ${options.agentsPerHost}`);
    const hangMs = options.hangMs ?? 10_000;
    if (!Number.isFinite(hangMs) || hangMs < 100) throw new KernelError('EINVAL', `hosts: hang_ms must be at least 100, not ${options.hangMs}`);
    const spares = options.spares ?? 1;
    if (!Number.isInteger(spares) || spares < 0) throw new KernelError('EINVAL', `hosts: spares must be a whole number ≥ 0, not ${options.spares}`);
    this.options = options;
    for (let i = 0; i < options.count; i++) this.start('starting');
    for (let i = 0; i < spares; i++) this.start('spare');
    // A few pings per hang_ms, so an idle host answers several before it could be counted as hung.
    this.beat = setInterval(() => {
      for (const host of this.hosts) host.heartbeat(hangMs);
    }, Math.min(1000, hangMs / 4));
    this.beat.unref();
  }

  private start(state: 'starting' | 'spare'): void {
    try {
      this.hosts.add(new Host(this, this.nextHost++, state, this.options.entry ?? HOST_MAIN));
    } catch (err) {
      this.failed(`could not be started: ${err instanceof Error ? err.message : String(err)}`);
      this.later(state);
    }
  }

  /** replace puts a host in place of one that ended or was quarantined: a ready spare at once (and a new spare), else a new host. */
  private replace(): void {
    if (this.closing) return;
    const spare = [...this.hosts].find((h) => h.state === 'spare' && h.wasReady);
    if (spare === undefined) return this.later('starting');
    spare.state = 'ready';
    this.record(`sandbox host ${spare.id} (pid ${spare.child.pid}) takes agents: it was a spare`);
    this.later('spare');
  }

  /** later starts a host, after a back-off while hosts keep failing to start. */
  private later(state: 'starting' | 'spare'): void {
    if (this.closing) return;
    if (this.failures === 0) return this.start(state);
    this.waiting++;
    setTimeout(() => {
      this.waiting--;
      if (!this.closing) this.start(state);
    }, Math.min(MAX_BACKOFF_MS, 250 * 2 ** (this.failures - 1))).unref();
  }

  private failed(why: string): void {
    this.failures++;
    this.lastFailure = why;
    this.record(`a sandbox host ${why} (${this.failures} in a row)`);
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** healthy counts hosts that take new agents. */
  private healthy(): Host[] {
    return [...this.hosts].filter((h) => h.state === 'starting' || h.state === 'ready');
  }

  /** sandbox places a new sandbox on the least-loaded healthy host. EAGAIN when every host is full. */
  sandbox(program: Program, heapMib: number, boot: BootRecord, hooks: SandboxHooks): RemoteSandbox {
    if (this.closing) throw new KernelError('EAGAIN', 'the kernel is shutting down');
    const open = this.healthy().filter((h) => h.boxes.size < this.options.agentsPerHost);
    if (open.length === 0) throw new KernelError('EAGAIN', `every sandbox host runs ${this.options.agentsPerHost} agents, its limit (hosts: ${this.options.count})`);
    const host = open.reduce((a, b) => (b.boxes.size < a.boxes.size ? b : a));
    const sid = this.nextSid++;
    const sandbox = new RemoteSandbox(host, sid, program, heapMib, boot, hooks);
    host.boxes.set(sid, sandbox);
    return sandbox;
  }

  /** readyOnce resolves when every healthy host has said it is ready. EIO once three hosts in a row ended before they were ready. */
  async readyOnce(): Promise<void> {
    for (;;) {
      if (this.failures >= 3) throw new KernelError('EIO', `sandbox hosts do not start: the last ${this.lastFailure}`);
      if (this.waiting === 0 && ![...this.hosts].some((h) => (h.state === 'starting' || h.state === 'spare') && !h.wasReady)) return;
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /** ready: `host` answered its first message. */
  ready(host: Host): void {
    this.failures = 0;
    this.record(`sandbox host ${host.id} (pid ${host.child.pid}) ready in ${Math.round(performance.now() - host.startedAt)} ms`);
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** quarantine stops placing agents on `host`, lets its agents end, then ends it; a fresh host takes its place now. */
  quarantine(host: Host, why: string): void {
    if (host.state === 'draining' || host.state === 'dead') return;
    host.state = 'draining';
    this.record(`sandbox host ${host.id} (pid ${host.child.pid}) quarantined: ${why}; it takes no new agents and ends when its ${host.boxes.size} agents have`);
    // Draining hosts are bounded too (as many as `count`): past that the oldest is ended now, its agents lost.
    const draining = [...this.hosts].filter((h) => h.state === 'draining');
    if (draining.length > this.options.count) draining[0]!.broke(`was still draining when ${draining.length} hosts were (at most ${this.options.count})`);
    this.replace();
    this.released(host);
  }

  /** released: a sandbox of `host` is gone; a draining host with none left is told to exit. */
  released(host: Host): void {
    if (host.state === 'draining' && host.boxes.size === 0) this.retire(host);
  }

  /**
   * retire tells `host` to exit and kills it if it has not within EXIT_GRACE_MS:
   * a process in which an isolate took V8's catastrophic path can hang in its
   * own exit (measured here: process.exit never returned).
   */
  private retire(host: Host): void {
    host.send({ t: 'exit' });
    setTimeout(() => {
      if (host.state !== 'dead') host.child.kill('SIGKILL');
    }, EXIT_GRACE_MS).unref();
  }

  /** died: `host`'s process ended; its agents are lost, and it is replaced unless it had drained. */
  died(host: Host, how: string): void {
    if (host.state === 'dead') return;
    const was = host.state;
    host.state = 'dead';
    this.hosts.delete(host);
    host.fail(how);
    const lost = [...host.boxes.values()];
    host.boxes.clear();
    if (was === 'draining' && lost.length === 0) {
      if (!this.closing) this.record(`sandbox host ${host.id} (pid ${host.child.pid}) drained and ended (${how})`);
    } else if (!this.closing) {
      this.record(`sandbox host ${host.id} (pid ${host.child.pid}) ${how}: ${lost.length} agents lost`);
      if (!host.wasReady) this.failed(`(host ${host.id}) ${how} before it was ready`);
      if (was === 'spare') this.later('spare');
      else if (was !== 'draining') this.replace();
    }
    for (const sandbox of lost) sandbox.lost(`sandbox host ${host.id} (pid ${host.child.pid}) ${how}`);
    for (const wake of this.waiters.splice(0)) wake();
  }

  record(detail: string): void {
    try {
      this.options.record(detail);
    } catch {
      // the log's own problem says why this record is missing
    }
  }

  /** revokeLeases takes back every lease of every host (what the kernel's decisions rest on changed: kernel/hosts/leases.ts). */
  revokeLeases(): void {
    for (const host of this.hosts) for (const box of host.boxes.values()) box.revokeLease();
  }

  /** info lists the hosts, for `top` and /metrics. */
  info(): HostInfo[] {
    return [...this.hosts].map((h) => ({ id: h.id, pid: h.child.pid, state: h.state, ready: h.wasReady, agents: h.boxes.size, served: h.served }));
  }

  /** close ends every host (their agents must have ended first) and waits for them to exit. */
  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.beat);
    const exits = [...this.hosts].map((h) => new Promise<void>((resolve) => (h.child.exitCode !== null || h.child.signalCode !== null ? resolve() : h.child.once('exit', () => resolve()))));
    for (const host of this.hosts) {
      host.state = 'draining';
      this.retire(host);
    }
    await Promise.all(exits);
  }
}
