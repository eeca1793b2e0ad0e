/**
 * What one client can hold of agentd's HTTP server, token or not (each
 * found by an attacker pass):
 * - **Time.** A client that trickles its headers or its body is cut off
 *   within 10 and 60 s (Node waits 60 and 300); an idle keep-alive
 *   connection ends after KEEP_ALIVE_MS (fastify's default is 72 s).
 * - **Requests in flight on one connection.** HTTP/1.1 pipelining let a
 *   client write thousands of requests at once and read no answer: each
 *   became a request and a reply in agentd's heap (200 such connections:
 *   890 MB of RSS, /healthz unanswered for 15 s). Past MAX_PIPELINED
 *   unanswered requests the connection is closed, and the requests it had
 *   already sent go no further than this gate.
 * - **Connections.** At most `maxConnections` (below the process's file
 *   limit: 20,000 trickling connections once took every fd); past it a new
 *   one is closed at once. So that connections opened and left idle (or
 *   trickling their headers) cannot keep the operator out, once EVICT_SHARE
 *   of them are taken, those with no request under way that have waited
 *   more than IDLE_GRACE_MS since they opened or were last answered are
 *   closed to make room, at most once per EVICT_EVERY_MS. Connections with
 *   a request under way are not idle, and any credential's long polls could
 *   take them all: past `maxConnections`, RESERVED_FOR_OPERATOR more are
 *   taken, on which only the operator's token is served (access.ts answers
 *   anyone else 503 and closes it; kernel/service/agent-load.ts caps what one
 *   agent credential holds).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** The most connections agentd holds at once; past it a new one is closed at once. */
export const MAX_CONNECTIONS = 4096;
/** The most requests a connection may have unanswered (pipelined) before it is closed. */
export const MAX_PIPELINED = 16;
/** How long an idle keep-alive connection stays open, ms. */
export const KEEP_ALIVE_MS = 5000;
/** Connections taken past `maxConnections`, for the operator's token alone. */
export const RESERVED_FOR_OPERATOR = 64;
/** The share of `maxConnections` past which idle connections are closed to make room. */
const EVICT_SHARE = 0.9;
const EVICT_EVERY_MS = 100;
/** A connection this new, or answered this recently, is never closed to make room (ms). */
const IDLE_GRACE_MS = 1000;

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** The connections taken past `maxConnections`: only the operator is served on them. */
const forOperator = new WeakSet<Socket>();

/** keptForOperator: `socket` is one of the connections past `maxConnections`, on which only the operator's token is served. */
export function keptForOperator(socket: Socket): boolean {
  return forOperator.has(socket);
}

/** boundedServer is the HTTP server fastify serves on (its `serverFactory`): `handler` sees only requests within the bounds above. */
export function boundedServer(handler: Handler, maxConnections = MAX_CONNECTIONS): Server {
  // Each open connection: its requests unanswered, and when it opened or was last answered.
  const connections = new Map<Socket, { unanswered: number; since: number }>();
  const server = createServer({ headersTimeout: 10_000, requestTimeout: 60_000, keepAliveTimeout: KEEP_ALIVE_MS }, (req, res) => {
    const connection = connections.get(req.socket);
    // The rest of what a closed connection had sent (one read can hold a thousand requests) goes no further.
    if (connection === undefined || req.socket.destroyed) return;
    if (++connection.unanswered > MAX_PIPELINED) return void req.socket.destroy();
    res.once('close', () => {
      connection.unanswered--;
      connection.since = performance.now();
    });
    handler(req, res);
  });
  let evicted = 0;
  server.on('connection', (socket: Socket) => {
    const now = performance.now();
    if (connections.size >= maxConnections * EVICT_SHARE && now - evicted >= EVICT_EVERY_MS) {
      evicted = now;
      for (const [idle, { unanswered, since }] of connections) {
        if (unanswered === 0 && now - since > IDLE_GRACE_MS) {
          idle.destroy();
          connections.delete(idle);
        }
      }
    }
    if (connections.size >= maxConnections + RESERVED_FOR_OPERATOR) return void socket.destroy();
    if (connections.size >= maxConnections) forOperator.add(socket);
    connections.set(socket, { unanswered: 0, since: now });
    socket.once('close', () => connections.delete(socket));
  });
  return server;
}
