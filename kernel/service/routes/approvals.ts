/**
 * Approvals: list, inspect (long-poll with ?wait=ms), approve, deny. Only
 * operators reach these. In a cluster the list holds every node's questions,
 * and a question asked on another node is answered through its node.
 */
import type { FastifyInstance } from 'fastify';
import type { ServiceContext } from '../context.ts';
import { PROBLEM } from '../context.ts';
import { sendError } from '../errors.ts';

const ID_PARAMS = { type: 'object', required: ['id'], properties: { id: { type: 'string', maxLength: 64 } } } as const;
const ANSWER_BODY = {
  type: ['object', 'null'],
  additionalProperties: false,
  properties: { reason: { type: 'string', maxLength: 1000 }, approver: { type: 'string', minLength: 1, maxLength: 128 } },
} as const;

interface AnswerBody {
  reason?: string;
  approver?: string;
}

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
      schema: {
        summary: 'One approval: pending, approved or denied; ?wait=ms waits for an answer (at most 60 s)',
        params: ID_PARAMS,
        querystring: { type: 'object', properties: { wait: { type: 'integer', minimum: 0, maximum: 60_000 } } },
        response: { '4xx': PROBLEM },
      },
    },
    async (req, reply) => {
      let status;
      try {
        const here = gate.status(req.params.id) !== undefined || ctx.cluster === undefined;
        if (here) status = req.query.wait ? await gate.settled(req.params.id, req.query.wait) : gate.status(req.params.id);
        else status = await ctx.cluster!.approvalStatus(req.params.id, req.query.wait ?? 0);
      } catch (err) {
        return sendError(reply, err);
      }
      if (status === undefined) return reply.code(404).send({ error: `no approval ${req.params.id}`, errno: 'ESRCH' });
      return status;
    },
  );

  for (const verdict of ['approve', 'deny'] as const) {
    app.post<{ Params: { id: string }; Body: AnswerBody | null }>(
      `/v1/approvals/:id/${verdict}`,
      { schema: { summary: `${verdict === 'approve' ? 'Approve' : 'Deny'} a pending request; the approver and reason are recorded`, params: ID_PARAMS, body: ANSWER_BODY, response: { '4xx': PROBLEM } } },
      async (req, reply) => {
        try {
          const approver = req.body?.approver ?? 'operator';
          if (ctx.cluster !== undefined && gate.status(req.params.id) === undefined) {
            return await ctx.cluster.answer({ id: req.params.id, approved: verdict === 'approve', approver, reason: req.body?.reason ?? '' });
          }
          gate.answer(req.params.id, verdict === 'approve', approver, req.body?.reason ?? '');
          return gate.status(req.params.id);
        } catch (err) {
          return sendError(reply, err);
        }
      },
    );
  }
}
