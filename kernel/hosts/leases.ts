/**
 * Leases: the fast path of a sandbox host. After the kernel allows a call
 * of a `host` row (syscalls/table.ts: it uses only what a host has and has
 * no effect outside its process: getpid, random bytes, a timer, cancelling
 * one of its own calls) whose decision is steady (the policy answers every
 * such call of the process alike: no limits, time, trust, arguments or
 * paths, no contract, no shadow policy; never a write-access call), its
 * reply carries a lease: the host may run the process's later calls of the
 * leased rows itself, at most `tokens` of them (taken from its tree's
 * syscall rate), for `ms`. The host sends the calls it ran back in batches
 * naming their lease, ahead of anything else it sends, so the kernel
 * records each one (as dispatch records a call) before it sees any later
 * call of that host: an effect never leaves before the record of a call
 * whose answer it could carry.
 *
 * The kernel revokes a process's lease whenever what the decision rests on
 * changes: a signal to the process (SIGSTOP first of all), a new policy or
 * shadow policy, a circuit breaker of its agent, a log that failed. Calls
 * the host ran before the revocation reached it are still recorded (the
 * tokens bound them) until it acknowledges; a host that reports a call its
 * lease did not allow is broken. While the process is stopped the host
 * holds the completions of the calls it ran (a timer), as the kernel holds
 * its own. When the kernel ends a process, the host acknowledges the
 * disposal after reporting what it ran: calls it ran before it learned are
 * recorded, in one record, after the exit.
 */
import type { Decision } from '../../syscalls/context.ts';

/** The most calls one lease covers. */
export const LEASE_TOKENS = 256;
/** The longest a lease lasts, ms (and never past its tree's rate window). */
export const LEASE_MS = 1000;
/** The most calls a host reports in one message. */
export const MAX_SERVED_BATCH = 512;

/** Lease is what a host is given: it may run calls of `nrs` by itself, `tokens` of them, for `ms` from its arrival; `gen` names it in the calls it reports. */
export interface Lease {
  readonly gen: number;
  readonly nrs: readonly number[];
  readonly tokens: number;
  readonly ms: number;
}

/** Grant is what the kernel gives for one call: the steady decision, and the calls and time its tree can spare (from its rate `window`). */
export interface Grant {
  readonly decision: Decision;
  readonly tokens: number;
  readonly ms: number;
  readonly window: number;
}

/** LeaseHooks is what a sandbox's kernel side needs to lease: SandboxHooks.leases (kernel/spawn.ts). */
export interface LeaseHooks {
  /** grant is a lease of at most `most` calls for later calls like syscall `nr` with `args`, just allowed; undefined: none. */
  grant(nr: number, args: readonly unknown[], most: number): Grant | undefined;
  /** refund gives back `tokens` a lease no longer uses to its tree's rate `window` (if that is still the current one). */
  refund(tokens: number, window: number): void;
  /** served records one call the host ran under decision `decision`; throws when its arguments do not decode (the host's fault). */
  served(nr: number, args: readonly unknown[], decision: Decision): void;
  /** late records, in one record, calls the host ran before it learned that the kernel had ended the process (they arrive after its exit), `count` of each. */
  late(calls: readonly { readonly nr: number; readonly decision: Decision; readonly count: number }[]): void;
}

/** The first lease's calls; each lease used up doubles the next, to LEASE_TOKENS (a process that makes one such call holds little of its tree's rate). */
export const FIRST_LEASE_TOKENS = 16;
/** The most leases of one sandbox the kernel keeps account of at once (sent, and not yet replaced by a newer one the host used). */
const MAX_LIVE_LEASES = 64;
/** How late past its end a call under a lease may be reported, ms: an honest host reports within its 20 ms tick; a host stalled longer than this is one the heartbeat kills (hang_ms, 10 s by default). */
export const LATE_REPORT_MS = 10_000;

interface Account {
  readonly gen: number;
  readonly decisions: ReadonlyMap<number, Decision>;
  tokens: number;
  readonly granted: number;
  readonly window: number;
  /** When it ends, on the kernel's clock (performance.now). */
  readonly until: number;
}

