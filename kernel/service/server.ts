/**
 * buildServer assembles agentd's HTTP API (fastify): every route needs the
 * bearer token (a missing or wrong one is 401 and recorded), bodies are
 * validated by their JSON Schemas, and the OpenAPI document generated from
 * those schemas is served at /openapi.json.
 */
import swagger from '@fastify/swagger';
import { Ajv } from 'ajv';
import Fastify, { type FastifyInstance } from 'fastify';
import type { ServiceContext } from './context.ts';
import { approvalRoutes } from './routes/approvals.ts';
import { clusterRoutes } from './routes/cluster.ts';
import { decisionRoutes } from './routes/decisions.ts';
import { evaluateRoutes } from './routes/evaluate.ts';
import { policyRoutes } from './routes/policy.ts';
import { processRoutes } from './routes/processes.ts';
import { vfsRoutes } from './routes/vfs.ts';
import { tokenMatches } from './token.ts';

export async function buildServer(ctx: ServiceContext, token: string): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, bodyLimit: 8 * 1024 * 1024 });
  // A JSON body is checked as sent: `"agent": 5` is a wrong type, not the string "5".
  // Path and query parameters arrive as text and are coerced to their schema's types.
  const bodies = new Ajv({ strict: false, allErrors: false, coerceTypes: false, allowUnionTypes: true });
  const texts = new Ajv({ strict: false, allErrors: false, coerceTypes: 'array', allowUnionTypes: true });
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? bodies : texts).compile(schema));

  await app.register(swagger, {
    openapi: {
      info: { title: 'agentd', version: '1', description: 'The agent kernel as a service. Every request needs `Authorization: Bearer <token>`.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });

  app.addHook('onRequest', async (req, reply) => {
    if (tokenMatches(req.headers.authorization, token)) return;
    ctx.metrics.unauthorized.inc();
    ctx.log.record({ type: 'auth', pid: 0, agentId: 'agentd', detail: `401 ${req.method} ${req.url.slice(0, 200)} from ${req.ip}` });
    await reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'missing or wrong bearer token' });
  });

  app.setErrorHandler((err: { statusCode?: number; message?: string; validation?: unknown }, _req, reply) => {
    const status = err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    void reply.code(status).send({ error: status === 500 ? 'internal error' : (err.message ?? 'bad request') });
  });

  app.get('/healthz', { schema: { summary: 'Liveness' } }, () => ({ ok: true }));
  app.get('/readyz', { schema: { summary: 'Readiness: accepting work, the recorder open, no quarantined isolate' } }, (_req, reply) => {
    if (!ctx.accepting) return reply.code(503).send({ ready: false, error: 'shutting down' });
    if (ctx.kernel.degraded !== undefined) return reply.code(503).send({ ready: false, error: `degraded: ${ctx.kernel.degraded}` });
    const shared = ctx.cluster?.problem();
    if (shared !== undefined) return reply.code(503).send({ ready: false, error: `cluster: ${shared}` });
    return { ready: true };
  });
  app.get('/metrics', { schema: { summary: 'Prometheus metrics' } }, async (_req, reply) => reply.type(ctx.metrics.registry.contentType).send(await ctx.metrics.registry.metrics()));
  app.get('/openapi.json', { schema: { hide: true } }, () => app.swagger());

  processRoutes(app, ctx);
  approvalRoutes(app, ctx);
  decisionRoutes(app, ctx);
  policyRoutes(app, ctx);
  vfsRoutes(app, ctx);
  evaluateRoutes(app, ctx);
  clusterRoutes(app, ctx);
  await app.ready();
  return app;
}
