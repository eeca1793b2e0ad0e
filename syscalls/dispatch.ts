/**
 * dispatch is the one path every syscall takes from ring 3:
 *   look up the row (ENOSYS if none) → decode arguments against its schema
 *   (EINVAL) → build the request from the row's policy point → authorize
 *   (capabilities, circuit breaker, autonomy level, the kernel's rules, then
 *   policy: kernel/policy/authorizer.ts; any error in the authorizer is a
 *   deny) → record the decision (an error in the recorder is a deny) →
 *   allow: run the implementation once the record is written (every
 *   write-access call asks DecisionRecorder.beforeAction first), then record
 *   its outcome and check it (intent contracts' post-conditions and
 *   invariants: a breach is recorded and signals the caller); deny: EACCES,
 *   or the decision's errno (and the rule's violation signal, if any; the
 *   agent's trust pays for it); a shadow policy's different answer is
 *   recorded after the call's own record and changes nothing;
 *   require_approval: block the caller until it is answered, record the
 *   answer, and run an approved call as an allowed one. A decision whose
 *   limits the cluster counts is final (and recorded) once Redis answers.
 * It never throws: every outcome is a Reply.
 */
import { match } from 'ts-pattern';
import { KernelError, type SyscallFault } from '../abi/errno.ts';
import { decodeArgs, type Decoded, type Schema } from './schema.ts';
import { BREAKER_RULE, breakerOf, type AccessRequest, type Authorizer, type CallScope, type Decision, type KernelServices, type PolicyAnswer, type RequestNeeds, type SyscallContext, type Caller } from './context.ts';
import { recordFor, type DecisionRecorder } from './records.ts';
import { TRACE_ATTR, type TraceSpan } from './telemetry.ts';
import { withOutcome } from './outcome.ts';
import { requestFor, syscallRecord } from './request.ts';
import { ROW_BY_NR, SYSCALL_TABLE, type AnyRow, type HandlerNeeds } from './table.ts';

/** Reply is what ring 3 receives: a value or a fault (with signals for the runtime's handlers), or, for a blocked call, a later reply. */
export type Reply = (({ readonly v: unknown } | SyscallFault) & { readonly sig?: readonly string[] }) | { readonly later: Promise<Reply> };

const FAILED_CLOSED: Decision = { effect: 'deny', rule: 'kernel.fail-closed', reason: 'authorizer error' };
const ROW_BY_NAME: ReadonlyMap<string, AnyRow> = new Map(SYSCALL_TABLE.map((r) => [r.name, r]));

/** ContextFor is what dispatching row `R` needs of its caller: the Caller, what its policy point's question needs, and what its handler uses. */
export type ContextFor<R extends AnyRow> = Caller & RequestNeeds[R['policy']['resource']] & HandlerNeeds<R>;

/** decide asks the authorizer, counting the call against limits; an error (thrown or rejected) is a deny (agentd's /v1/evaluate asks through it too). */
export function decide(authorizer: Authorizer, request: AccessRequest): Decision | Promise<Decision> {
  try {
    const decision = authorizer.authorize(request);
    return decision instanceof Promise ? decision.catch(() => FAILED_CLOSED) : decision;
  } catch {
    return FAILED_CLOSED;
  }
}

/** check asks the authorizer without counting anything; an error is a deny. */
export function check(services: KernelServices, request: AccessRequest): Decision {
  try {
    return services.authorizer.check(request);
  } catch {
    return FAILED_CLOSED;
  }
}

/** fault is the reply of a call whose work failed: a KernelError's errno and message, EIO for anything else. */
export function fault(err: unknown): SyscallFault {
  if (err instanceof KernelError) return { errno: err.errno, message: err.message };
  return { errno: 'EIO', message: 'internal kernel error' };
}

/** settle turns a handler's result into a reply; a promise (a call that must wait) becomes `later` (a sandbox host's leased calls too). */
export function settle(value: unknown): Reply {
  if (!(value instanceof Promise)) return { v: value };
  return { later: value.then((v: unknown) => ({ v }), fault) };
}

/** Runner runs one allowed call of a row. */
type Runner = (ctx: Caller, args: Decoded<Schema>, call: CallScope) => Reply;

