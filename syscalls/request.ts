/**
 * What the dispatcher asks and writes for one call of a row: the
 * authorizer's question, built from the row's policy point (a path
 * resolved once, a tool's own arguments and flows, the target of a
 * process call), and the decision's record. A sandbox host's call under a
 * lease (syscalls/leased.ts) is asked and recorded the same way.
 */
import type { Resource } from '../abi/kinds.ts';
import { type Access } from '../abi/kinds.ts';
import type { JsonValue } from './schema.ts';
import type { AccessRequest, Caller, Decision, RequestNeeds } from './context.ts';
import type { SyscallRecord } from './records.ts';
import { ROW_BY_NR, type AnyRow, type PolicyPoint } from './table.ts';

const NO_ARGS: Readonly<Record<string, unknown>> = Object.freeze(Object.create(null));

function accessOf(point: PolicyPoint, args: Readonly<Record<string, unknown>>): Access {
  return point.access === 'by-flags' ? (args.flags === 'r' ? 'read' : 'write') : point.access;
}

/** RequestBuilder makes the authorizer's question for one call of a row (a path is resolved once, here), from what it needs of the caller. */
type RequestBuilder<C = Caller> = (base: AccessRequest, ctx: Caller & C, args: Record<string, unknown>) => AccessRequest;

const pathRequest: RequestBuilder<RequestNeeds['path']> = (base, ctx, args) => {
  const path = ctx.fs.resolve(args.path as string);
  args.path = path;
  return { ...base, path };
};

const toolRequest: RequestBuilder<RequestNeeds['tool']> = (base, ctx, args) => {
  // Policy sees the tool's own arguments (so `args` patterns name them) and the guarded flows the call would make.
  // Arguments that are not an object (no tool schema accepts them) are still visible to patterns, as `args`.
  const tool = args.tool as string;
  const toolArgs = args.args as JsonValue;
  const flows = ctx.tools.flows(tool, toolArgs);
  const isObject = toolArgs !== null && typeof toolArgs === 'object' && !Array.isArray(toolArgs);
  const own = isObject ? (toolArgs as Record<string, unknown>) : toolArgs === null ? NO_ARGS : { args: toolArgs };
  return { ...base, tool, args: own, ...(flows.length > 0 ? { flows } : {}) };
};

const programRequest: RequestBuilder<RequestNeeds['program']> = (base, ctx, args) => {
  // A registered program is named; anything else is a file of the VFS, read to run it: authorized like SYS_OPEN's read.
  const program = args.program as string;
  if (ctx.registeredProgram(program)) return base;
  const path = ctx.fs.resolve(program);
  args.program = path;
  return { ...base, path, pathAccess: 'read' as const };
};

const processRequest: RequestBuilder<RequestNeeds['process']> = (base, ctx, args) => {
  // Whom the call acts on is part of the question: signalling another's process needs signal:any, decided (and recorded) here.
  const pid = args.pid as number;
  const kin = ctx.kinOf(pid);
  return kin === undefined ? base : { ...base, target: { pid, kin } };
};

const plainRequest: RequestBuilder<object> = (base) => base;

/** One request builder per kind of policy point: a record over every kind, so a new kind of resource fails to compile until it has one. */
const REQUEST_BY_RESOURCE: { readonly [R in Resource]: RequestBuilder<RequestNeeds[R]> } = {
  path: pathRequest,
  tool: toolRequest,
  program: programRequest,
  process: processRequest,
  fd: plainRequest,
  self: plainRequest,
};

/**
 * Each row's request builder, chosen once when the module loads, so a call
 * pays an index. A builder is given the caller as a plain Caller: what it
 * needs beyond that (RequestNeeds) is what ContextFor asks every caller of
 * the row for, so the widening here is the one place that promise is used.
 */
const REQUEST_BY_NR: readonly (RequestBuilder | undefined)[] = ROW_BY_NR.map((row) => (row === undefined ? undefined : (REQUEST_BY_RESOURCE[row.policy.resource] as RequestBuilder)));

/** requestFor builds the authorizer's question from the row's policy point (its `args` are the call's decoded arguments). */
export function requestFor(row: AnyRow, ctx: Caller, args: Record<string, unknown>): AccessRequest {
  const base = { pid: ctx.pid, agentId: ctx.agentId, identity: ctx.identity, syscall: row.name, access: accessOf(row.policy, args), resource: row.policy.resource, args };
  return REQUEST_BY_NR[row.nr]!(base, ctx, args);
}

/** syscallRecord is the record of one call's decision (a sandbox host's call under its lease is recorded the same way: syscalls/leased.ts). */
export function syscallRecord(ctx: Caller, row: AnyRow, args: Readonly<Record<string, unknown>>, request: AccessRequest, decision: Decision): SyscallRecord {
  return {
    type: 'syscall',
    pid: ctx.pid,
    agentId: ctx.agentId,
    syscall: row.name,
    access: request.access,
    effect: decision.effect,
    rule: decision.rule,
    reason: decision.reason,
    policyVersion: decision.policyVersion,
    path: request.path,
    args,
    asked: decision.asked,
  };
}
