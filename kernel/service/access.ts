/**
 * Who may call what. Every request is authenticated once (onRequest) to a
 * principal; a route declares in its config who may call it:
 *   access: 'operator'   (the default) the operator token only
 *   access: 'principal'  the operator or an agent credential
 *   access: 'signed'     no bearer token: the route checks a signature of its own
 *                        (an approval webhook's callback, kernel/service/approvers/webhook.ts)
 * An agent credential on an operator route is 403, a missing or unknown
 * token 401; both are counted and sampled by RefusalLog. Routes open to
 * agent credentials narrow further what they do with `evaluateAs` and
 * `mayRead`.
 *
 * What an agent credential may reach: POST /v1/evaluate as its own agent,
 * GET /v1/approvals/:id for its agent's evaluate questions, GET /v1/whoami,
 * /healthz, /readyz and /openapi.json. Everything else (approve and deny,
 * processes, policy, decisions, vfs, principals, /metrics) is the operator's.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { KernelError } from '../../abi/errno.ts';
import type { PendingApproval } from '../approvals.ts';
import { keptForOperator } from './connections.ts';
import type { ServiceContext } from './context.ts';
import { describePrincipal, type AgentPrincipal, type Principal } from './principals.ts';

export type RouteAccess = 'operator' | 'principal' | 'signed';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call the route (kernel/service/access.ts); absent means the operator only. */
    access?: RouteAccess;
    /** The most arrays and objects the route's JSON body may open (json-body.ts); MAX_BODY_CONTAINERS if absent. */
    bodyContainers?: number;
  }
  interface FastifyRequest {
    /** Set by the access hook before any handler runs; null only if it did not run. */
    principal: Principal | null;
  }
}

/** OPEN_TO_AGENTS is the route config of a route any principal may call. */
export const OPEN_TO_AGENTS = { access: 'principal' } as const;

/** SIGNED is the route config of a route that authenticates a signature itself, with no bearer token. */
export const SIGNED = { access: 'signed' } as const;

const AGENT_ROUTES = 'POST /v1/evaluate (as its own agent), GET /v1/approvals/:id (its own), /v1/mcp (the MCP gateway, as its own agent), GET /v1/whoami, /healthz, /readyz and /openapi.json';

/** guard installs authentication and route access on `app`; call it before any route is added. */
export function guard(app: FastifyInstance, ctx: ServiceContext): void {
  app.decorateRequest('principal', null);
  app.addHook('onRequest', async (req, reply) => {
    if (req.routeOptions.config?.access === 'signed') return;
    const principal = ctx.principals.authenticate(req.headers.authorization);
    if (principal === undefined) {
      ctx.refusals.refused(401, req.ip, `401 ${req.method} ${req.url.slice(0, 200)} from ${req.ip}`);
      return reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'missing or wrong bearer token' });
    }
    req.principal = principal;
    if (principal.kind === 'operator') return;
    if (req.routeOptions.config?.access !== 'principal') return refuse(ctx, req, reply, `${describePrincipal(principal)} may not call ${req.method} ${req.routeOptions.url ?? req.url.slice(0, 200)}: an agent credential may call only ${AGENT_ROUTES}`);
    const by = `${req.ip} as principal ${principal.name}`;
    if (keptForOperator(req.socket)) {
      const error = 'agentd holds its most connections, and serves only the operator on the last few; retry later';
      ctx.refusals.refused('busy', by, `503 ${req.method} ${req.url.slice(0, 200)} from ${by}: ${error}`);
      return reply.code(503).header('connection', 'close').header('retry-after', '1').send({ error, errno: 'EAGAIN' });
    }
    const refusal = ctx.agentLoad.enter(principal.sha256, (release) => reply.raw.once('close', release));
    if (refusal !== undefined) {
      ctx.refusals.refused('busy', by, `${refusal.status} ${req.method} ${req.url.slice(0, 200)} from ${by}: ${refusal.error}`);
      return reply.code(refusal.status).header('retry-after', '1').send({ error: refusal.error, errno: 'EAGAIN' });
    }
  });
  // An agent credential's body is counted as it arrives, against its share and every credential's (agent-load.ts).
  app.addHook('preParsing', async (req, reply, payload) => {
    const principal = req.principal;
    if (principal === null || principal.kind === 'operator') return payload;
    return ctx.agentLoad.metered(principal.sha256, payload, (release) => reply.raw.once('close', release));
  });
}

