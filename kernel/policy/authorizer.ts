/**
 * PolicyAuthorizer answers the dispatcher: capabilities first (cheap set
 * lookups), then the kernel's own rules, then the policy engine. A path
 * outside the agent's own tree needs a vfs capability, a tool needs a tool
 * capability, a signal to a process not its own child signal:any, and the agent's `state/` (checkpoints) is the kernel's —
 * read-only to ring 3 — whatever the policy says.
 */
import { AUTONOMY_RULE, type Autonomy } from '../autonomy.ts';
import { BREAKER_RULE, breakerOf, type AccessRequest, type Authorizer, type Breach, type CallEnd, type Decision } from '../../syscalls/context.ts';
import { agentRoot } from '../../vfs/agent-vfs.ts';
import { isWithin } from '../../vfs/path.ts';
import { contractRule, type PolicyEngine } from './engine.ts';
import type { ShadowPolicy } from './shadow.ts';
import type { PolicyRequest } from '../../abi/policy-request.ts';
import { parseSignal, SIGNALS } from '../../signals/signal-table.ts';

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
  // The kernel's own signals (signals/signal-table.ts `processes`): a death by one is never another process's doing (an attacker pass: a parent's SIGPOLICY read as a policy kill).
  const sig = request.syscall === 'SYS_SIGNAL' && typeof request.args.signal === 'string' ? parseSignal(request.args.signal) : undefined;
  if (sig !== undefined && !SIGNALS[sig].processes) {
    return { effect: 'deny', rule: 'capability', reason: `${sig} is sent by the kernel and by operators, not by processes`, errno: 'EPERM' };
  }
  return undefined;
}

/** A breaker's answer for a call: why it is refused now, or undefined (kernel/breakers.ts). `trial` false: a question that runs nothing. */
export type BreakerCheck = (agentId: string, key: string, trial: boolean) => string | undefined;

/** breakerDenial: the agent's circuit breaker for this tool (or syscall) is open (EAGAIN: later it may be let through). */
function breakerDenial(request: AccessRequest, breakers: BreakerCheck, trial: boolean): Decision | undefined {
  const { owner, key } = breakerOf(request);
  const why = breakers(owner, key, trial);
  return why === undefined ? undefined : { effect: 'deny', rule: BREAKER_RULE, reason: why, errno: 'EAGAIN' };
}

/**
 * changes: the call changes something beyond the agent's own process — a
 * file, a tool call, a spawn, a signal to a process — which is what autonomy
 * levels hold back. Its own fds (output, pipes, files it already opened) and
 * self (exit, signal handlers) are not.
 */
export function isChange(request: Pick<AccessRequest, 'access' | 'resource'>): boolean {
  return request.access === 'write' && request.resource !== 'fd' && request.resource !== 'self';
}

/** autonomyDenial: an agent at autonomy `observe` may not change anything. */
export function autonomyDenial(request: Pick<AccessRequest, 'agentId' | 'access' | 'resource'>, level: Autonomy): Decision | undefined {
  if (level !== 'observe' || !isChange(request)) return undefined;
  return { effect: 'deny', rule: AUTONOMY_RULE, reason: `agent ${request.agentId} is at autonomy observe: it may read, not change anything` };
}

/** supervised turns an allow of a write-access call into a question for a human, at autonomy `supervised`. */
export function supervised(request: Pick<AccessRequest, 'agentId' | 'access' | 'resource'>, level: Autonomy, decision: Decision, approvalTimeoutMs: number): Decision {
  if (level !== 'supervised' || !isChange(request) || decision.effect !== 'allow') return decision;
  return { effect: 'require_approval', rule: AUTONOMY_RULE, reason: `agent ${request.agentId} is at autonomy supervised: a human approves its changes (the policy's rule ${decision.rule} allowed it)`, ...(decision.policyVersion !== undefined ? { policyVersion: decision.policyVersion } : {}), approvalTimeoutMs };
}

/** standingDenial: the kernel may decide nothing now (`why`): fail closed, before anything else is asked. */
function standingDenial(why: string | undefined): Decision | undefined {
  return why === undefined ? undefined : { effect: 'deny', rule: 'kernel.fail-closed', reason: why, errno: 'EIO' };
}