/** Each row's runner, chosen once when the module loads (exhaustive over implementation kinds); as with REQUEST_BY_NR, the handler's own needs (HandlerNeeds) are what ContextFor asks for. */
const RUNNER_BY_NR: readonly (Runner | undefined)[] = ROW_BY_NR.map((row) =>
  row === undefined
    ? undefined
    : match(row.impl as AnyRow['impl'])
        .with({ kind: 'handler' }, (impl): Runner => {
          const handler = impl.run as (c: Caller, a: Decoded<Schema>, s: CallScope) => unknown;
          return (ctx, args, call) => settle(handler(ctx, args, call));
        })
        .with({ kind: 'enosys' }, (impl): Runner => () => ({ errno: 'ENOSYS' as const, message: `${row.name} is not implemented yet (${impl.until})` }))
        .exhaustive(),
);

function run(row: AnyRow, ctx: Caller, args: Decoded<Schema>, call: CallScope): Reply {
  try {
    return RUNNER_BY_NR[row.nr]!(ctx, args, call);
  } catch (err) {
    return fault(err);
  }
}

/** traced ends `span` when `reply` is final (at once, or when a later reply settles), marking a fault's errno. */
function traced(span: TraceSpan | undefined, reply: Reply): Reply {
  if (span === undefined) return reply;
  if (!('later' in reply)) {
    span.end('errno' in reply ? reply.errno : undefined);
    return reply;
  }
  return {
    later: reply.later.then((final) => {
      span.end('errno' in final ? final.errno : undefined);
      return final;
    }),
  };
}

/** later flattens a reply into a promise of a final reply. */
function later(reply: Reply): Promise<Reply> {
  return 'later' in reply ? reply.later : Promise.resolve(reply);
}

/**
 * afterRecorded runs an action — allowed, or approved (then `seq` is its
 * approval's record) — once record `seq` and every record before it are
 * written, as the recorder's beforeAction says: at once when it wrote them
 * synchronously, else when its promise resolves. Reads do not wait (nothing
 * leaves the kernel without a write-access call, whose record carries every
 * earlier one). If the records cannot be written (beforeAction throws or
 * rejects), or the process ends meanwhile, the action never runs.
 */
function afterRecorded(services: KernelServices, ctx: Caller, row: AnyRow, request: AccessRequest, seq: number, action: () => Reply): Reply {
  if (request.access !== 'write') return action();
  const pending = services.recorder.beforeAction(seq);
  const effect = () => withOutcome(services, ctx, row, request, seq, action);
  if (pending === undefined) return effect();
  return {
    later: pending.then(
      () => (ctx.alive() ? later(effect()) : { errno: 'EINTR', message: 'process ended while its decision was being recorded' }),
      fault,
    ),
  };
}

/** awaitApproval blocks the caller until the call is approved (then runs it) or denied or timed out. */
async function awaitApproval(services: KernelServices, ctx: Caller, row: AnyRow, args: Decoded<Schema>, request: AccessRequest, decision: Decision, call: CallScope, span: TraceSpan | undefined): Promise<Reply> {
  const wait = span?.child('approval');
  try {
    const answer = await services.approvals.ask({
      pid: ctx.pid,
      agentId: ctx.agentId,
      syscall: row.name,
      ...(request.path !== undefined ? { path: request.path } : {}),
      ...(request.tool !== undefined ? { tool: request.tool } : {}),
      rule: decision.rule,
      reason: decision.reason,
      arguments: request.args,
      timeoutMs: decision.approvalTimeoutMs ?? 60_000,
      ...(decision.policyVersion !== undefined ? { policyVersion: decision.policyVersion } : {}),
    });
    wait?.set(TRACE_ATTR.approver, answer.approver);
    wait?.end(answer.approved ? undefined : 'EACCES');
    if (!ctx.alive()) return { errno: 'EINTR', message: 'process ended while waiting for approval' };
    const verdict = answer.approved ? 'granted' : 'denied';
    const seq = recordFor(services.recorder, ctx, {
      type: 'approval',
      pid: ctx.pid,
      agentId: ctx.agentId,
      detail: `${verdict} ${row.name}${request.path ? ` ${request.path}` : ''}${request.tool ? ` ${request.tool}` : ''} by ${answer.approver}: ${answer.reason}`,
      policyVersion: decision.policyVersion,
    });
    if (!answer.approved) {
      services.conduct?.misbehaved(ctx.agentId, 'approvalDenied');
      return { errno: 'EACCES', message: `${row.name} not approved by ${answer.approver}: ${answer.reason}` };
    }
    if (call.cancel.aborted) return { errno: 'ECANCELED', message: `${row.name} was canceled while waiting for approval` };
    return await later(afterRecorded(services, ctx, row, request, seq, () => runTraced(row, ctx, args, call, request, span)));
  } catch (err) {
    wait?.end('EIO');
    return fault(err);
  }
}

