/** Cluster: this node's view of the cluster (nodes, readiness, policy epoch). 404 when agentd runs alone. */
import type { FastifyInstance } from 'fastify';
import type { ClusterStatus } from '../../cluster/node.ts';
import type { NodeStatus } from '../../cluster/directory.ts';
import type { ServiceContext } from '../context.ts';
import { PROBLEM } from '../context.ts';
import { sendError } from '../errors.ts';

/** ClusterAnswer is what GET /v1/cluster answers: this node, and every node listed (alive, silent, or dead for a while). */
export type ClusterAnswer = ClusterStatus & { readonly nodes: readonly NodeStatus[] };

export function clusterRoutes(app: FastifyInstance, ctx: ServiceContext): void {
  app.get(
    '/v1/cluster',
    { schema: { summary: 'This node, its Redis health and every node in the directory: alive, silent, or dead (for 24 hours after it was last seen), each with when it last beat', response: { '4xx': PROBLEM, '5xx': PROBLEM } } },
    async (_req, reply) => {
      const cluster = ctx.cluster;
      if (cluster === undefined) return reply.code(404).send({ error: 'this agentd is not part of a cluster (no redis: section in its configuration)' });
      try {
        const answer: ClusterAnswer = { ...cluster.status(), nodes: await cluster.nodes() };
        return answer;
      } catch (err) {
        return sendError(reply, err);
      }
    },
  );
}
