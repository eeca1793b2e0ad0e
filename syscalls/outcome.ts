/**
 * What happens after an allowed write-access call ran (dispatch.ts runs it):
 * its outcome is recorded — ok with the result's size and digest, or its
 * errno — naming the record that let it run, and the checks after a call
 * (intent contracts' post-conditions and invariants) run on it; a breach is
 * recorded, costs trust and signals the caller.
 */
import { breakerOf, type AccessRequest, type Breach, type Caller, type KernelServices } from './context.ts';
import type { Reply } from './dispatch.ts';
import { recordFor } from './records.ts';
import type { AnyRow } from './table.ts';

/**
 * withOutcome runs a write-access action and records what it came to once
 * its reply is final (an outcome record naming record `of`, which let it
 * run): ok with the result's size and digest, or its errno. The effect has
 * happened either way: a log that cannot take the outcome says so itself.
 * Then the checks after a call (checkedAfter) run on it.
 */
export function withOutcome(services: KernelServices, ctx: Caller, row: AnyRow, request: AccessRequest, of: number, action: () => Reply): Reply {
  const reply = action();
  // A call that ended its own process at once (SYS_EXIT) has the process's exit record for an outcome.
  if (!('later' in reply)) return ctx.alive() ? checkedAfter(services, ctx, row, request, of, recordOutcome(services, ctx, row, request, of, reply)) : reply;
  return { later: finalOf(reply).then((final) => checkedAfter(services, ctx, row, request, of, recordOutcome(services, ctx, row, request, of, final))) };
}

/**
 * checkedAfter runs the checks after a call that ran (intent contracts'
 * post-conditions and invariants): each one that fails is recorded and
 * costs trust, and the first sends its signal to the caller. The call's
 * reply stands (its effect happened); a check that throws is a breach.
 */
function checkedAfter<R extends FinalReply>(services: KernelServices, ctx: Caller, row: AnyRow, request: AccessRequest, of: number, reply: R): R {
  let breaches: readonly Breach[];
  try {
    breaches = services.authorizer.afterward(request, 'errno' in reply ? { ok: false, errno: reply.errno } : { ok: true, value: reply.v });
  } catch (err) {
    breaches = [{ rule: 'kernel.fail-closed', reason: `the checks after the call failed: ${err instanceof Error ? err.message : String(err)}`, signal: 'SIGPOLICY' }];
  }
  if (breaches.length === 0) return reply;
  for (const breach of breaches) {
    try {
      recordFor(services.recorder, ctx, { type: 'contract', pid: ctx.pid, agentId: ctx.agentId, detail: `${breach.rule} broken after ${row.name} (record ${of}): ${breach.reason}; ${breach.signal}` });
    } catch {
      // the signal still goes: the log's own problem says why this record is missing
    }
    services.conduct?.misbehaved(ctx.agentId, 'violation');
  }
  if (ctx.alive()) ctx.violation(breaches[0]!.signal, `${breaches[0]!.rule}: ${breaches[0]!.reason}`);
  return reply;
}

/** FinalReply is a reply that is not waiting for anything. */
type FinalReply = Exclude<Reply, { readonly later: Promise<Reply> }>;

/** finalOf waits out a reply (and any reply it waits for in turn). */
async function finalOf(reply: Reply): Promise<FinalReply> {
  let r = reply;
  while ('later' in r) r = await r.later;
  return r;
}

function recordOutcome<R extends FinalReply>(services: KernelServices, ctx: Caller, row: AnyRow, request: AccessRequest, of: number, reply: R): R {
  const { owner, key } = breakerOf(request);
  services.conduct?.ended(owner, key, !('errno' in reply));
  try {
    recordFor(services.recorder, ctx, { type: 'outcome', pid: ctx.pid, agentId: ctx.agentId, syscall: row.name, of, ...('errno' in reply ? { errno: reply.errno, message: reply.message } : { result: reply.v }) });
  } catch {
    // the action ran; the log's own problem says why its outcome is missing
  }
  return reply;
}
