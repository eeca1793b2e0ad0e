/**
 * Lineage is one process tree — a root process and every process spawned
 * from it, directly or not — and what ring 0 accounts to it. A child is its
 * own process (pid, isolate, fds, signals) but runs as its root's agent: the
 * same agent id, so the same VFS tree, policy counters, budgets and `agents:`
 * rules (a rule tells a child apart with `lineage: [child]`). The tree shares
 * one set of limits, taken from the root at spawn: members (`children`, live
 * or not yet reaped), syscalls — and so decision records — per second,
 * output bytes, CPU time (its isolates' and the kernel's own work for it) and
 * the wall-clock deadline.
 */
import type { ProcessLimits } from './limits.ts';

/** OutputBudget is the bytes a tree may write to the operator's stdout and stderr, and the bytes of its writes that wait (fd-table.ts). */
export interface OutputBudget {
  used: number;
  readonly limit: number;
  /** Bytes of the tree's writes waiting for room in pipes or operator sinks (MAX_BLOCKED_WRITE_BYTES). */
  waiting: number;
  /** How many of the tree's writes wait in each operator sink (its fd entry, shared by the tree). */
  readonly waitsIn: Map<object, number>;
  /** The tree's pipes with an end still open (kernel/fd-table.ts MAX_TREE_PIPES): each may hold 64 KiB in the kernel. */
  pipes: number;
}

/** RateVerdict: let the call through, or refuse it (the first refusal of a window is recorded; the rest are counted). */
export type RateVerdict = 'ok' | 'refused-first' | 'refused';

const WINDOW_MS = 1000;

/** The least a decision record is taken to weigh when a lease is sized by the log's share (a syscall record is ~500 bytes). */
const MIN_RECORD_BYTES = 256;

export class Lineage {
  readonly rootPid: number;
  readonly agentId: string;
  readonly limits: ProcessLimits;
  readonly startedAt: number;
  /** When the tree's wall-time limit ends it (ms since the epoch), if it has one. */
  readonly deadline: number | undefined;
  /** Pids of the tree still in the process table (running, or exited and not yet reaped). */
  readonly members = new Set<number>();
  readonly output: OutputBudget;
  /** Kernel (ring 0) time spent on the tree's behalf, ns: syscalls, matching, hashing, copying, fingerprinting. */
  kernelNs = 0;
  /** CPU time of members that have ended, ns. */
  endedCpuNs = 0;
  /** Syscalls the tree made, refused ones included. */
  syscalls = 0;
  /** Bytes of decision records the tree's calls added to the log. */
  logBytes = 0;
  /** Calls of the tree the gate is metering now (meter). */
  private metering = 0;
  /** Spawns into the tree admitted but not yet in the process table (a program compiling). */
  pendingSpawns = 0;
  private window = { start: 0, calls: 0, refused: 0, kernelNs: 0, logBytes: 0, reserved: 0 };
  /** The tree's syscalls count against its rate and kernel-time share; a replay before its fork is not paced (its pace is not the recorded one). */
  paced = true;

  constructor(rootPid: number, agentId: string, limits: ProcessLimits, now: number) {
    this.rootPid = rootPid;
    this.agentId = agentId;
    this.limits = limits;
    this.startedAt = now;
    this.deadline = limits.wallMs === undefined ? undefined : now + limits.wallMs;
    this.output = { used: 0, limit: limits.outputBytes ?? Number.POSITIVE_INFINITY, waiting: 0, waitsIn: new Map(), pipes: 0 };
  }

  /** descendants counts the members other than the root: what `children` limits. */
  get descendants(): number {
    return this.members.size - (this.members.has(this.rootPid) ? 1 : 0);
  }

  /**
   * admit counts one syscall against the tree's rate limit and checks its
   * share of the kernel's time this second. `summary` is called when a
   * window that refused calls is over, with how many it refused after the
   * first (so refusals cost one record per window and a summary, not one
   * record each).
   */
  admit(now: number, summary: (refused: number) => void): RateVerdict {
    this.syscalls++;
    const rate = this.limits.syscallsPerSecond;
    const share = this.limits.kernelMsPerSecond;
    if ((rate === undefined && share === undefined && this.limits.logBytesPerSecond === undefined) || !this.paced) return 'ok';
    const w = this.window;
    if (now - w.start >= WINDOW_MS) {
      if (w.refused > 1) summary(w.refused - 1);
      this.window = { start: now, calls: 0, refused: 0, kernelNs: 0, logBytes: 0, reserved: 0 };
    }
    const within = ++this.window.calls <= (rate ?? Number.POSITIVE_INFINITY) && !this.overShare && !this.overLog;
    if (within) return 'ok';
    return ++this.window.refused === 1 ? 'refused-first' : 'refused';
  }

