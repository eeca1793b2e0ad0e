/**
 * A sandbox host's side of a lease (kernel/hosts/leases.ts): it runs a
 * leased call itself — the arguments decoded against the row's schema, the
 * row's own handler over what a host has of the caller (HostCallContext) —
 * and ServedCalls keeps each call it ran to report to the kernel, ahead of
 * anything else the host sends.
 */
import type { CallScope } from '../../syscalls/context.ts';
import type { Reply } from '../../syscalls/dispatch.ts';
import { hostRow } from '../../syscalls/leased.ts';
import { decodeArgs, type Decoded, type Schema } from '../../syscalls/schema.ts';
import type { HostCallContext } from '../../syscalls/table.ts';
import { MAX_SERVED_BATCH, type Lease } from './leases.ts';

type HostHandler = (ctx: HostCallContext, args: Decoded<Schema>, call: CallScope) => unknown;

export class HostLease {
  private readonly nrs: ReadonlySet<number>;
  private tokens: number;
  private readonly until: number;

  constructor(lease: Lease) {
    this.nrs = new Set(lease.nrs);
    this.tokens = lease.tokens;
    this.until = performance.now() + lease.ms;
  }

  /** run runs call `nr` with `args` under the lease: its reply, or undefined when the lease does not cover it (the kernel runs it then). */
  run(ctx: HostCallContext, nr: unknown, args: readonly unknown[], call: CallScope): Reply | undefined {
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
    return { v: (row.impl.run as HostHandler)(ctx, decoded, call) };
  }
}

/** ServedCalls keeps the calls a host ran under its leases until they are sent, by sandbox, in order. */
export class ServedCalls {
  private readonly calls = new Map<number, [number, readonly unknown[]][]>();
  private readonly flushOne: (sid: number, calls: readonly (readonly [number, readonly unknown[]])[]) => void;

  /** `flushOne` sends one sandbox's calls (one message). */
  constructor(flushOne: (sid: number, calls: readonly (readonly [number, readonly unknown[]])[]) => void) {
    this.flushOne = flushOne;
  }

  /** add keeps one call sandbox `sid` ran; a full batch is sent at once. */
  add(sid: number, nr: number, args: readonly unknown[]): void {
    let list = this.calls.get(sid);
    if (list === undefined) this.calls.set(sid, (list = []));
    list.push([nr, args]);
    if (list.length >= MAX_SERVED_BATCH) {
      this.calls.delete(sid);
      this.flushOne(sid, list);
    }
  }

  /** flush sends every call kept (before any other message of the host). */
  flush(): void {
    if (this.calls.size === 0) return;
    for (const [sid, list] of this.calls) this.flushOne(sid, list);
    this.calls.clear();
  }
}
