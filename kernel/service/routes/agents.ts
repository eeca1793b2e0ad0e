/**
 * Agents: what an operator sets for an agent as a whole, whichever of its
 * processes are running. `GET /v1/agents/:agent/autonomy` and `PUT` with
 * `{ level }` (full, supervised, observe: kernel/autonomy.ts); a change
 * applies to every process of the agent from its next call and is recorded
 * with the operator who made it. On a cluster, on the node asked.
 */
import type { FastifyInstance } from 'fastify';
import { sendError } from '../errors.ts';
import { AUTONOMY_LEVELS, type Autonomy } from '../../autonomy.ts';
import { principalOf } from '../access.ts';
import type { ServiceContext } from '../context.ts';
import { PROBLEM } from '../context.ts';
import { answeredBy } from '../principals.ts';

const AGENT_PARAMS = { type: 'object', required: ['agent'], properties: { agent: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$' } } } as const;
const AUTONOMY = { type: 'object', properties: { agent: { type: 'string' }, level: { type: 'string' } } } as const;

export function agentRoutes(app: FastifyInstance, ctx: ServiceContext): void {
  const { kernel } = ctx;
  app.get<{ Params: { agent: string } }>(
    '/v1/agents/:agent/autonomy',
    { schema: { summary: "An agent's autonomy level: full, supervised or observe", params: AGENT_PARAMS, response: { 200: AUTONOMY, '4xx': PROBLEM } } },
    (req) => ({ agent: req.params.agent, level: kernel.autonomy(req.params.agent) }),
  );
  app.put<{ Params: { agent: string }; Body: { level: Autonomy } }>(
    '/v1/agents/:agent/autonomy',
    {
      schema: {
        summary: "Set an agent's autonomy level (operator only): full (the policy decides), supervised (its changes need approval), observe (it may only read); recorded",
        params: AGENT_PARAMS,
        body: { type: 'object', required: ['level'], additionalProperties: false, properties: { level: { enum: [...AUTONOMY_LEVELS] } } },
        response: { 200: AUTONOMY, '4xx': PROBLEM },
      },
    },
    async (req, reply) => {
      try {
        await kernel.setAutonomy(req.params.agent, req.body.level, answeredBy(principalOf(req), undefined));
      } catch (err) {
        return sendError(reply, err);
      }
      return { agent: req.params.agent, level: kernel.autonomy(req.params.agent) };
    },
  );
}