/** kernelDenial: the kernel's own rules, which no policy can lift (on the kernel's own paths: an agent outside it has none). */
function kernelDenial(request: AccessRequest): Decision | undefined {
  if (request.identity.outside !== true && request.path !== undefined && (request.pathAccess ?? request.access) === 'write' && isWithin(`${agentRoot(request.agentId)}/state`, request.path)) {
    return { effect: 'deny', rule: 'kernel.state-read-only', reason: `${request.path} belongs to the kernel (checkpoints): read-only to agents` };
  }
  return undefined;
}

function toPolicyRequest(request: AccessRequest, trust: (agentId: string) => number, tokens: (agentId: string) => number, supervisedChange = false): PolicyRequest {
  // One shape for every request (an absent field is undefined, which every reader takes as absent): no object spread in per field, and the engine's reads of it stay monomorphic.
  return {
    agentId: request.agentId,
    labels: request.identity.labels,
    capabilities: request.identity.capabilities,
    lineage: request.identity.child ? 'child' : 'root',
    syscall: request.syscall,
    access: request.access,
    path: request.path,
    tool: request.tool,
    args: request.args,
    flows: request.flows,
    trust: trust(request.agentId),
    tokens: tokens(request.agentId),
    supervised: supervisedChange ? true : undefined,
  };
}

/**
 * Standing says why the kernel may decide nothing now (a cluster node cut
 * off from Redis past its lease, or not yet synced: kernel/cluster/lease.ts),
 * undefined while it may; every decision is then a deny.
 */
export interface Standing {
  /** For a decision, which may wait: a promise while the kernel makes sure it still may (a cluster node renewing its lease). */
  wait(): string | Promise<string | undefined> | undefined;
  /** For a question that waits for nothing (check, steady): the reason at once. */
  now(): string | undefined;
  /**
   * onLapse registers what runs each time the kernel stops being allowed to decide (a cluster node's lease ran out,
   * or it heard of a policy it has not in force): the kernel takes back the leases of its sandbox hosts, whose steady
   * answers rested on it.
   */
  onLapse?(listener: () => void): void;
}

/** The standing of a kernel that is no cluster node: it always may decide. */
const ALWAYS: Standing = { wait: () => undefined, now: () => undefined };

/** What the authorizer reads besides the policy; each absent one is neutral (full trust, no breakers, autonomy full, no shadow). */
export interface AuthorizerSources {
  /** An agent's trust score (kernel/trust.ts), which rules may match on. */
  readonly trust?: (agentId: string) => number;
  /** An agent's circuit breakers (kernel/breakers.ts). */
  readonly breakers?: BreakerCheck;
  /** An agent's autonomy level (kernel/autonomy.ts). */
  readonly autonomy?: (agentId: string) => Autonomy;
  /** The shadow policy, if one is set (kernel/policy/shadow.ts). */
  readonly shadow?: () => ShadowPolicy | undefined;
  /** Why the kernel may decide nothing now (Standing); absent, it always may. */
  readonly standing?: Standing;
}

export class PolicyAuthorizer implements Authorizer {
  readonly engine: PolicyEngine;
  private readonly trust: (agentId: string) => number;
  private readonly breakers: BreakerCheck;
  private readonly autonomy: (agentId: string) => Autonomy;
  private readonly shadow: () => ShadowPolicy | undefined;
  private readonly tokens: (agentId: string) => number;
  private readonly standing: Standing;

  constructor(engine: PolicyEngine, sources: AuthorizerSources = {}) {
    this.engine = engine;
    this.standing = sources.standing ?? ALWAYS;
    this.tokens = (agentId) => engine.counters.tokensUsed(agentId);
    this.trust = sources.trust ?? (() => 1000);
    this.breakers = sources.breakers ?? (() => undefined);
    this.autonomy = sources.autonomy ?? (() => 'full');
    this.shadow = sources.shadow ?? (() => undefined);
  }