/**
 * LeaseBook is the kernel's account of the leases one sandbox's host holds.
 * A host moves only forward (it uses the newest lease it has received, and
 * reports in order), so a call under lease `gen` means every older lease is
 * done with: its unused tokens go back to the tree's rate window. Calls
 * under a lease that was revoked still count until the host acknowledges
 * the revocation (it reports every call it ran first); after that, and
 * LATE_REPORT_MS past a lease's end, none does. Once the host has
 * reported every call of an ended sandbox, its unused tokens go back.
 */
export class LeaseBook {
  private readonly accounts: Account[] = [];
  private nextGen = 1;
  /** The host was told to drop its lease (or never had one). */
  private revoked = true;
  /** The size of the next lease. */
  private size = FIRST_LEASE_TOKENS;
  /** The sandbox is gone: no lease is granted again. */
  private closed = false;
  private readonly refund: (tokens: number, window: number) => void;

  constructor(refund: (tokens: number, window: number) => void) {
    this.refund = refund;
  }

  /**
   * needs says how many calls a new lease should hold for a call of `nr`
   * that came to the kernel, or 0 when the live lease will do (`now`:
   * performance.now): none is live, it does not cover `nr`, it is over, or
   * it is used up by the kernel's count (the next one is then twice as big).
   */
  needs(nr: number, now: number): number {
    // Leases no call can be reported under any more (take refuses them) are done with: one the host let expire unused.
    let dead = 0;
    while (dead < this.accounts.length && now > this.accounts[dead]!.until + LATE_REPORT_MS) dead++;
    this.retire(dead);
    // So many leases sent and not yet used: the host is far behind; no more until it catches up (never drop one it may use).
    if (this.closed || this.accounts.length >= MAX_LIVE_LEASES) return 0;
    const current = this.accounts.at(-1);
    if (this.revoked || current === undefined || !current.decisions.has(nr) || now >= current.until) return this.size;
    if (current.tokens > 0) return 0;
    if (current.granted >= this.size) this.size = Math.min(LEASE_TOKENS, this.size * 2);
    return this.size;
  }

  /** extend makes the next lease: the rows still leased (unless revoked since), plus `nr`, with `grant`'s tokens. */
  extend(nr: number, grant: Grant, now: number): Lease {
    const current = this.accounts.at(-1);
    const decisions = new Map(this.revoked || current === undefined ? [] : current.decisions);
    decisions.set(nr, grant.decision);
    const gen = this.nextGen++;
    this.accounts.push({ gen, decisions, tokens: grant.tokens, granted: grant.tokens, window: grant.window, until: now + grant.ms });
    this.revoked = false;
    return { gen, nrs: [...decisions.keys()], tokens: grant.tokens, ms: grant.ms };
  }

  /** take counts one call the host ran under lease `gen` (reported at `now`): the decision it ran under, or undefined if that lease did not allow it (the host's fault). */
  take(gen: number, nr: number, now: number): Decision | undefined {
    const at = this.accounts.findIndex((a) => a.gen === gen);
    if (at === -1) return undefined;
    this.retire(at);
    const account = this.accounts[0]!;
    const decision = account.decisions.get(nr);
    if (decision === undefined || account.tokens === 0 || now > account.until + LATE_REPORT_MS) return undefined;
    account.tokens--;
    return decision;
  }

  /** revoke: no lease may be used from now on; the newest lease's number if the host must be told (it acknowledges with it), else undefined. */
  revoke(): number | undefined {
    if (this.revoked) return undefined;
    this.revoked = true;
    return this.accounts.at(-1)?.gen;
  }

  /** acknowledged: the host dropped every lease up to `gen` and reported what it ran under them; none is used again. */
  acknowledged(gen: number): void {
    const done = this.accounts.findIndex((a) => a.gen > gen);
    this.retire(done === -1 ? this.accounts.length : done);
  }

  /**
   * close: the sandbox is gone; no lease is granted again. Calls the host
   * ran before it learned are still taken, within the same tokens, until
   * `settle` (once the host has reported them) gives back what is left.
   */
  close(): void {
    this.closed = true;
    this.revoked = true;
  }

  /** settle gives back every token no call used (the host has reported all it ran, or never will); once. */
  settle(): void {
    this.retire(this.accounts.length);
  }

  /** retire drops the `count` oldest leases, giving their unused tokens back. */
  private retire(count: number): void {
    for (const old of this.accounts.splice(0, count)) if (old.tokens > 0) this.refund(old.tokens, old.window);
  }
}
