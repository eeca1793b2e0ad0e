/**
 * GET /v1/hosts: the sandbox host processes the agents run in (kernel/hosts),
 * each with its state and load; empty when agentd runs isolates itself.
 * `agentctl top` shows them.
 */
import type { FastifyInstance } from 'fastify';
import type { ServiceContext } from '../context.ts';

const HOST = {
  type: 'object',
  properties: { id: { type: 'integer' }, pid: { type: 'integer' }, state: { enum: ['starting', 'ready', 'spare', 'draining', 'dead'] }, ready: { type: 'boolean' }, agents: { type: 'integer' }, served: { type: 'integer' } },
} as const;

export function hostRoutes(app: FastifyInstance, ctx: ServiceContext): void {
  app.get('/v1/hosts', { schema: { summary: 'Sandbox host processes: state (spare: kept ready in reserve; draining: quarantined, ending once its agents have) and agents on each', response: { 200: { type: 'array', items: HOST } } } }, async () => ctx.kernel.hosts?.info() ?? []);
}
