/**
 * HostPool starts, watches and replaces the sandbox host processes of a
 * kernel, and places each new sandbox on the least-loaded healthy host.
 *
 * - A host in which an isolate took V8's catastrophic path is quarantined:
 *   it takes no new agents, its other agents run to their end, then it is
 *   told to exit; a fresh host is started at once to take new spawns. The
 *   kernel is never degraded by it. The tree whose process it was spawns
 *   nothing (EAGAIN) for a while: 30 s after its first such event, twice as
 *   long after each further one, at most 10 min. How many hosts are
 *   quarantined is up to the agents, and it is their tree that waits, not
 *   the neighbours of an earlier quarantine (draining hosts are bounded).
 *   The wait is in time, not until the host drains: that could be never (an
 *   idle agent of the tree, or of another, lives there).
 * - A host that dies outright (abort, SIGKILL, the OOM killer) or stops
 *   answering its heartbeat (killed then) has its agents ended as lost
 *   (SIGKILL, with the reason recorded) and is replaced.
 * - Every host event is recorded in the decision log (type `limit`).
 */
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KernelError } from '../../abi/errno.ts';
import type { Program } from '../program.ts';
import type { BootRecord, SandboxHooks } from '../process-sandbox.ts';
import { ENDED_AS_ASKED, Host, type HostOwner, type HostState } from './host.ts';
import { RemoteSandbox } from './remote-sandbox.ts';

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
  /** How long a tree spawns nothing after its first process took V8's catastrophic path, ms (default CULPRIT_BACKOFF_MS; the tests give a shorter one). */
  readonly culpritBackoffMs?: number;
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

const HOST_MAIN = fileURLToPath(new URL(`./host-main${extname(fileURLToPath(import.meta.url))}`, import.meta.url));
/** The longest wait before a host that failed to start is tried again, ms (the wait doubles from 250 ms). */
const MAX_BACKOFF_MS = 30_000;
/** How long a host told to exit has before it is killed, ms. */
const EXIT_GRACE_MS = 500;
/** How long a tree spawns nothing after its first process took V8's catastrophic path, ms; it doubles with each further one, up to MAX_CULPRIT_BACKOFF_MS. */
export const CULPRIT_BACKOFF_MS = 30_000;
export const MAX_CULPRIT_BACKOFF_MS = 10 * 60_000;

/** seconds shows `ms` in seconds, to one decimal. */
const seconds = (ms: number): number => Math.round(ms / 100) / 10;
/** ordinal: 1st, 2nd, 3rd, 4th… */
const ordinal = (n: number): string => `${n}${n % 100 >= 11 && n % 100 <= 13 ? 'th' : (['th', 'st', 'nd', 'rd'][n % 10] ?? 'th')}`;

export class HostPool implements HostOwner {
  private readonly options: HostPoolOptions;
  private readonly hangMs: number;
  private readonly hosts = new Set<Host>();
  /** Hosts told to exit (retire runs once per host). */
  private readonly retiring = new WeakSet<Host>();
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
  /** The root pid of the tree of each process with a sandbox here, by pid (a child's is its parent's). */
  private readonly trees = new Map<number, number>();
  /** Trees (by root pid) a process of which took V8's catastrophic path: how many times, and until when (performance.now) they spawn nothing. */
  private readonly culprits = new Map<number, { strikes: number; until: number }>();

