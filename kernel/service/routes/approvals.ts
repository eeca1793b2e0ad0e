/**
 * Approvals: list, inspect (long-poll with ?wait=ms), approve, deny. The
 * operator reaches all of them; an agent credential only inspects the
 * questions its own agent's evaluate calls opened, and never answers. An
 * answer records the principal that gave it (`operator`, or `operator (as
 * NAME)` with a display name), never a bare name the caller chose. In a
 * cluster the list holds every node's questions, and a question asked on
 * another node is answered through its node.
 */
import type { FastifyInstance } from 'fastify';
import { alreadyAnswered, type ApprovalStatus } from '../../approvals.ts';
import { mayRead, OPEN_TO_AGENTS, principalOf, refuse, SIGNED } from '../access.ts';
import { CALLBACK_SKEW_MS, callbackPayload, SIGNATURE_HEADER, signedBy, TIMESTAMP_HEADER } from '../approvers/webhook.ts';
import type { ServiceContext } from '../context.ts';
import { PROBLEM } from '../context.ts';
import { sendError } from '../errors.ts';
import { answeredBy, describePrincipal } from '../principals.ts';

const ID_PARAMS = { type: 'object', required: ['id'], properties: { id: { type: 'string', maxLength: 64 } } } as const;
const ANSWER_BODY = {
  type: ['object', 'null'],
  additionalProperties: false,
  properties: {
    reason: { type: 'string', maxLength: 1000 },
    approver: { type: 'string', minLength: 1, maxLength: 128, pattern: '^[^\\u0000-\\u001f\\u007f]+$', description: 'a display name, recorded after the principal: operator (as NAME)' },
  },
} as const;

interface AnswerBody {
  reason?: string;
  approver?: string;
}

/** The answer to a webhook callback where approvals are not answered by webhook. */
const NO_WEBHOOK = { error: 'approvals are not answered by webhook here (approvals.mode is not webhook)', errno: 'ENOENT' };

/** How long an unauthenticated webhook callback may take to send its body (4 KiB at most). */
const CALLBACK_BODY_MS = 2000;

/**
 * callbackRefusal is the answer to a webhook callback that its headers alone refuse: no webhook here (404), or no
 * fresh timestamp or signature (401). Given before its body is read (an attacker pass: with no token, 4,096 callbacks
 * whose bodies never finished held every connection agentd takes, and the operator got ECONNRESET for 85 s).
 */
function callbackRefusal(ctx: ServiceContext, timestamp: unknown, sig: unknown): { status: 401 | 404; body: { error: string; errno: string } } | undefined {
  if (ctx.config.webhook === undefined) return { status: 404, body: NO_WEBHOOK };
  if (!freshStamp(timestamp)) return { status: 401, body: { error: `the callback is not signed with the webhook's secret (${TIMESTAMP_HEADER} missing, or more than ${CALLBACK_SKEW_MS / 60_000} minutes off)`, errno: 'EACCES' } };
  if (typeof sig !== 'string' || sig === '') return { status: 401, body: { error: `the callback is not signed with the webhook's secret (${SIGNATURE_HEADER} missing)`, errno: 'EACCES' } };
  return undefined;
}

/** freshStamp: `timestamp` is a callback's timestamp header within CALLBACK_SKEW_MS of now. */
const freshStamp = (timestamp: unknown): timestamp is string => typeof timestamp === 'string' && /^\d{1,16}$/.test(timestamp) && Math.abs(Date.now() - Number(timestamp)) <= CALLBACK_SKEW_MS;

