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
import { fork, type ChildProcess } from 'node:child_process';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KernelError } from '../../abi/errno.ts';
import type { Program } from '../program.ts';
import type { BootRecord, SandboxHooks } from '../sandbox.ts';
import { isToKernel, type Ask, type ToHost, type ToKernel } from './protocol.ts';
import { RemoteSandbox, type HostLink } from './remote-sandbox.ts';

export interface HostPoolOptions {
  /** Healthy hosts kept running. */
  readonly count: number;
  /** The most agents one host runs at once; a spawn past every host's share gets EAGAIN. */
  readonly agentsPerHost: number;
  /** record writes one host event to the decision log. */
  readonly record: (detail: string) => void;
  /** A host that has not answered a heartbeat for this long is killed and its agents lost, ms (default 10,000). */
  readonly hangMs?: number;
}

/** HostInfo is one host as `agentctl top` and /metrics show it. */
export interface HostInfo {
  readonly id: number;
  readonly pid: number | undefined;
  readonly state: HostState;
  readonly agents: number;
}

type HostState = 'starting' | 'ready' | 'draining' | 'dead';

const HOST_MAIN = fileURLToPath(new URL(`./host-main${extname(fileURLToPath(import.meta.url))}`, import.meta.url));
const HEARTBEAT_MS = 1000;
/** How long a host told to exit has before it is killed, ms. */
const EXIT_GRACE_MS = 500;

class Host implements HostLink {
  readonly id: number;
  readonly child: ChildProcess;
  state: HostState = 'starting';
  readonly boxes = new Map<number, RemoteSandbox>();
  private readonly pool: HostPool;
  private readonly asks = new Map<number, { resolve(v: boolean | null): void; reject(e: Error): void }>();
  /** What is sent before the host is ready (its message handler is not listening yet). */
  private queue: ToHost[] | undefined = [];
  private nextReq = 1;
  private ping = 0;
  lastHeard = performance.now();
  readyAt: number | undefined;
  readonly startedAt = performance.now();

  constructor(pool: HostPool, id: number) {
    this.pool = pool;
    this.id = id;
    this.child = fork(HOST_MAIN, [], {
      serialization: 'advanced',
      execArgv: ['--no-node-snapshot', '--disable-warning=ExperimentalWarning'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child.on('message', (m: unknown) => this.onMessage(m));
    this.child.on('exit', (code, signal) => pool.died(this, signal !== null ? `killed by ${signal}` : `exited with status ${code}`));
    this.child.on('error', () => undefined);
  }

  send(message: ToHost): void {
    if (this.queue !== undefined) {
      this.queue.push(message);
      return;
    }
    if (this.child.connected) this.child.send(message, (err) => void err);
  }

  ask(sid: number, ask: Ask): Promise<boolean | null> {
    if (this.state === 'dead') return Promise.reject(new KernelError('EIO', `sandbox host ${this.id} is gone`));
    const req = this.nextReq++;
    return new Promise((resolve, reject) => {
      this.asks.set(req, { resolve, reject });
      this.send({ t: 'ask', sid, req, ...ask });
    });
  }

  release(sid: number): void {
    this.boxes.delete(sid);
    this.pool.released(this);
  }

  quarantine(why: string): void {
    this.pool.quarantine(this, why);
  }

  heartbeat(hangMs: number): void {
    if (this.state === 'dead') return;
    if (performance.now() - this.lastHeard > hangMs) {
      this.pool.record(`sandbox host ${this.id} (pid ${this.child.pid}) stopped answering for ${hangMs} ms: killed`);
      this.child.kill('SIGKILL');
      return;
    }
    this.send({ t: 'ping', n: ++this.ping });
  }

  /** fail rejects every question still open (the host is gone). */
  fail(why: string): void {
    for (const { reject } of this.asks.values()) reject(new KernelError('EIO', `sandbox host ${this.id} ${why}`));
    this.asks.clear();
  }

  private onMessage(raw: unknown): void {
    this.lastHeard = performance.now();
    if (!isToKernel(raw)) {
      // A host that sends nonsense is broken: it ends, and its agents are lost.
      this.pool.record(`sandbox host ${this.id} (pid ${this.child.pid}) sent a malformed message: killed`);
      this.child.kill('SIGKILL');
      return;
    }
    this.route(raw);
  }

  private route(m: ToKernel): void {
    switch (m.t) {
      case 'ready': {
        const queued = this.queue ?? [];
        this.queue = undefined;
        if (this.state === 'starting') this.state = 'ready';
        this.readyAt = performance.now();
        for (const message of queued) this.send(message);
        this.pool.ready(this);
        return;
      }
      case 'pong':
        return;
      case 'cpu':
        m.sids.forEach((sid, i) => this.boxes.get(sid)?.cpu(m.ns[i]!));
        return;
      case 'answer': {
        const waiting = this.asks.get(m.req);
        if (waiting === undefined) return;
        this.asks.delete(m.req);
        if (m.ok) waiting.resolve(m.value);
        else waiting.reject(new KernelError(m.errno === 'ENOEXEC' || m.errno === 'EINTR' || m.errno === 'EINVAL' || m.errno === 'ENOMEM' ? m.errno : 'EIO', m.message));
        return;
      }
      default:
        this.boxes.get(m.sid)?.onMessage(m);
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

  constructor(options: HostPoolOptions) {
    if (!Number.isInteger(options.count) || options.count < 1) throw new KernelError('EINVAL', `hosts: count must be a whole number ≥ 1, not ${options.count}`);
    if (!Number.isInteger(options.agentsPerHost) || options.agentsPerHost < 1) throw new KernelError('EINVAL', `hosts: agents_per_host must be a whole number ≥ 1, not ${options.agentsPerHost}`);
    this.options = options;
    for (let i = 0; i < options.count; i++) this.start();
    this.beat = setInterval(() => {
      for (const host of this.hosts) host.heartbeat(options.hangMs ?? 10_000);
    }, HEARTBEAT_MS);
    this.beat.unref();
  }

  private start(): Host {
    const host = new Host(this, this.nextHost++);
    this.hosts.add(host);
    return host;
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

  /** readyOnce resolves when every healthy host has said it is ready. */
  async readyOnce(): Promise<void> {
    while (this.healthy().some((h) => h.state === 'starting')) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  /** ready: `host` answered its first message. */
  ready(host: Host): void {
    this.record(`sandbox host ${host.id} (pid ${host.child.pid}) ready in ${Math.round(performance.now() - host.startedAt)} ms`);
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** quarantine stops placing agents on `host`, lets its agents end, then ends it; a fresh host takes its place now. */
  quarantine(host: Host, why: string): void {
    if (host.state === 'draining' || host.state === 'dead') return;
    host.state = 'draining';
    this.record(`sandbox host ${host.id} (pid ${host.child.pid}) quarantined: ${why}; it takes no new agents and ends when its ${host.boxes.size} agents have`);
    if (!this.closing) this.start();
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
      if (was !== 'draining') this.start();
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

  /** info lists the hosts, for `top` and /metrics. */
  info(): HostInfo[] {
    return [...this.hosts].map((h) => ({ id: h.id, pid: h.child.pid, state: h.state, agents: h.boxes.size }));
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