  constructor(options: HostPoolOptions) {
    if (!Number.isInteger(options.count) || options.count < 1) throw new KernelError('EINVAL', `hosts: count must be a whole number ≥ 1, not ${options.count}`);
    if (!Number.isInteger(options.agentsPerHost) || options.agentsPerHost < 1) throw new KernelError('EINVAL', `hosts: agents_per_host must be a whole number ≥ 1, not ${options.agentsPerHost}`);
    const hangMs = options.hangMs ?? 10_000;
    if (!Number.isFinite(hangMs) || hangMs < 100) throw new KernelError('EINVAL', `hosts: hang_ms must be at least 100, not ${options.hangMs}`);
    const spares = options.spares ?? 1;
    if (!Number.isInteger(spares) || spares < 0) throw new KernelError('EINVAL', `hosts: spares must be a whole number ≥ 0, not ${options.spares}`);
    this.options = options;
    this.hangMs = hangMs;
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
    const tree = this.trees.get(boot.ppid) ?? boot.pid;
    const culprit = this.culprits.get(tree);
    const left = culprit === undefined ? 0 : culprit.until - performance.now();
    if (left > 0) throw new KernelError('EAGAIN', `a process of the tree of pid ${tree} took V8's catastrophic out-of-memory path (${culprit!.strikes} ${culprit!.strikes === 1 ? 'time' : 'times'}): the tree spawns nothing for another ${seconds(left)} s`);
    const host = open.reduce((a, b) => (b.boxes.size < a.boxes.size ? b : a));
    const sid = this.nextSid++;
    const sandbox = new RemoteSandbox(host, sid, program, heapMib, boot, hooks, tree);
    host.boxes.set(sid, sandbox);
    this.trees.set(boot.pid, tree);
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

  /**
   * quarantine stops placing agents on `host`, lets its agents end, then
   * ends it; a fresh host takes its place now. The tree of pid `tree`, whose
   * process took the catastrophic path there, spawns nothing for a while
   * (backOff).
   */
  quarantine(host: Host, why: string, tree?: number): void {
    if (host.state === 'dead') return;
    const waits = tree === undefined ? '' : this.backOff(tree);
    if (host.state === 'draining') {
      if (waits !== '') this.record(`sandbox host ${host.id} (pid ${host.child.pid}), draining: ${why}${waits}`);
      return;
    }
    host.state = 'draining';
    this.record(`sandbox host ${host.id} (pid ${host.child.pid}) quarantined: ${why}; it takes no new agents and ends when its ${host.boxes.size} agents have${waits}`);
    // Draining hosts are bounded too (as many as `count`): past that the oldest is ended now, its agents lost.
    const draining = [...this.hosts].filter((h) => h.state === 'draining');
    if (draining.length > this.options.count) draining[0]!.broke(`was still draining when ${draining.length} hosts were (at most ${this.options.count})`);
    this.replace();
    this.released(host);
  }

  /**
   * backOff counts one more catastrophic event of the tree of pid `tree`:
   * it spawns nothing for CULPRIT_BACKOFF_MS after its first, twice as long
   * after each further one (at most MAX_CULPRIT_BACKOFF_MS); what the
   * record says of it.
   */
  private backOff(tree: number): string {
    const now = performance.now();
    // A tree that has kept clear of it for the longest wait starts again from the first (and the book stays small).
    for (const [root, c] of this.culprits) if (now - c.until > MAX_CULPRIT_BACKOFF_MS) this.culprits.delete(root);
    const base = this.options.culpritBackoffMs ?? CULPRIT_BACKOFF_MS;
    const culprit = this.culprits.get(tree) ?? { strikes: 0, until: 0 };
    culprit.strikes++;
    const ms = Math.min(MAX_CULPRIT_BACKOFF_MS, base * 2 ** (culprit.strikes - 1));
    culprit.until = Math.max(culprit.until, now + ms);
    this.culprits.set(tree, culprit);
    return `; the tree of pid ${tree} spawns nothing for ${seconds(ms)} s (its ${ordinal(culprit.strikes)} time)`;
  }

  /** released: a sandbox of `host` (for process `pid`) is gone; a draining host with none left is told to exit. */
  released(host: Host, pid?: number): void {
    if (pid !== undefined) this.trees.delete(pid);
    if (host.state === 'draining' && host.boxes.size === 0) this.retire(host);
  }

  /**
   * retire tells `host` to exit once what waits for its sandboxes has gone
   * (Host.exit) and kills it if it has not within EXIT_GRACE_MS of that: a
   * process in which an isolate took V8's catastrophic path can hang in its
   * own exit (measured here: process.exit never returned). A host that has
   * not taken what waits within hang_ms is killed (the heartbeat's
   * judgement, which shutdown no longer runs).
   */
  private retire(host: Host): void {
    // Once: a host drained to its last agent and then shut down would otherwise be told twice, with two sets of timers.
    if (this.retiring.has(host)) return;
    this.retiring.add(host);
    let told = false;
    host.exit(() => {
      told = true;
      setTimeout(() => {
        if (host.state !== 'dead') host.child.kill('SIGKILL');
      }, EXIT_GRACE_MS).unref();
    });
    if (told) return;
    setTimeout(() => {
      if (!told) host.broke(`had not taken what waited for its sandboxes ${this.hangMs} ms after it was told to exit`);
    }, this.hangMs).unref();
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
    for (const sandbox of lost) this.trees.delete(sandbox.pid);
    if (was === 'draining' && lost.length === 0) {
      if (!this.closing) this.record(`sandbox host ${host.id} (pid ${host.child.pid}) drained and ended${how === ENDED_AS_ASKED ? '' : ` (${how})`}`);
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
    // Until each host's end has been taken in ('close', as died: after its last frames, its bye, were read; a review).
    const exits = [...this.hosts].map((h) => new Promise<void>((resolve) => (h.state === 'dead' ? resolve() : h.child.once('close', () => resolve()))));
    for (const host of this.hosts) {
      host.state = 'draining';
      this.retire(host);
    }
    await Promise.all(exits);
  }
}