/** runTraced runs the call, inside a `tool <name>` span for a tool call when tracing. */
function runTraced(row: AnyRow, ctx: Caller, args: Decoded<Schema>, call: CallScope, request: AccessRequest, span: TraceSpan | undefined): Reply {
  if (span === undefined || request.tool === undefined) return run(row, ctx, args, call);
  return traced(span.child(`tool ${request.tool}`), run(row, ctx, args, call));
}

/** describeDecision puts what was decided on a decision's span: effect, rule, policy version, record seq, tool or path (agentd's /v1/evaluate uses it too). */
export function describeDecision(span: TraceSpan, request: Pick<AccessRequest, 'tool' | 'path'>, decision: Decision, seq: number): void {
  span.set(TRACE_ATTR.effect, decision.effect);
  span.set(TRACE_ATTR.rule, decision.rule);
  span.set(TRACE_ATTR.seq, seq);
  if (decision.policyVersion !== undefined) span.set(TRACE_ATTR.policy, decision.policyVersion);
  if (request.tool !== undefined) span.set(TRACE_ATTR.tool, request.tool);
  if (request.path !== undefined) span.set(TRACE_ATTR.path, request.path);
}

/**
 * dispatch runs syscall `nr` with `raw` arguments for `ctx`; `call.cancel`
 * aborts when the call is canceled or its process ends.
 */
export function dispatch(services: KernelServices, ctx: SyscallContext, nr: unknown, raw: readonly unknown[], call: CallScope): Reply {
  const row = typeof nr === 'number' ? ROW_BY_NR[nr] : undefined;
  if (row === undefined) {
    const name = `#${typeof nr === 'number' || typeof nr === 'string' ? String(nr).slice(0, 32) : typeof nr}`;
    try {
      recordFor(services.recorder, ctx, { type: 'syscall', pid: ctx.pid, agentId: ctx.agentId, syscall: name, access: 'none', effect: 'deny', rule: 'kernel.enosys', reason: 'no such syscall' });
    } catch {
      // the answer is ENOSYS either way
    }
    return { errno: 'ENOSYS', message: `no syscall number ${name.slice(1)}` };
  }
  return dispatchRow(services, ctx, row, raw, call);
}

/**
 * dispatchRow runs `row` for a caller that has what the row needs (its
 * ContextFor): a process has everything; the MCP gateway, which only runs
 * tools, has the Caller and its tool calls. Same pipeline as dispatch.
 */
export function dispatchRow<R extends AnyRow>(services: KernelServices, ctx: ContextFor<R>, row: R, raw: readonly unknown[], call: CallScope): Reply {
  const span = services.telemetry?.syscall(ctx.pid, ctx.agentId, row.name);
  return traced(span, decided(services, ctx, row, raw, call, span));
}

/**
 * decided is dispatch once the row is known: decode, authorize, record, then
 * act on the decision. A decision the cluster must still count (shared
 * limits) comes later; the call is recorded and acted on then.
 */
function decided(services: KernelServices, ctx: Caller, row: AnyRow, raw: readonly unknown[], call: CallScope, span: TraceSpan | undefined): Reply {
  try {
    const args = decodeArgs(row.args, row.argNames, raw) as Record<string, unknown>;
    const request = requestFor(row, ctx, args);
    const asked: Asked = { services, ctx, row, args: args as Decoded<Schema>, request, call, span };
    const decision = decide(services.authorizer, request);
    if (!(decision instanceof Promise)) return recorded(asked, decision);
    return { later: decision.then((d) => (ctx.alive() ? later(recorded(asked, d)) : { errno: 'EINTR' as const, message: 'process ended while its call was being decided' })) };
  } catch (err) {
    return fault(err);
  }
}

/** recorded writes a call's decision to the log and acts on it (a recorder that throws: the call fails, nothing runs). */
function recorded(asked: Asked, decision: Decision): Reply {
  const { services, ctx, row, request } = asked;
  try {
    const seq = recordFor(services.recorder, ctx, syscallRecord(ctx, row, asked.args, request, decision));
    if (asked.span !== undefined) describeDecision(asked.span, request, decision, seq);
    if (decision.shadow !== undefined) recordShadow(services.recorder, ctx, seq, decision.shadow);
    return ON_EFFECT[decision.effect]({ ...asked, decision, seq });
  } catch (err) {
    return fault(err);
  }
}