/** principalOf is the request's principal. EACCES if the access hook did not run (fail closed). */
export function principalOf(req: FastifyRequest): Principal {
  if (req.principal === null) throw new KernelError('EACCES', 'request not authenticated');
  return req.principal;
}

/**
 * refuse answers 403 with `message` (errno EACCES) and, as RFC 6750 has it,
 * `WWW-Authenticate: Bearer error="insufficient_scope"` — so a client can
 * tell "this credential may not" from a kernel EACCES; counted and sampled
 * by the RefusalLog.
 */
export function refuse(ctx: ServiceContext, req: FastifyRequest, reply: FastifyReply, message: string): FastifyReply {
  const principal = req.principal;
  const by = principal === null || principal.kind === 'operator' ? req.ip : `${req.ip} as principal ${principal.name}`;
  ctx.refusals.refused(403, by, `403 ${req.method} ${req.url.slice(0, 200)} from ${by}: ${message}`);
  return reply.code(403).header('www-authenticate', 'Bearer error="insufficient_scope"').send({ error: message, errno: 'EACCES' });
}

/** ClaimedAgent is the `agent` of an evaluate request body. */
export type ClaimedAgent = string | { id: string; labels?: Record<string, string>; capabilities?: string[] };

/** EvaluationIdentity is who an evaluate request is decided for. */
export interface EvaluationIdentity {
  readonly id: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly capabilities: readonly string[];
}

export type IdentityAnswer = { readonly ok: true; readonly agent: EvaluationIdentity } | { readonly ok: false; readonly status: 400 | 403; readonly error: string };

/**
 * evaluateAs decides whom an evaluate request is for. The operator names
 * any agent (400 if it names none) with the labels and capabilities it
 * states. An agent credential is always its own agent with what it was
 * granted: a body that names another agent, or claims a label or capability
 * the credential does not hold, is 403.
 */
export function evaluateAs(principal: Principal, claimed: ClaimedAgent | undefined): IdentityAnswer {
  if (principal.kind === 'operator') {
    if (claimed === undefined) return { ok: false, status: 400, error: "body must have required property 'agent'" };
    const agent = typeof claimed === 'string' ? { id: claimed } : claimed;
    return { ok: true, agent: { id: agent.id, labels: agent.labels ?? {}, capabilities: agent.capabilities ?? [] } };
  }
  const own = { id: principal.agentId, labels: principal.labels, capabilities: principal.capabilities };
  if (claimed === undefined) return { ok: true, agent: own };
  const agent = typeof claimed === 'string' ? { id: claimed } : claimed;
  if (agent.id !== principal.agentId) return { ok: false, status: 403, error: `${describePrincipal(principal)} may evaluate only as agent ${principal.agentId}, not ${agent.id}` };
  const label = Object.entries(agent.labels ?? {}).find(([k, v]) => !Object.hasOwn(principal.labels, k) || principal.labels[k] !== v);
  if (label !== undefined) return { ok: false, status: 403, error: `${describePrincipal(principal)} was not granted the label ${label[0]}=${label[1]}` };
  const capability = (agent.capabilities ?? []).find((c) => !principal.capabilities.includes(c));
  if (capability !== undefined) return { ok: false, status: 403, error: `${describePrincipal(principal)} was not granted the capability ${capability}` };
  return { ok: true, agent: own };
}

/** mayRead says whether `principal` may see `approval`: the operator any, an agent credential those its agent's evaluate calls opened. */
export function mayRead(principal: Principal, approval: PendingApproval): boolean {
  return principal.kind === 'operator' || isOwn(principal, approval);
}

function isOwn(principal: AgentPrincipal, approval: PendingApproval): boolean {
  return approval.pid === 0 && approval.agentId === principal.agentId;
}
