/**
 * Principals: the operator creates, lists and revokes agent credentials
 * (operator only); any principal may ask who it is (GET /v1/whoami). A
 * credential's token is in the creation answer and nowhere else; creation
 * and revocation are recorded in the decision log (type auth).
 */
import type { FastifyInstance } from 'fastify';
import { KernelError } from '../../../abi/errno.ts';
import { recordAct } from '../../recorder/record-act.ts';
import { OPEN_TO_AGENTS, principalOf } from '../access.ts';
import type { ServiceContext } from '../context.ts';
import { PROBLEM } from '../context.ts';
import { sendError } from '../errors.ts';
import { GRANT_SCHEMA, infoOf, NAME_PATTERN, type AgentPrincipal, type Grant } from '../principals.ts';

const INFO = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    agent: { type: 'string' },
    labels: { type: 'object', additionalProperties: { type: 'string' } },
    capabilities: { type: 'array', items: { type: 'string' } },
    createdAt: { type: 'number' },
  },
} as const;

const NAME_PARAMS = { type: 'object', required: ['name'], properties: { name: { type: 'string', pattern: NAME_PATTERN } } } as const;

function granted(p: AgentPrincipal): string {
  const labels = Object.entries(p.labels).map(([k, v]) => `${k}=${v}`);
  return `labels ${labels.join(',') || 'none'}; capabilities ${p.capabilities.join(',') || 'none'}`;
}

export function principalRoutes(app: FastifyInstance, ctx: ServiceContext): void {
  const store = ctx.principals;
  const record = (p: AgentPrincipal, what: string) => recordAct(ctx.log, { type: 'auth', pid: 0, agentId: p.agentId, detail: `credential ${p.name} for agent ${p.agentId} ${what} by operator` });

  app.get('/v1/principals', { schema: { summary: 'Agent credentials (never their tokens), oldest first', response: { 200: { type: 'array', items: INFO } } } }, () => store.list().map(infoOf));

  app.post<{ Body: Grant }>(
    '/v1/principals',
    {
      schema: {
        summary: 'Create an agent credential: a token bound to one agent id with the labels and capabilities given here; the token is in this answer only',
        body: GRANT_SCHEMA,
        response: { 201: { type: 'object', properties: { ...INFO.properties, token: { type: 'string' } } }, '4xx': PROBLEM, '5xx': PROBLEM },
      },
    },
    async (req, reply) => {
      try {
        const { principal, token } = store.create(req.body);
        try {
          await record(principal, `created (${granted(principal)})`);
        } catch (err) {
          // Not recorded, not created: its token was never shown, and the credential goes again (an attacker pass: with
          // the decision log full, credentials were made and saved with no record).
          try {
            store.revoke(principal.name);
          } catch {
            // its token was never shown: nobody can use it
          }
          throw err;
        }
        return reply.code(201).send({ ...infoOf(principal), token });
      } catch (err) {
        return sendError(reply, err);
      }
    },
  );

  app.delete<{ Params: { name: string } }>(
    '/v1/principals/:name',
    { schema: { summary: "Revoke an agent credential: its token is refused (401) from the next request on", params: NAME_PARAMS, response: { 200: INFO, '4xx': PROBLEM, '5xx': PROBLEM } } },
    async (req, reply) => {
      try {
        const known = store.get(req.params.name);
        if (known === undefined) throw new KernelError('ESRCH', `no credential named ${req.params.name}`);
        // Recorded before it takes effect, as every operator act is.
        await record(known, 'revoked');
        return infoOf(store.revoke(req.params.name));
      } catch (err) {
        return sendError(reply, err);
      }
    },
  );

  app.get(
    '/v1/whoami',
    {
      config: OPEN_TO_AGENTS,
      schema: {
        summary: 'The principal this request authenticated as: the operator, or an agent credential with its agent, labels and capabilities',
        response: { 200: { type: 'object', properties: { principal: { enum: ['operator', 'agent'] }, ...INFO.properties } } },
      },
    },
    (req) => {
      const principal = principalOf(req);
      return principal.kind === 'operator' ? { principal: 'operator' } : { principal: 'agent', ...infoOf(principal) };
    },
  );
}