  /**
   * authorize decides in the order of the seed, cheapest first (after
   * the kernel's standing: a cluster node cut off decides nothing):
   * capabilities, the circuit breaker, the autonomy level, the kernel's own
   * rules, the intent contracts' pre-conditions, the policy (with its rule
   * limits and risk escalation; an allow of a change the autonomy level may
   * turn into a question). After the call: afterward.
   */
  authorize(request: AccessRequest): Decision | Promise<Decision> {
    const standing = this.standing.wait();
    // Waiting on a heartbeat: decided once it has settled whether the kernel may decide (never waits twice).
    if (standing instanceof Promise) return standing.then((why) => standingDenial(why) ?? this.decideStanding(request));
    return standingDenial(standing) ?? this.decideStanding(request);
  }

  /** decideStanding is authorize once the kernel's standing allows deciding. */
  private decideStanding(request: AccessRequest): Decision | Promise<Decision> {
    const level = this.autonomy(request.agentId);
    const early = this.early(request, level, true);
    if (early !== undefined) return early;
    const policyRequest = toPolicyRequest(request, this.trust, this.tokens, level === 'supervised' && isChange(request));
    const unmet = this.engine.precondition(policyRequest);
    if (unmet !== undefined) return this.shadowed(policyRequest, unmet, unmet);
    const decision = this.engine.decide(policyRequest);
    // Limits the cluster counts: the decision stands once its store agrees (one round trip).
    if (decision.shared !== undefined) return this.engine.settle(decision, request.agentId).then((final) => this.shadowed(policyRequest, final, supervised(request, level, final, this.engine.approvalTimeoutMs)));
    return this.shadowed(policyRequest, decision, supervised(request, level, decision, this.engine.approvalTimeoutMs));
  }

  /**
   * shadowed finishes a decision the policy made: the question it was asked
   * rides on it (to be recorded, for replay), and so does a disagreement of
   * the shadow policy, if one is set.
   */
  private shadowed(request: PolicyRequest, policy: Decision, final: Decision): Decision {
    const note = this.shadow()?.note(request, policy, this.engine.policy);
    return note === undefined ? { ...final, asked: request } : { ...final, asked: request, shadow: note };
  }

  check(request: AccessRequest): Decision {
    // Asking without counting waits for nothing (a node past its lease does not start renewing it for a check).
    const why = this.standing.now();
    if (why !== undefined) return standingDenial(why)!;
    const level = this.autonomy(request.agentId);
    const early = this.early(request, level, false);
    if (early !== undefined) return early;
    const policyRequest = toPolicyRequest(request, this.trust, this.tokens);
    return this.engine.precondition(policyRequest) ?? supervised(request, level, this.engine.check(policyRequest), this.engine.approvalTimeoutMs);
  }

  steady(request: AccessRequest): Decision | undefined {
    if (request.access === 'write' || request.tool !== undefined || this.shadow() !== undefined || !this.engine.steady(request.syscall)) return undefined;
    if (this.standing.now() !== undefined) return undefined;
    const level = this.autonomy(request.agentId);
    if (this.early(request, level, false) !== undefined) return undefined;
    const decision = supervised(request, level, this.engine.check(this.question(request)), this.engine.approvalTimeoutMs);
    return decision.effect === 'allow' ? decision : undefined;
  }

  question(request: AccessRequest): PolicyRequest {
    return toPolicyRequest(request, this.trust, this.tokens);
  }

  /** afterward checks the intent contracts covering a call that ran: their post-conditions (after a success) and invariants. */
  afterward(request: AccessRequest, end: CallEnd): readonly Breach[] {
    if (!this.engine.hasContracts(request.syscall, request.tool)) return [];
    return this.engine.afterward(toPolicyRequest(request, this.trust, this.tokens), end).map((f) => ({
      rule: contractRule(f.contract),
      reason: `${f.phase === 'post' ? 'post-condition' : 'invariant'} \`${f.expression}\` of contract ${f.contract} ${f.why}`,
      signal: f.signal,
    }));
  }

  private early(request: AccessRequest, level: Autonomy, counting: boolean): Decision | undefined {
    return capabilityDenial(request) ?? breakerDenial(request, this.breakers, counting) ?? autonomyDenial(request, level) ?? kernelDenial(request);
  }
}
