/**
 * The MCP gateway over streamable HTTP: `POST/GET/DELETE /v1/mcp`, the MCP
 * transport of the 2025-03-26 specification, served by the official SDK. An
 * MCP host connects with a bearer token: the operator's, or an agent
 * credential (`agentctl principal create`), which is then who every call is
 * decided and recorded as (kernel/service/mcp-sessions.ts). Each `tools/call`
 * takes the same path as an agent's SYS_EXEC through agentd's kernel: its
 * policy, its approvals (the operator answers with `agentctl approve` while
 * the call waits), its decision log. The tools offered are agentd's
 * (`tools`, and the upstream `mcp_servers` it proxies), less pinned upstream
 * tools whose description or schema changed until an operator approves them
 * again (kernel/tools/tool-pins.ts). Each call is a decision record, so an
 * agent's calls share its `evaluate.per_second` with its /v1/evaluate
 * questions: past it a call is answered with an EAGAIN tool error, recorded
 * nowhere but in the sampled refusals (as /v1/evaluate's 429s are). A body
 * holds at most what one call may carry (MCP_BODY_LIMIT): more is 413.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { KernelError } from '../../../abi/errno.ts';
import { ARG_LIMITS } from '../../../abi/limits.ts';
import { OPEN_TO_AGENTS, principalOf } from '../access.ts';
import type { ServiceContext } from '../context.ts';
import { sendError } from '../errors.ts';
import { McpSessions } from '../mcp-sessions.ts';
import type { CallRate } from '../../tools/mcp-gateway.ts';

const SESSION_HEADER = 'mcp-session-id';

/**
 * MCP_BODY_LIMIT is the largest body of a POST: the arguments of one
 * tools/call as large as the kernel takes them (ARG_LIMITS.jsonBytes, counted
 * in UTF-16 units: up to 3 bytes each as UTF-8, so 3× that in bytes), and
 * 64 KiB for the JSON-RPC envelope. Left at agentd's 8 MiB, one batch of
 * 100 calls with large arguments held the event loop (and /healthz) for
 * 0.6-0.8 s (an attacker pass).
 */
export const MCP_BODY_LIMIT = 3 * ARG_LIMITS.jsonBytes + 64 * 1024;

/** TOO_LARGE is the 413's message: what the limit is and why. */
const TOO_LARGE = `an MCP request body may be at most ${MCP_BODY_LIMIT} bytes: one tools/call, its arguments at most ${ARG_LIMITS.jsonBytes} characters (send a batch's calls one by one)`;

const initializes = (m: unknown): boolean => m !== null && typeof m === 'object' && (m as { method?: unknown }).method === 'initialize';

/** isInitialize: the body is (or holds) the JSON-RPC initialize request that opens a session. */
function isInitialize(body: unknown): boolean {
  return Array.isArray(body) ? body.some(initializes) : initializes(body);
}

/** callRate holds the gateway's calls to the evaluate rate, each agent's budget shared with its evaluations; a refusal is counted and sampled as a 429. */
function callRate(ctx: ServiceContext): CallRate {
  return {
    refusal(agentId) {
      const past = ctx.evaluateRate.admit(agentId);
      if (past === undefined) return undefined;
      const error = ctx.evaluateRate.refusal(agentId, past, 'decisions', ', shared by /v1/evaluate and /v1/mcp tools/call');
      ctx.refusals.refused(429, agentId, `429 POST /v1/mcp tools/call for ${agentId}: EAGAIN: ${error}`);
      return error;
    },
    logged: (agentId, bytes) => ctx.evaluateRate.logged(agentId, bytes),
  };
}

export function mcpRoutes(app: FastifyInstance, ctx: ServiceContext): McpSessions {
  const sessions = new McpSessions(ctx.kernel, { rate: callRate(ctx) });
  // preClose, not onClose: an open session holds a stream (a GET), and close() waits for every request before onClose runs.
  app.addHook('preClose', async () => sessions.close());

  const handle = async (req: FastifyRequest, reply: FastifyReply) => {
    const principal = principalOf(req);
    const id = req.headers[SESSION_HEADER];
    let transport;
    try {
      if (typeof id === 'string') transport = sessions.session(id, principal);
      else if (req.method === 'POST' && isInitialize(req.body)) {
        if (!ctx.accepting) throw new KernelError('EAGAIN', 'agentd is shutting down');
        transport = await sessions.open(principal);
      } else throw new KernelError('EINVAL', `no ${SESSION_HEADER} header: the first request of a session is an MCP initialize request (POST)`);
    } catch (err) {
      return sendError(reply, err);
    }
    // The SDK's transport writes the answer (JSON, or an SSE stream) itself.
    reply.hijack();
    await transport.handleRequest(req.raw, reply.raw, req.body);
  };
  const schema = { summary: 'The MCP gateway (streamable HTTP): the governed tool set for an MCP host, as the token\'s principal', tags: ['mcp'] };
  app.post('/v1/mcp', {
    config: OPEN_TO_AGENTS,
    schema,
    bodyLimit: MCP_BODY_LIMIT,
    errorHandler: (err: { statusCode?: number }, _req, reply) => {
      // Other errors go to agentd's handler (server.ts).
      if (err.statusCode !== 413) throw err;
      void reply.code(413).send({ error: TOO_LARGE });
    },
  }, handle);
  app.get('/v1/mcp', { config: OPEN_TO_AGENTS, schema }, handle);
  app.delete('/v1/mcp', { config: OPEN_TO_AGENTS, schema }, handle);
  return sessions;
}
