/**
 * POST /v1/evaluate: an agent running outside the kernel asks before acting.
 * Same authorizer as a syscall's (breaker, autonomy, the kernel's rules,
 * pre-conditions, policy, shadow; capabilities are only matched on: see
 * OutsideIdentity), same recorder: the answer names the rule, the policy version
 * and the record's sequence number, and is sent only once the record is
 * written (group commit). require_approval also opens an approval to poll.
 * The operator evaluates for any agent it names; an agent credential only as
 * its own agent, with the labels and capabilities it was granted (evaluateAs).
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { evaluateAs, OPEN_TO_AGENTS, principalOf, refuse, type ClaimedAgent } from '../access.ts';
import type { ServiceContext } from '../context.ts';
import { PROBLEM } from '../context.ts';
import { check, conductOfDenial, decide, describeDecision, recordShadow } from '../../../syscalls/dispatch.ts';
import { breakerOf, type AccessRequest, type ApprovalAnswer, type Decision } from '../../../syscalls/context.ts';
import { grantDigest } from '../grants.ts';
import { type PastRate, sentBytes } from '../evaluate-rate.ts';
import { resourceRefusal } from '../evaluate-resource.ts';
import { KernelError } from '../../../abi/errno.ts';
import { AGENT_ID_PATTERN, OutsideIdentity } from '../../capabilities.ts';

const MAX_DEPTH = 32;
/** The largest body, bytes. */
const BODY_LIMIT = 256 * 1024;
/**
 * The most arrays and objects a body may open: a question's arguments and context are a few levels of a few keys.
 * agentd's 131,072 let one body of 80,000 empty objects cost ~21 ms of the loop (an attacker pass).
 */
const BODY_CONTAINERS = 4096;

export const EVALUATE_REQUEST = {
  $id: 'EvaluateRequest',
  type: 'object',
  required: ['action'],
  additionalProperties: false,
  properties: {
    agent: {
      description: 'the agent asking: required with the operator token; with an agent credential absent or its own agent, and labels and capabilities only among those granted',
      oneOf: [
        { type: 'string', minLength: 1, maxLength: 64, pattern: AGENT_ID_PATTERN },
        {
          type: 'object',
          required: ['id'],
          additionalProperties: false,
          properties: {
            id: { type: 'string', minLength: 1, maxLength: 64, pattern: AGENT_ID_PATTERN },
            labels: { type: 'object', additionalProperties: { type: 'string', maxLength: 256 }, maxProperties: 64 },
            capabilities: { type: 'array', items: { type: 'string', maxLength: 512 }, maxItems: 256 },
          },
        },
      ],
    },
    action: { type: 'string', minLength: 1, maxLength: 128, description: 'a syscall name (SYS_EXEC …) or an action name the policy uses (http.get, file.write …)' },
    resource: { type: 'string', maxLength: 4096, description: "a path, matched by rule paths; one starting with '/' must be canonical (no '.', '..' or empty segments, no trailing '/', no NUL), else 400" },
    access: { enum: ['read', 'write', 'none'] },
    tool: { type: 'string', maxLength: 256 },
    arguments: { type: 'object', maxProperties: 256, description: 'matched by rule args patterns' },
    context: { type: 'object', maxProperties: 64, description: 'free-form; recorded as part of the argument digest' },
    approval_id: { type: 'string', minLength: 1, maxLength: 64, description: 'redeem an approved question: the same request (agent, action, resource, access, tool, arguments) with its approval id is allowed once, within 5 minutes of the approval' },
  },
} as const;

export const EVALUATE_RESPONSE = {
  type: 'object',
  properties: {
    decision: { enum: ['allow', 'deny', 'require_approval'] },
    rule: { type: 'string' },
    reason: { type: 'string' },
    policy_version: { type: 'string' },
    seq: { type: 'integer' },
    approval_id: { type: 'string' },
  },
} as const;

