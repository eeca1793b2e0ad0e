/**
 * dispatch is the one path every syscall takes from ring 3:
 *   look up the row (ENOSYS if none) → decode arguments against its schema
 *   (EINVAL) → resolve the row's policy point → authorize (EACCES on deny;
 *   any error in the authorizer is a deny) → record the decision (an error
 *   in the recorder is a deny) → run the implementation.
 * It never throws: every outcome is a copyable Reply.
 */
import { match } from 'ts-pattern';
import { KernelError, type SyscallFault } from './errno.ts';
import { decodeArgs, type Decoded, type Schema } from './schema.ts';
import type { Access, AccessRequest, Decision, KernelServices, SyscallContext } from './context.ts';
import { ROW_BY_NR, type AnyRow, type PolicyPoint } from './table.ts';

/** Reply is what ring 3 receives: a value or a fault. */
export type Reply = { readonly v: unknown } | SyscallFault;

const FAILED_CLOSED: Decision = { effect: 'deny', rule: 'kernel.fail-closed', reason: 'authorizer error' };

function accessOf(point: PolicyPoint, args: Readonly<Record<string, unknown>>): Access {
  return point.access === 'by-flags' ? (args.flags === 'r' ? 'read' : 'write') : point.access;
}

/** requestFor builds the authorizer's question from the row's policy point; a path is resolved once, here. */
function requestFor(row: AnyRow, ctx: SyscallContext, args: Record<string, unknown>): AccessRequest {
  const base = { pid: ctx.pid, agentId: ctx.agentId, syscall: row.name, access: accessOf(row.policy, args), args };
  return match(row.policy.resource)
    .with('path', () => {
      const path = ctx.fs.resolve(args.path as string);
      args.path = path;
      return { ...base, path };
    })
    .with('tool', () => ({ ...base, tool: args.tool as string }))
    .with('fd', 'self', 'process', () => base)
    .exhaustive();
}

function authorize(services: KernelServices, request: AccessRequest): Decision {
  try {
    return services.authorizer.authorize(request);
  } catch {
    return FAILED_CLOSED;
  }
}

function fault(err: unknown): SyscallFault {
  if (err instanceof KernelError) return { errno: err.errno, message: err.message };
  return { errno: 'EIO', message: 'internal kernel error' };
}

function run(row: AnyRow, ctx: SyscallContext, args: Decoded<Schema>): Reply {
  return match(row.impl as AnyRow['impl'])
    .with({ kind: 'handler' }, (impl) => ({ v: (impl.run as (c: SyscallContext, a: Decoded<Schema>) => unknown)(ctx, args) }))
    .with({ kind: 'enosys' }, (impl) => ({ errno: 'ENOSYS' as const, message: `${row.name} is not implemented yet (${impl.until})` }))
    .exhaustive();
}

export function dispatch(services: KernelServices, ctx: SyscallContext, nr: unknown, raw: readonly unknown[]): Reply {
  const row = typeof nr === 'number' ? ROW_BY_NR[nr] : undefined;
  if (row === undefined) {
    try {
      services.recorder.record({
        type: 'syscall',
        pid: ctx.pid,
        agentId: ctx.agentId,
        syscall: `#${String(nr).slice(0, 32)}`,
        access: 'none',
        effect: 'deny',
        rule: 'kernel.enosys',
        reason: 'no such syscall',
      });
    } catch {
      // the answer is ENOSYS either way
    }
    return { errno: 'ENOSYS', message: `no syscall number ${String(nr).slice(0, 32)}` };
  }
  try {
    const args = decodeArgs(row.args, row.argNames, raw) as Record<string, unknown>;
    const request = requestFor(row, ctx, args);
    const decision = authorize(services, request);
    services.recorder.record({
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
    });
    return match(decision.effect)
      .with('allow', () => run(row, ctx, args as Decoded<Schema>))
      .with('deny', () => ({ errno: 'EACCES' as const, message: `${row.name} denied by ${decision.rule}: ${decision.reason}` }))
      .with('require_approval', () => ({ errno: 'EACCES' as const, message: `${row.name} needs approval (${decision.rule}); no approver is configured` }))
      .exhaustive();
  } catch (err) {
    return fault(err);
  }
}
