/**
 * The kernel's half of a sandbox host's fast path (kernel/hosts/leases.ts):
 * a call of a `host` row (syscalls/table.ts) whose decision is steady — the
 * same allow for every later call of the process while nothing the kernel
 * announces changes — may be run by the host itself under a lease; each
 * call it ran comes back to be recorded exactly as dispatch records one.
 */
import { decodeArgs } from './schema.ts';
import type { Caller, Decision, KernelServices } from './context.ts';
import { recordFor } from './records.ts';
import { requestFor, syscallRecord } from './request.ts';
import { ROW_BY_NR, type AnyRow, type HostRow } from './table.ts';

/** hostRow is syscall `nr`'s row if a sandbox host may run it, else undefined. */
export function hostRow(nr: unknown): HostRow | undefined {
  const row = typeof nr === 'number' ? ROW_BY_NR[nr] : undefined;
  return row !== undefined && row.runs === 'host' ? row : undefined;
}

/**
 * steadyDecision is the allow a host may apply to later calls of `row`
 * like this one (`raw`: its arguments), or undefined: the arguments do not
 * decode, the authorizer cannot say, or the answer may change.
 */
export function steadyDecision(services: KernelServices, ctx: Caller, row: AnyRow, raw: readonly unknown[]): Decision | undefined {
  if (row.runs !== 'host' || services.authorizer.steady === undefined) return undefined;
  try {
    const args = decodeArgs(row.args, row.argNames, raw) as Record<string, unknown>;
    return services.authorizer.steady(requestFor(row, ctx, args));
  } catch {
    return undefined;
  }
}

/**
 * recordServed records one call of `row` a host ran under a lease whose
 * decision was `decision`, as dispatch records a call: false (nothing
 * recorded) when its arguments do not decode, which no honest host ran.
 * Throws what the recorder throws.
 */
export function recordServed(services: KernelServices, ctx: Caller, row: AnyRow, raw: readonly unknown[], decision: Decision): boolean {
  let args: Record<string, unknown>;
  try {
    args = decodeArgs(row.args, row.argNames, raw) as Record<string, unknown>;
  } catch {
    return false;
  }
  const request = requestFor(row, ctx, args);
  // The record keeps this call's own question (its arguments, trust and tokens now), as dispatch's does, for replay.
  const asked = services.authorizer.question?.(request);
  recordFor(services.recorder, ctx, syscallRecord(ctx, row, args, request, asked === undefined ? decision : { ...decision, asked }));
  return true;
}