/** EvaluateBody is the request an outside agent sends (the client's EvaluateRequest). */
export interface EvaluateBody {
  /** Required with the operator token; an agent credential may leave it out (it is its own agent). */
  agent?: ClaimedAgent;
  action: string;
  resource?: string;
  access?: 'read' | 'write' | 'none';
  tool?: string;
  arguments?: Record<string, unknown>;
  context?: Record<string, unknown>;
  /** Redeem this approved question (kernel/service/grants.ts). */
  approval_id?: string;
}

/**
 * argumentFault says what is wrong with `value` (a body's arguments or
 * context), if anything: nested deeper than MAX_DEPTH, or a number that is
 * not finite. JSON.parse reads `1e999` as Infinity, which canonical JSON
 * writes as null: an approval asked for `amount: null` was redeemed for
 * `amount: 1e999`, and the record said null where the policy had matched
 * "Infinity" (an attacker pass). The body parser bounds the nesting at 64,
 * so the recursion is bounded too.
 */
function argumentFault(value: unknown, name: string, depth = 0): string | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : `${name} may hold only finite numbers`;
  if (value === null || typeof value !== 'object') return undefined;
  if (depth > MAX_DEPTH) return `arguments and context may nest at most ${MAX_DEPTH} deep`;
  if (Array.isArray(value)) {
    for (const item of value) {
      const fault = argumentFault(item, name, depth + 1);
      if (fault !== undefined) return fault;
    }
    return undefined;
  }
  for (const key in value) {
    const fault = argumentFault((value as Record<string, unknown>)[key], name, depth + 1);
    if (fault !== undefined) return fault;
  }
  return undefined;
}

/** recordAnswer records the answer to a question an agent outside the kernel asked (the log may be closed by then: the answer stands). */
export function recordAnswer(ctx: ServiceContext, agentId: string, action: string, id: string, answer: ApprovalAnswer): void {
  const { log } = ctx;
  if (!answer.approved) ctx.kernel.misbehaved(agentId, 'approvalDenied');
  try {
    log.record({ type: 'approval', pid: 0, agentId, detail: `${answer.approved ? 'granted' : 'denied'} ${action} (${id}) by ${answer.approver}: ${answer.reason}` });
  } catch {
    // agentd is stopping; the poller still gets the answer
  }
}

/** GRANT_RULE names a decision on redeeming an approval: allow once for the approved request, else deny. */
const GRANT_RULE = 'kernel.approval-grant';

/** redeemed decides a request that presents an approval id: allowed once if it is the approved request (kernel/service/grants.ts). */
async function redeemed(ctx: ServiceContext, id: string, digest: string, agentId: string): Promise<Decision> {
  const local = ctx.kernel.approvals.status(id);
  const status = local !== undefined || ctx.cluster === undefined ? local : await ctx.cluster.approvalStatus(id, 0).catch(() => undefined);
  const verdict = ctx.grants.redeem(id, digest, agentId, status, Date.now());
  const policyVersion = ctx.kernel.engine.version;
  return verdict.ok
    ? { effect: 'allow', rule: GRANT_RULE, reason: `approval ${id} by ${verdict.approver}${verdict.reason ? `: ${verdict.reason}` : ''}`, policyVersion }
    : { effect: 'deny', rule: GRANT_RULE, reason: verdict.why, policyVersion };
}

/**
 * redeemable: a grant answers a question the policy asked, so it is redeemed
 * only while the kernel would still ask it (or allow it): a policy that now
 * denies the request, a contract's pre-condition that no longer holds, an
 * open breaker or a lowered autonomy level deny the redemption too (asked
 * without counting anything).
 */
function redeemable(ctx: ServiceContext, request: AccessRequest, id: string): Decision | undefined {
  const now = check(ctx.kernel.services, request);
  if (now.effect !== 'deny') return undefined;
  return { ...now, rule: GRANT_RULE, reason: `approval ${id} is not redeemed: the kernel now denies the request (rule ${now.rule}: ${now.reason})` };
}

/** unrecorded answers 503 when the decision could not be written to the log (a full disk): no decision without its record. */
function unrecorded(reply: FastifyReply, err: unknown): FastifyReply {
  const errno = err instanceof KernelError ? err.errno : 'EIO';
  return reply.code(503).send({ error: `the decision could not be recorded, so there is none: ${err instanceof Error ? err.message : String(err)}`, errno });
}

