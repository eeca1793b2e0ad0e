/**
 * A sandbox host's side of a lease (kernel/hosts/leases.ts): it runs a
 * leased call itself — the arguments decoded against the row's schema, the
 * row's own handler over what a host has of the caller (HostCallContext) —
 * and ServedCalls keeps each call it ran to report to the kernel, ahead of
 * anything else the host sends.
 */
import type { CallScope } from '../../syscalls/context.ts';
import { fault, settle, type Reply } from '../../syscalls/dispatch.ts';
import { hostRow } from '../../syscalls/leased.ts';
import { decodeArgs, type Decoded, type Schema } from '../../syscalls/schema.ts';
import type { HostCallContext } from '../../syscalls/table.ts';
import { MAX_SERVED_BATCH, type Lease } from './leases.ts';

type HostHandler = (ctx: HostCallContext, args: Decoded<Schema>, call: CallScope) => unknown;

export class HostLease {
  readonly gen: number;
  private readonly nrs: ReadonlySet<number>;
  private tokens: number;
  private readonly until: number;

  constructor(lease: Lease) {
    this.gen = lease.gen;
    this.nrs = new Set(lease.nrs);
    this.tokens = lease.tokens;
    this.until = performance.now() + lease.ms;
  }

  /**
   * run runs call `nr` with `args` under the lease: its reply, or undefined
   * when the lease does not cover it (the kernel runs it then). A call that
   * completes later (a timer) completes only once `continued` resolves: a
   * stopped process's completions wait, as the kernel's do.
   */
  run(ctx: HostCallContext, nr: unknown, args: readonly unknown[], call: CallScope, continued: () => Promise<void>): Reply | undefined {
    if (typeof nr !== 'number' || this.tokens === 0 || !this.nrs.has(nr) || performance.now() >= this.until) return undefined;
    const row = hostRow(nr);
    if (row === undefined || row.impl.kind !== 'handler') return undefined;
    let decoded: Decoded<Schema>;
    try {
      decoded = decodeArgs(row.args, row.argNames, args);
    } catch {
      // The kernel answers EINVAL, and records the call.
      return undefined;
    }
    this.tokens--;
    let reply: Reply;
    try {
      reply = settle((row.impl.run as HostHandler)(ctx, decoded, call));
    } catch (err) {
      return fault(err);
    }
    return 'later' in reply ? { later: reply.later.then(async (done) => (await continued(), done)) } : reply;
  }
}

type Calls = [number, readonly unknown[]][];

/** ServedCalls keeps the calls a host ran under its leases until they are sent: by sandbox and lease, in order. */
export class ServedCalls {
  private readonly calls = new Map<number, { readonly gen: number; readonly list: Calls }>();
  private readonly flushOne: (sid: number, gen: number, calls: Calls) => void;

  /** `flushOne` sends the calls one sandbox ran under one lease (one message). */
  constructor(flushOne: (sid: number, gen: number, calls: Calls) => void) {
    this.flushOne = flushOne;
  }

  /** add keeps one call sandbox `sid` ran under lease `gen`; a full batch, or one of an older lease, is sent at once. */
  add(sid: number, gen: number, nr: number, args: readonly unknown[]): void {
    let kept = this.calls.get(sid);
    if (kept !== undefined && kept.gen !== gen) {
      this.calls.delete(sid);
      this.flushOne(sid, kept.gen, kept.list);
      kept = undefined;
    }
    if (kept === undefined) this.calls.set(sid, (kept = { gen, list: [] }));
    kept.list.push([nr, args]);
    if (kept.list.length >= MAX_SERVED_BATCH) {
      this.calls.delete(sid);
      this.flushOne(sid, gen, kept.list);
    }
  }

  /** flush sends every call kept (before any other message of the host). */
  flush(): void {
    if (this.calls.size === 0) return;
    for (const [sid, { gen, list }] of this.calls) this.flushOne(sid, gen, list);
    this.calls.clear();
  }
}