export function approvalRoutes(app: FastifyInstance, ctx: ServiceContext): void {
  const gate = ctx.kernel.approvals;

  app.get('/v1/approvals', { schema: { summary: 'Pending approvals, oldest first (in a cluster, every node\'s)' } }, async (_req, reply) => {
    if (ctx.cluster === undefined) return gate.list();
    try {
      return (await ctx.cluster.approvals()).map((a) => ({ ...a.approval, node: a.node }));
    } catch (err) {
      return sendError(reply, err);
    }
  });

  app.get<{ Params: { id: string }; Querystring: { wait?: number } }>(
    '/v1/approvals/:id',
    {
      config: OPEN_TO_AGENTS,
      schema: {
        summary: 'One approval: pending, approved or denied; ?wait=ms waits for an answer (at most 60 s). An agent credential: its own agent\'s evaluate questions only',
        params: ID_PARAMS,
        querystring: { type: 'object', properties: { wait: { type: 'integer', minimum: 0, maximum: 60_000 } } },
        response: { '4xx': PROBLEM },
      },
    },
    async (req, reply) => {
      const id = req.params.id;
      const principal = principalOf(req);
      let status: ApprovalStatus | undefined;
      try {
        const here = gate.status(id) !== undefined || ctx.cluster === undefined;
        const look = (wait: number) => (here ? (wait > 0 ? gate.settled(id, wait) : Promise.resolve(gate.status(id))) : ctx.cluster!.approvalStatus(id, wait));
        // An agent credential learns nothing of a question that is not its own, not even whether it exists.
        if (principal.kind === 'agent') {
          const now = await look(0);
          if (now === undefined || !mayRead(principal, now.approval)) return refuse(ctx, req, reply, `${describePrincipal(principal)} may read only the approvals its own evaluate calls opened, and ${id} is not one of them`);
        }
        status = await look(req.query.wait ?? 0);
      } catch (err) {
        return sendError(reply, err);
      }
      if (status === undefined) return reply.code(404).send({ error: `no approval ${id}`, errno: 'ESRCH' });
      return status;
    },
  );

  for (const verdict of ['approve', 'deny'] as const) {
    app.post<{ Params: { id: string }; Body: AnswerBody | null }>(
      `/v1/approvals/:id/${verdict}`,
      { schema: { summary: `${verdict === 'approve' ? 'Approve' : 'Deny'} a pending request (operator only); the answering principal and reason are recorded`, params: ID_PARAMS, body: ANSWER_BODY, response: { '4xx': PROBLEM } } },
      async (req, reply) => {
        try {
          const approver = answeredBy(principalOf(req), req.body?.approver);
          if (ctx.cluster !== undefined && gate.status(req.params.id) === undefined) {
            return await ctx.cluster.answer({ id: req.params.id, approved: verdict === 'approve', approver, reason: req.body?.reason ?? '' });
          }
          await gate.answer(req.params.id, verdict === 'approve', approver, req.body?.reason ?? '');
          return gate.status(req.params.id);
        } catch (err) {
          return sendError(reply, err);
        }
      },
    );
  }

  app.post<{ Params: { id: string }; Body: { approved: boolean; reason?: string } }>(
    '/v1/approvals/:id/callback',
    {
      config: SIGNED,
      // Read before anything authenticates it: small, and only once what can be checked without it holds.
      bodyLimit: 4096,
      onRequest: (req, reply, done) => {
        const unsigned = callbackRefusal(ctx, req.headers[TIMESTAMP_HEADER], req.headers[SIGNATURE_HEADER]);
        if (unsigned !== undefined) {
          if (unsigned.status === 401) ctx.refusals.refused(401, req.ip, `401 webhook callback from ${req.ip}: ${unsigned.body.error}`);
          // The body that was announced is not read: the connection goes with the answer.
          void reply.code(unsigned.status).header('connection', 'close').send(unsigned.body);
          return;
        }
        // Nobody is authenticated yet: the body has CALLBACK_BODY_MS to arrive, or its connection is closed.
        setTimeout(() => {
          if (!req.raw.complete) req.raw.socket.destroy();
        }, CALLBACK_BODY_MS).unref();
        done();
      },
      schema: {
        summary: `The approval webhook's answer (approvals.mode webhook): no bearer token; ${TIMESTAMP_HEADER} and ${SIGNATURE_HEADER} (HMAC-SHA256 of callback.<timestamp>.<id>.<requested_at>.<approve|deny>.<reason>) authenticate it`,
        params: ID_PARAMS,
        body: { type: 'object', required: ['approved'], additionalProperties: false, properties: { approved: { type: 'boolean' }, reason: { type: 'string', maxLength: 1000 } } },
        response: { '4xx': PROBLEM },
      },
    },
    async (req, reply) => {
      const hook = ctx.config.webhook;
      // Refused already by its headers (onRequest); the configuration does not change.
      if (hook === undefined) return reply.code(404).send(NO_WEBHOOK);
      const { id } = req.params;
      const timestamp = req.headers[TIMESTAMP_HEADER];
      const sig = req.headers[SIGNATURE_HEADER];
      const reason = req.body.reason ?? '';
      const fresh = freshStamp(timestamp);
      const now = gate.status(id);
      // An unknown id is checked against a time no question has, so the answer is 401 whether or not the id exists.
      const requestedAt = now?.approval.requestedAt ?? -1;
      if (!fresh || !signedBy(hook.secret, callbackPayload(timestamp, id, requestedAt, req.body.approved, reason), typeof sig === 'string' ? sig : undefined)) {
        ctx.refusals.refused(401, req.ip, `401 webhook callback for ${id.slice(0, 64)} from ${req.ip}: ${fresh ? 'bad signature' : 'missing or stale timestamp'}`);
        return reply.code(401).send({ error: `the callback is not signed with the webhook's secret${fresh ? '' : ` (${TIMESTAMP_HEADER} missing, or more than ${CALLBACK_SKEW_MS / 60_000} minutes off)`}`, errno: 'EACCES' });
      }
      if (now === undefined) return reply.code(404).send({ error: `no approval ${id}`, errno: 'ESRCH' });
      const again = alreadyAnswered(id, now);
      if (again !== undefined) return reply.code(409).send({ error: again.message, errno: again.errno });
      try {
        await gate.answer(id, req.body.approved, 'webhook', reason);
        return gate.status(id);
      } catch (err) {
        return sendError(reply, err);
      }
    },
  );
}