/** pastRate answers 429 for agent `agentId`, past its evaluations or its bytes of records this second; counted and sampled as a refusal. */
function pastRate(ctx: ServiceContext, reply: FastifyReply, agentId: string, past: PastRate): FastifyReply {
  const error = `EAGAIN: ${ctx.evaluateRate.refusal(agentId, past, 'evaluations')}`;
  ctx.refusals.refused(429, agentId, `429 POST /v1/evaluate for ${agentId}: ${error}`);
  return reply.code(429).header('retry-after', '1').send({ error });
}

export function evaluateRoutes(app: FastifyInstance, ctx: ServiceContext): void {
  const { kernel, log, metrics } = ctx;
  app.post<{ Body: EvaluateBody }>(
    '/v1/evaluate',
    {
      bodyLimit: BODY_LIMIT,
      config: { ...OPEN_TO_AGENTS, bodyContainers: BODY_CONTAINERS },
      // An agent credential's rates (evaluations, bytes of bodies) are counted before its body is read and parsed: past them, that work is not done.
      onRequest: async (req, reply) => {
        const principal = req.principal;
        if (principal?.kind !== 'agent') return;
        const past = ctx.evaluateRate.admitBody(principal.agentId, sentBytes(req.headers, BODY_LIMIT)) ?? ctx.evaluateRate.admit(principal.agentId);
        if (past !== undefined) return pastRate(ctx, reply, principal.agentId, past);
      },
      schema: { summary: 'Decide an action for an agent outside the kernel (an agent credential: as its own agent only)', body: EVALUATE_REQUEST, response: { 200: EVALUATE_RESPONSE, '4xx': PROBLEM, 503: PROBLEM } },
    },
    async (req, reply) => {
      // A stopping agentd has handed its questions to the cluster: one asked (or redeemed) now would be left behind.
      if (!ctx.accepting) return reply.code(503).send({ error: 'agentd is shutting down' });
      const started = process.hrtime.bigint();
      const body = req.body;
      const identity = evaluateAs(principalOf(req), body.agent);
      if (!identity.ok) return identity.status === 403 ? refuse(ctx, req, reply, identity.error) : reply.code(400).send({ error: identity.error });
      const fault = argumentFault(body.arguments, 'arguments') ?? argumentFault(body.context, 'context');
      if (fault !== undefined) return reply.code(400).send({ error: fault, errno: 'EINVAL' });
      // A rule's path glob matches the text as sent: `/data/../../etc/shadow` would match `/data/**` (evaluate-resource.ts).
      const badResource = body.resource === undefined ? undefined : resourceRefusal(body.resource);
      if (badResource !== undefined) return reply.code(400).send({ error: badResource, errno: 'EINVAL' });
      const agent = identity.agent;
      // Every answer is a record: an agent is held to a rate, as one inside the kernel is (evaluate-rate.ts). An agent
      // credential's was counted before its body was read (onRequest); the operator's names its agent in the body.
      const past = principalOf(req).kind === 'operator' ? ctx.evaluateRate.admit(agent.id) : undefined;
      if (past !== undefined) return pastRate(ctx, reply, agent.id, past);
      const args = body.arguments ?? {};
      const span = kernel.services.telemetry?.syscall(0, agent.id, body.action);
      // What a grant is bound to: computed only for a request that opens a question or redeems one.
      const digestOf = () => grantDigest({ agent: agent.id, action: body.action, resource: body.resource, access: body.access, tool: body.tool, arguments: args });
      // The kernel's own pipeline (kernel/policy/authorizer.ts), as for a call inside: the breaker, the autonomy level, the kernel's rules, the contracts' pre-conditions, the policy (with shared limits and risk escalation), the shadow beside it; an error in it is a deny.
      const request: AccessRequest = {
        pid: 0,
        agentId: agent.id,
        identity: new OutsideIdentity(agent),
        syscall: body.action,
        access: body.access ?? 'none',
        ...(body.resource !== undefined ? { path: body.resource } : {}),
        ...(body.tool !== undefined ? { tool: body.tool } : {}),
        args,
      };
      const decision = body.approval_id !== undefined ? redeemable(ctx, request, body.approval_id) ?? (await redeemed(ctx, body.approval_id, digestOf(), agent.id)) : await decide(kernel.services.authorizer, request);
      let seq: number;
      // The bytes its records add to the log count against the agent's share (evaluate.log_bytes_per_second).
      const logged = log.bytes;
      try {
        seq = log.record({
          type: 'syscall',
          pid: 0,
          agentId: agent.id,
          syscall: body.action,
          access: body.access ?? 'none',
          effect: decision.effect,
          rule: decision.rule,
          reason: decision.reason,
          policyVersion: decision.policyVersion,
          ...(body.resource !== undefined ? { path: body.resource } : {}),
          args: { tool: body.tool ?? null, arguments: args, context: body.context ?? null },
          asked: decision.asked,
        });
      } catch (err) {
        span?.end(err instanceof KernelError ? err.errno : 'EIO');
        return unrecorded(reply, err);
      }
      // The kernel sees only its decisions for an agent outside it, once recorded: a denial is a failure of the breaker's kind, an allow a success.
      if (decision.effect === 'deny') conductOfDenial(kernel.services, request, decision);
      else if (decision.effect === 'allow') {
        const { owner, key } = breakerOf(request);
        kernel.services.conduct?.ended(owner, key, true);
      }
      let approvalId: string | undefined;
      if (decision.effect === 'require_approval') {
        const digest = digestOf();
        const question = kernel.approvals.open({
          pid: 0,
          agentId: agent.id,
          syscall: body.action,
          ...(body.resource !== undefined ? { path: body.resource } : {}),
          ...(body.tool !== undefined ? { tool: body.tool } : {}),
          rule: decision.rule,
          reason: decision.reason,
          arguments: args,
          timeoutMs: decision.approvalTimeoutMs ?? 60_000,
          ...(decision.policyVersion !== undefined ? { policyVersion: decision.policyVersion } : {}),
          digest,
        });
        approvalId = question.id;
        ctx.grants.open(question.id, digest, agent.id);
        // Nobody waits for the answer in the kernel (the agent outside polls for it): it is recorded here when it comes.
        void question.answer.then((answer) => recordAnswer(ctx, agent.id, body.action, question.id, answer));
      }
      if (decision.shadow !== undefined) recordShadow(log, { pid: 0, agentId: agent.id }, seq, decision.shadow);
      ctx.evaluateRate.logged(agent.id, log.bytes - logged);
      if (span !== undefined) describeDecision(span, { ...(body.tool !== undefined ? { tool: body.tool } : {}), ...(body.resource !== undefined ? { path: body.resource } : {}) }, decision, seq);
      try {
        await log.whenWritten(seq);
        span?.end();
      } catch (err) {
        // Not on record, not an answer: the caller must not act on it.
        span?.end(err instanceof KernelError ? err.errno : 'EIO');
        return unrecorded(reply, err);
      }
      // A question denied as it was asked (a cluster node that cannot reach Redis, too many questions open) is answered
      // as the deny it is: a require_approval whose id reads denied a moment later sent callers polling (an attacker pass).
      const answered = approvalId === undefined ? undefined : kernel.approvals.status(approvalId);
      const denied = answered?.status === 'denied' ? `approval ${approvalId} was denied as it was asked, by ${answered.answer?.approver ?? '?'}: ${answered.answer?.reason ?? ''}` : undefined;
      const effect = denied !== undefined ? 'deny' : decision.effect;
      metrics.evaluateSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
      metrics.evaluations.inc({ decision: effect });
      return {
        decision: effect,
        rule: decision.rule,
        reason: denied ?? decision.reason,
        policy_version: decision.policyVersion,
        seq,
        ...(approvalId !== undefined ? { approval_id: approvalId } : {}),
      };
    },
  );
}