/** recordShadow records how the shadow policy decided the call of record `of` otherwise; it changes nothing, so a log that cannot take it does not fail the call (agentd's /v1/evaluate uses it too). */
export function recordShadow(recorder: DecisionRecorder, caller: Pick<Caller, 'pid' | 'agentId' | 'logged'>, of: number, detail: string): void {
  try {
    recordFor(recorder, caller, { type: 'shadow', pid: caller.pid, agentId: caller.agentId, detail: `record ${of}: ${detail}` });
  } catch {
    // the decision stands; the log's own problem says why this record is missing
  }
}

/** Asked is one call once decoded, with the authorizer's question. */
interface Asked {
  readonly services: KernelServices;
  readonly ctx: Caller;
  readonly row: AnyRow;
  readonly args: Decoded<Schema>;
  readonly request: AccessRequest;
  readonly call: CallScope;
  readonly span: TraceSpan | undefined;
}

/** Decided is one call once its decision is recorded. */
interface Decided extends Asked {
  readonly decision: Decision;
  readonly seq: number;
}

/** What each effect does: a record over every effect, so a new effect fails to compile until it is handled here. */
const ON_EFFECT: { readonly [E in Decision['effect']]: (d: Decided) => Reply } = {
  allow: (d) => afterRecorded(d.services, d.ctx, d.row, d.request, d.seq, () => runTraced(d.row, d.ctx, d.args, d.call, d.request, d.span)),
  deny: (d) => {
    conductOfDenial(d.services, d.request, d.decision);
    if (d.decision.onViolation !== undefined) d.ctx.violation(d.decision.onViolation, `${d.row.name} denied by ${d.decision.rule}`);
    return { errno: d.decision.errno ?? 'EACCES', message: `${d.row.name} denied by ${d.decision.rule}: ${d.decision.reason}` };
  },
  require_approval: (d) => ({ later: awaitApproval(d.services, d.ctx, d.row, d.args, d.request, d.decision, d.call, d.span) }),
};

/**
 * conductOfDenial is what a denial costs the agent: trust, and a failure on
 * the breaker of its tool or syscall — not when the breaker itself refused
 * (else an open breaker could never close). agentd's /v1/evaluate too.
 */
export function conductOfDenial(services: KernelServices, request: AccessRequest, decision: Decision): void {
  services.conduct?.misbehaved(request.agentId, decision.onViolation !== undefined ? 'violation' : 'denial');
  if (decision.rule === BREAKER_RULE) return;
  const { owner, key } = breakerOf(request);
  services.conduct?.ended(owner, key, false);
}

/**
 * checkPolicy answers SYS_CHECKPOLICY: would syscall `name` with `args` be
 * allowed for the caller? Same decode and request as dispatch, no counting,
 * no record of its own (the SYS_CHECKPOLICY call itself is recorded), no effect.
 */
export function checkPolicy(services: KernelServices, ctx: SyscallContext, name: string, args: unknown): PolicyAnswer {
  const row = ROW_BY_NAME.get(name);
  if (row === undefined) throw new KernelError('EINVAL', `unknown syscall '${name}'`);
  const raw = args === null || args === undefined ? [] : Array.isArray(args) ? args : row.argNames.map((n) => (args as Record<string, unknown>)[n]);
  const decoded = decodeArgs(row.args, row.argNames, raw) as Record<string, unknown>;
  const decision = check(services, requestFor(row, ctx, decoded));
  return { effect: decision.effect, rule: decision.rule, reason: decision.reason, policyVersion: decision.policyVersion ?? null };
}

/**
 * judge asks `authorizer` (another policy's: a replay's candidate) what it
 * decides for syscall `nr` with `raw` arguments from `ctx`, counting the call
 * against that policy's limits as dispatch would, recording and running
 * nothing. Undefined when there is no such syscall or the arguments do not
 * decode (the call never reached a policy).
 */
export function judge(authorizer: Authorizer, ctx: SyscallContext, nr: number, raw: readonly unknown[]): Decision | Promise<Decision> | undefined {
  const row = ROW_BY_NR[nr];
  if (row === undefined) return undefined;
  let request: AccessRequest;
  try {
    request = requestFor(row, ctx, decodeArgs(row.args, row.argNames, raw) as Record<string, unknown>);
  } catch {
    return undefined;
  }
  return decide(authorizer, request);
}