  /**
   * reserve takes up to `most` calls from the tree's current rate window for
   * a sandbox host's lease (kernel/hosts/leases.ts): at most a 64th of the
   * rate and half of what the window has left, and the tree's leases
   * together at most half the rate. They count as calls of this window now,
   * and `refund` gives back what goes unused. None while the tree is over its
   * rate or its share of the kernel's time. `ms`: how
   * long the window lasts (at most `longest`); `window`: which it is.
   */
  reserve(now: number, most: number, longest: number, summary: (refused: number) => void): { tokens: number; ms: number; window: number } {
    const rate = this.limits.syscallsPerSecond;
    const share = this.limits.kernelMsPerSecond;
    if ((rate === undefined && share === undefined && this.limits.logBytesPerSecond === undefined) || !this.paced) return { tokens: most, ms: longest, window: -1 };
    if (now - this.window.start >= WINDOW_MS) {
      if (this.window.refused > 1) summary(this.window.refused - 1);
      this.window = { start: now, calls: 0, refused: 0, kernelNs: 0, logBytes: 0, reserved: 0 };
    }
    const w = this.window;
    // A lease gets at most a 64th of the rate and half of what is left, and the tree's leases together half the rate:
    // the calls that come to the kernel keep the rest, however many processes hold a lease they do not use.
    const left = Math.max(0, (rate ?? Number.POSITIVE_INFINITY) - w.calls);
    const perLease = rate === undefined ? most : Math.max(1, Math.floor(rate / 64));
    const leaseRoom = rate === undefined ? most : Math.floor(rate / 2) - w.reserved;
    // A lease's calls are recorded after they run: no more than the log's share left this second holds, at the tree's
    // bytes a call so far, less what leases already hold (a review: 1.3x the share got through leases).
    const logMost = this.limits.logBytesPerSecond;
    const perCall = Math.max(MIN_RECORD_BYTES, this.syscalls > 0 ? this.logBytes / this.syscalls : MIN_RECORD_BYTES);
    const logRoom = logMost === undefined ? most : Math.floor(Math.max(0, logMost - w.logBytes) / perCall) - w.reserved;
    const tokens = this.overShare || this.overLog || left === 0 ? 0 : Math.max(0, Math.min(most, perLease, leaseRoom, logRoom, Math.max(1, Math.floor(left / 2))));
    w.calls += tokens;
    w.reserved += tokens;
    return { tokens, ms: Math.min(longest, this.windowRemainingMs(now)), window: w.start };
  }

  /** refund gives back `tokens` reserved in `window` and never used, if that window is still the current one. */
  refund(tokens: number, window: number): void {
    if (window !== this.window.start) return;
    this.window.calls = Math.max(0, this.window.calls - tokens);
    this.window.reserved = Math.max(0, this.window.reserved - tokens);
  }

  /**
   * charge adds kernel time spent for the tree (ns) to its total (CPU
   * accounting) and, when it was spent on the event loop, to the current
   * second's share of the loop; work off the loop (a worker) only counts as CPU.
   */
  charge(ns: number, onLoop = true): void {
    this.kernelNs += ns;
    if (onLoop) this.window.kernelNs += ns;
  }

  /**
   * logged counts `bytes` of decision records a call of the tree added to the
   * log (recordFor: a decision settled later, an approval, an outcome). While
   * the gate meters a call of the tree, meter counts them instead.
   */
  logged(bytes: number): void {
    if (this.metering === 0) this.addLogged(bytes);
  }

  /**
   * meter runs `run`, a call of the tree, and counts every byte the log grew
   * by meanwhile against the tree: its own records and those of what it did
   * to others (the signal and exit records of a child it killed; a review
   * found them uncounted when only recordFor counted).
   */
  meter<T>(recorder: { readonly bytes?: number }, run: () => T): T {
    const before = recorder.bytes;
    this.metering++;
    try {
      return run();
    } finally {
      this.metering--;
      if (before !== undefined) this.addLogged(recorder.bytes! - before);
    }
  }

  private addLogged(bytes: number): void {
    this.logBytes += bytes;
    this.window.logBytes += bytes;
  }

  /** windowRemainingMs is how long until the tree's current one-second window ends. */
  windowRemainingMs(now: number): number {
    return Math.max(0, this.window.start + WINDOW_MS - now);
  }

  /** overShare: the tree has had more than its share of the kernel's time this second (a refusal then names that rather than the rate). */
  get overShare(): boolean {
    const share = this.limits.kernelMsPerSecond;
    return share !== undefined && this.window.kernelNs > share * 1e6;
  }

  /** overLog: the tree's syscalls have added more than its share of decision records to the log this second. */
  get overLog(): boolean {
    const most = this.limits.logBytesPerSecond;
    return most !== undefined && this.window.logBytes > most;
  }

  /** flushRefusals reports the current window's uncounted refusals now (the tree is ending). */
  flushRefusals(summary: (refused: number) => void): void {
    if (this.window.refused > 1) summary(this.window.refused - 1);
    this.window.refused = 0;
  }

  /** callsThisSecond is the tree's syscall (decision record) count in the current one-second window. */
  get callsThisSecond(): number {
    return this.window.calls;
  }
}
