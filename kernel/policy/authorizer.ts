/**
 * PolicyAuthorizer answers the dispatcher: capabilities first (cheap set
 * lookups), then the policy engine. A path outside the agent's own tree needs
 * a vfs capability, a tool needs a tool capability, whatever the policy says.
 */
import type { AccessRequest, Authorizer, Decision } from '../../syscalls/context.ts';
import type { PolicyEngine } from './engine.ts';
import type { PolicyRequest } from './request.ts';

function capabilityDenial(request: AccessRequest): Decision | undefined {
  const { identity } = request;
  if (request.path !== undefined && !identity.pathAllowed(request.path, request.access)) {
    return { effect: 'deny', rule: 'capability', reason: `no capability covers ${request.access} access to ${request.path}` };
  }
  if (request.tool !== undefined && !identity.toolAllowed(request.tool)) {
    return { effect: 'deny', rule: 'capability', reason: `no capability tool:${request.tool}` };
  }
  return undefined;
}

function toPolicyRequest(request: AccessRequest): PolicyRequest {
  return {
    agentId: request.agentId,
    labels: request.identity.labels,
    capabilities: request.identity.capabilities,
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

  constructor(engine: PolicyEngine) {
    this.engine = engine;
  }

  authorize(request: AccessRequest): Decision {
    return capabilityDenial(request) ?? this.engine.decide(toPolicyRequest(request));
  }

  check(request: AccessRequest): Decision {
    return capabilityDenial(request) ?? this.engine.check(toPolicyRequest(request));
  }
}
