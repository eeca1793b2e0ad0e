/**
 * buildServer assembles agentd's HTTP API (fastify): every route needs a
 * bearer token, the operator's or an agent credential's, and declares which
 * of them may call it (kernel/service/access.ts; 401 and 403 are counted
 * and sampled into the decision log), bodies are validated by their JSON
 * Schemas, and the OpenAPI document generated from those schemas is served
 * at /openapi.json. While it serves, every process of this node that ends
 * is one line on agentd's stdout (kernel/service/exit-log.ts).
 */
import swagger from '@fastify/swagger';
import { Ajv } from 'ajv';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { guard, OPEN_TO_AGENTS } from './access.ts';
import { boundedServer } from './connections.ts';
import type { ServiceContext } from './context.ts';
import { logExits } from './exit-log.ts';
import { clipped, validationMessage } from './errors.ts';
import { NOT_JSON, useJsonBodies } from './json-body.ts';
import { agentRoutes } from './routes/agents.ts';
import { approvalRoutes } from './routes/approvals.ts';
import { clusterRoutes } from './routes/cluster.ts';
import { decisionRoutes } from './routes/decisions.ts';
import { evaluateRoutes } from './routes/evaluate.ts';
import { fleetRoutes } from './routes/fleet.ts';
import { hostRoutes } from './routes/hosts.ts';
import { mcpRoutes } from './routes/mcp.ts';
import { policyRoutes } from './routes/policy.ts';
import { shadowRoutes } from './routes/shadow.ts';
import { principalRoutes } from './routes/principals.ts';
import { processRoutes } from './routes/processes.ts';
import { toolRoutes } from './routes/tools.ts';
import { vfsRoutes } from './routes/vfs.ts';

export async function buildServer(ctx: ServiceContext): Promise<FastifyInstance> {
  // A request that fails its schema is 400 with one line naming each field at fault (validationMessage).
  const app = Fastify({
    logger: false,
    bodyLimit: 8 * 1024 * 1024,
    schemaErrorFormatter: (errors, part) => new Error(validationMessage(part, errors)),
    // Time, requests in flight and connections a client can hold are bounded there (connections.ts).
    serverFactory: (handler) => boundedServer(handler, ctx.config.maxConnections),
    // A URL Fastify cannot route (a malformed percent-escape) is answered in agentd's shape, echoing none of it: Fastify's
    // own answer echoed the whole URL, escapes an attacker chose included (an attacker pass).
    frameworkErrors: (err: { code?: string }, _req: unknown, reply: FastifyReply) => {
      if (err.code === 'FST_ERR_BAD_URL') void reply.code(400).send({ error: 'the URL is not valid: a malformed percent-escape', errno: 'EINVAL' });
      // A path parameter past Fastify's 100 characters was 414 before this handler (a review: it became 500).
      else if (err.code === 'FST_ERR_MAX_PARAM_LENGTH') void reply.code(414).send({ error: 'a path parameter of the URL is longer than 100 characters', errno: 'ENAMETOOLONG' });
      else void reply.code(500).send({ error: 'internal error' });
    },
  });
  useJsonBodies(app);
  // A JSON body is checked as sent: `"agent": 5` is a wrong type, not the string "5".
  // Path and query parameters arrive as text and are coerced to their schema's types.
  // `verbose` lets an unknown property's error list the known ones.
  const bodies = new Ajv({ strict: false, allErrors: false, coerceTypes: false, allowUnionTypes: true, verbose: true });
  const texts = new Ajv({ strict: false, allErrors: false, coerceTypes: 'array', allowUnionTypes: true, verbose: true });
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? bodies : texts).compile(schema));

  await app.register(swagger, {
    openapi: {
      info: {
        title: 'agentd',
        version: '1',
        description:
          'The agent kernel as a service. Every request needs `Authorization: Bearer <token>`: the operator token (full access) or an agent credential ' +
          '(POST /v1/principals), which may call only POST /v1/evaluate as its own agent, GET /v1/approvals/{id} for its own questions, GET /v1/whoami, ' +
          '/healthz, /readyz and /openapi.json. A missing or wrong token is 401, a route the credential may not call 403.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });

  guard(app, ctx);
  // agentd's own log is its stdout (bin/commands/serve.ts); the lines of the processes that end during shutdown come before `agentd: stopped`.
  const exits = logExits({ appended: ctx.log.appended, get: (pid) => ctx.kernel.get(pid) }, (line) => process.stdout.write(line));
  app.addHook('onClose', (_app, done) => {
    exits.unsubscribe();
    ctx.refusals.close();
    done();
  });

  app.setErrorHandler((err: { statusCode?: number; message?: string; validation?: unknown; code?: string }, _req, reply) => {
    // A 503 is a refusal for load (agent-load.ts), not agentd's fault.
    const status = err.statusCode !== undefined && ((err.statusCode >= 400 && err.statusCode < 500) || err.statusCode === 503) ? err.statusCode : 500;
    // Fastify's own 415 for a content-type that does not parse says only "Unsupported Media Type": say what to send (json-body.ts).
    const message = err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? `${NOT_JSON} (this one's content-type does not parse)` : err.message;
    void reply.code(status).send({ error: status === 500 ? 'internal error' : (message ?? 'bad request') });
  });

  // An unknown route is answered in agentd's own shape ({ error }), as every other refusal is.
  app.setNotFoundHandler((req, reply) => void reply.code(404).send({ error: `no route ${req.method} ${clipped(req.url.split('?')[0] ?? '', 200)}`, errno: 'ENOENT' }));
  app.get('/healthz', { config: OPEN_TO_AGENTS, schema: { summary: 'Liveness' } }, () => ({ ok: true }));
  app.get('/readyz', { config: OPEN_TO_AGENTS, schema: { summary: 'Readiness: accepting work, the decision log writable, no quarantined isolate' } }, (_req, reply) => {
    if (!ctx.accepting) return reply.code(503).send({ ready: false, error: 'shutting down' });
    if (ctx.kernel.degraded !== undefined) return reply.code(503).send({ ready: false, error: `degraded: ${ctx.kernel.degraded}` });
    // A decision log that cannot be written (a full disk): every effect fails closed until it can, and this says so.
    const unwritten = ctx.log.problem ?? ctx.stream?.problem;
    if (unwritten !== undefined) return reply.code(503).send({ ready: false, error: unwritten });
    const shared = ctx.cluster?.problem();
    if (shared !== undefined) return reply.code(503).send({ ready: false, error: `cluster: ${shared}` });
    return { ready: true };
  });
  app.get('/metrics', { schema: { summary: 'Prometheus metrics (operator only: they count every agent\'s calls)' } }, async (_req, reply) => reply.type(ctx.metrics.registry.contentType).send(await ctx.metrics.registry.metrics()));
  app.get('/openapi.json', { config: OPEN_TO_AGENTS, schema: { hide: true } }, () => app.swagger());

  processRoutes(app, ctx);
  agentRoutes(app, ctx);
  fleetRoutes(app, ctx);
  hostRoutes(app, ctx);
  approvalRoutes(app, ctx);
  decisionRoutes(app, ctx);
  policyRoutes(app, ctx);
  shadowRoutes(app, ctx);
  vfsRoutes(app, ctx);
  evaluateRoutes(app, ctx);
  clusterRoutes(app, ctx);
  principalRoutes(app, ctx);
  mcpRoutes(app, ctx);
  toolRoutes(app, ctx);
  await app.ready();
  return app;
}
