/**
 * PolicyAuthorizer answers the dispatcher: capabilities first (cheap set
 * lookups), then the kernel's own rules, then the policy engine. A path
 * outside the agent's own tree needs a vfs capability, a tool needs a tool
 * capability, a signal to a process not its own child signal:any, and the agent's `state/` (checkpoints) is the kernel's —
 * read-only to ring 3 — whatever the policy says.
 */
import { BREAKER_RULE, type AccessRequest, type Authorizer, type Decision } from '../../syscalls/context.ts';
import { agentRoot } from '../../vfs/agent-vfs.ts';
import { isWithin } from '../../vfs/path.ts';
import type { PolicyEngine } from './engine.ts';
import type { PolicyRequest } from './request.ts';

function capabilityDenial(request: AccessRequest): Decision | undefined {
  const { identity } = request;
  const pathAccess = request.pathAccess ?? request.access;
  if (request.path !== undefined && !identity.pathAllowed(request.path, pathAccess)) {
    return { effect: 'deny', rule: 'capability', reason: `no capability covers ${pathAccess} access to ${request.path}` };
  }
  if (request.tool !== undefined && !identity.toolAllowed(request.tool)) {
    return { effect: 'deny', rule: 'capability', reason: `no capability tool:${request.tool}` };
  }
  if (request.target?.kin === 'other' && request.access === 'write' && !identity.capabilities.has('signal:any')) {
    return { effect: 'deny', rule: 'capability', reason: `pid ${request.target.pid} is not a child of pid ${request.pid}: no capability signal:any`, errno: 'EPERM' };
  }
  return undefined;
}

/** A breaker's answer for a call: why it is refused now, or undefined (kernel/breakers.ts). `trial` false: a question that runs nothing. */
export type BreakerCheck = (agentId: string, key: string, trial: boolean) => string | undefined;

/** breakerDenial: the agent's circuit breaker for this tool (or syscall) is open (EAGAIN: later it may be let through). */
function breakerDenial(request: AccessRequest, breakers: BreakerCheck, trial: boolean): Decision | undefined {
  const why = breakers(request.agentId, request.tool ?? request.syscall, trial);
  return why === undefined ? undefined : { effect: 'deny', rule: BREAKER_RULE, reason: why, errno: 'EAGAIN' };
}

/** kernelDenial: the kernel's own rules, which no policy can lift. */
function kernelDenial(request: AccessRequest): Decision | undefined {
  if (request.path !== undefined && (request.pathAccess ?? request.access) === 'write' && isWithin(`${agentRoot(request.agentId)}/state`, request.path)) {
    return { effect: 'deny', rule: 'kernel.state-read-only', reason: `${request.path} belongs to the kernel (checkpoints): read-only to agents` };
  }
  return undefined;
}

function toPolicyRequest(request: AccessRequest, trust: (agentId: string) => number): PolicyRequest {
  return {
    trust: trust(request.agentId),
    agentId: request.agentId,
    labels: request.identity.labels,
    capabilities: request.identity.capabilities,
    lineage: request.identity.child ? 'child' : 'root',
    syscall: request.syscall,
    access: request.access,
    ...(request.path !== undefined ? { path: request.path } : {}),
    ...(request.tool !== undefined ? { tool: request.tool } : {}),
    args: request.args,
    ...(request.flows !== undefined ? { flows: request.flows } : {}),
  };
}

export class PolicyAuthorizer implements Authorizer {
  readonly engine: PolicyEngine;
  private readonly trust: (agentId: string) => number;
  private readonly breakers: BreakerCheck;

  /** `trust` answers an agent's trust score (kernel/trust.ts), which rules may match on; `breakers` its circuit breakers (kernel/breakers.ts). */
  constructor(engine: PolicyEngine, trust: (agentId: string) => number = () => 1000, breakers: BreakerCheck = () => undefined) {
    this.engine = engine;
    this.trust = trust;
    this.breakers = breakers;
  }

  /** authorize decides in the order of the seed, cheapest first: capabilities, the circuit breaker, the kernel's own rules, the policy. */
  authorize(request: AccessRequest): Decision {
    return capabilityDenial(request) ?? breakerDenial(request, this.breakers, true) ?? kernelDenial(request) ?? this.engine.decide(toPolicyRequest(request, this.trust));
  }

  check(request: AccessRequest): Decision {
    return capabilityDenial(request) ?? breakerDenial(request, this.breakers, false) ?? kernelDenial(request) ?? this.engine.check(toPolicyRequest(request, this.trust));
  }
}
