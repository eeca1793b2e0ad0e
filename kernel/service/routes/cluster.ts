/** Cluster: this node's view of the cluster (nodes, readiness, policy epoch). 404 when agentd runs alone. */
import type { FastifyInstance } from 'fastify';
import type { ServiceContext } from '../context.ts';
import { PROBLEM } from '../context.ts';
import { sendError } from '../errors.ts';

export function clusterRoutes(app: FastifyInstance, ctx: ServiceContext): void {
  app.get('/v1/cluster', { schema: { summary: 'This node, its Redis health and every node in the directory (alive or silent)', response: { '4xx': PROBLEM, '5xx': PROBLEM } } }, async (_req, reply) => {
    const cluster = ctx.cluster;
    if (cluster === undefined) return reply.code(404).send({ error: 'this agentd is not part of a cluster (no redis: section in its configuration)' });
    try {
      return { ...cluster.status(), nodes: await cluster.nodes() };
    } catch (err) {
      return sendError(reply, err);
    }
  });
}
