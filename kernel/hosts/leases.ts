/**
 * Leases: the fast path of a sandbox host. After the kernel allows a call
 * of a `host` row (syscalls/table.ts: it reads only what a host has and
 * changes nothing) whose decision is steady (the policy answers every such
 * call of the process alike: no limits, time, trust, arguments or paths,
 * no contract, no shadow policy), its reply carries a lease: the host may
 * run the process's later calls of the leased rows itself, at most `tokens`
 * of them (taken from its tree's syscall rate), for `ms`. The host sends
 * the calls it ran back in batches, ahead of anything else it sends, so the
 * kernel records each one (as dispatch records a call) before it sees any
 * later call of that host: an effect never leaves before the record of a
 * read whose answer it could carry.
 *
 * The kernel revokes a process's lease whenever what the decision rests on
 * changes: a signal to the process (SIGSTOP first of all), a new policy or
 * shadow policy, a circuit breaker, a log that failed. Calls the host ran
 * before the revocation reached it are still recorded (the tokens bound
 * them); a host that reports a call it held no lease for is broken.
 */
import type { Decision } from '../../syscalls/context.ts';

/** The most calls one lease covers. */
export const LEASE_TOKENS = 256;
/** The longest a lease lasts, ms (and never past its tree's rate window). */
export const LEASE_MS = 1000;
/** The most calls a host reports in one message. */
export const MAX_SERVED_BATCH = 512;

/** Lease is what a host is given: it may run calls of `nrs` by itself, `tokens` of them, for `ms` from its arrival. */
export interface Lease {
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
  /** grant is the lease for later calls like syscall `nr` with `args`, just allowed; undefined: none. */
  grant(nr: number, args: readonly unknown[]): Grant | undefined;
  /** refund gives back `tokens` a lease no longer uses to its tree's rate `window` (if that is still the current one). */
  refund(tokens: number, window: number): void;
  /** served records one call the host ran under decision `decision`; throws when its arguments do not decode (the host's fault). */
  served(nr: number, args: readonly unknown[], decision: Decision): void;
}

/** LeaseBook is the kernel's account of the lease one sandbox's host holds. */
export class LeaseBook {
  private decisions = new Map<number, Decision>();
  private tokens = 0;
  private window = -1;
  /** The host was told to drop its lease (or never had one). */
  private revoked = true;

  /**
   * extend makes the lease the host will hold once the reply carrying it
   * arrives: the rows still leased (unless revoked since), plus `nr`, with
   * `grant`'s tokens. Returns the tokens the old lease leaves unused, and its window.
   */
  extend(nr: number, grant: Grant): { lease: Lease; unused: number; window: number } {
    const unused = this.tokens;
    const window = this.window;
    this.window = grant.window;
    if (this.revoked) this.decisions = new Map();
    this.decisions.set(nr, grant.decision);
    this.tokens = grant.tokens;
    this.revoked = false;
    return { lease: { nrs: [...this.decisions.keys()], tokens: grant.tokens, ms: grant.ms }, unused, window };
  }

  /** take counts one call the host ran: the decision it ran under, or undefined if it held no lease for `nr` (the host's fault). */
  take(nr: unknown): Decision | undefined {
    if (this.tokens === 0 || typeof nr !== 'number') return undefined;
    const decision = this.decisions.get(nr);
    if (decision !== undefined) this.tokens--;
    return decision;
  }

  /** revoke: the lease may no longer be used; true if the host must be told. Calls it already ran are still taken. */
  revoke(): boolean {
    if (this.revoked) return false;
    this.revoked = true;
    return true;
  }
}
