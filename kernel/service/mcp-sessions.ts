/**
 * McpSessions: the MCP gateway's sessions over streamable HTTP, one
 * McpGateway and one transport each, owned by the principal that opened it
 * (a session id alone never lets another principal in). An operator token
 * acts as the gateway's own agent (`mcp-gateway`, capability `tool:*`: the
 * policy alone decides); an agent credential acts as its agent, with the
 * labels and capabilities it was granted, plus `via: mcp` and `mcp_client`.
 * What the sessions hold is bounded: MAX_SESSIONS at once, MAX_PER_PRINCIPAL
 * per principal, and a session idle for `idleMs` is closed. Every session's
 * calls are held to one `rate` per agent (agentd's evaluate rate), so more
 * sessions, or more credentials for one agent, buy no more decisions.
 */
import { randomUUID } from 'node:crypto';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { KernelError } from '../../abi/errno.ts';
import type { Kernel } from '../kernel.ts';
import { type CallRate, GATEWAY_CALLER, McpGateway, type GatewayCaller } from '../tools/mcp-gateway.ts';
import { describePrincipal, type Principal } from './principals.ts';

export const MAX_SESSIONS = 256;
export const MAX_PER_PRINCIPAL = 16;
export const DEFAULT_IDLE_MS = 10 * 60_000;

interface Session {
  readonly owner: string;
  readonly gateway: McpGateway;
  readonly transport: StreamableHTTPServerTransport;
  used: number;
}

/** callerOf is who a principal acts as through the gateway. */
function callerOf(principal: Principal): GatewayCaller {
  if (principal.kind === 'operator') return GATEWAY_CALLER;
  return { agentId: principal.agentId, labels: principal.labels, capabilities: principal.capabilities };
}

/** ownerOf names a principal for session ownership. */
function ownerOf(principal: Principal): string {
  return principal.kind === 'operator' ? 'operator' : `principal:${principal.name}`;
}

export class McpSessions {
  private readonly sessions = new Map<string, Session>();
  private readonly kernel: Kernel;
  private readonly idleMs: number;
  private readonly rate: CallRate | undefined;
  private readonly sweeper: NodeJS.Timeout;

  constructor(kernel: Kernel, options: { idleMs?: number; rate?: CallRate } = {}) {
    this.kernel = kernel;
    this.idleMs = options.idleMs ?? DEFAULT_IDLE_MS;
    this.rate = options.rate;
    this.sweeper = setInterval(() => this.sweep(), Math.max(1000, Math.min(this.idleMs, 60_000)));
    this.sweeper.unref();
  }

  get size(): number {
    return this.sessions.size;
  }

  /**
   * session returns the transport of session `id` for `principal`. ENOENT if
   * there is none (closed, idle too long, never opened); EACCES if another
   * principal opened it.
   */
  session(id: string, principal: Principal): StreamableHTTPServerTransport {
    const session = this.sessions.get(id);
    if (session === undefined) throw new KernelError('ENOENT', `no MCP session ${id.slice(0, 64)} (closed, or idle for more than ${this.idleMs} ms): initialize a new one`);
    if (session.owner !== ownerOf(principal)) throw new KernelError('EACCES', `MCP session ${id.slice(0, 64)} belongs to another principal than ${describePrincipal(principal)}`);
    session.used = Date.now();
    return session.transport;
  }

  /** open starts a session for `principal` (its id is known once the transport has answered the initialize request). EAGAIN past the limits. */
  async open(principal: Principal): Promise<StreamableHTTPServerTransport> {
    const owner = ownerOf(principal);
    if (this.sessions.size >= MAX_SESSIONS) throw new KernelError('EAGAIN', `the MCP gateway has ${MAX_SESSIONS} sessions open: close one (DELETE /v1/mcp) or wait for idle ones to end`);
    let mine = 0;
    for (const s of this.sessions.values()) if (s.owner === owner) mine++;
    if (mine >= MAX_PER_PRINCIPAL) throw new KernelError('EAGAIN', `${describePrincipal(principal)} has ${MAX_PER_PRINCIPAL} MCP sessions open: close one (DELETE /v1/mcp)`);
    const gateway = new McpGateway({ services: this.kernel.services, registry: this.kernel.tools, tokens: this.kernel.engine, caller: callerOf(principal), via: 'http', ...(this.rate !== undefined ? { rate: this.rate } : {}) });
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => void this.sessions.set(id, { owner, gateway, transport, used: Date.now() }),
    });
    // The transport ends (DELETE, or closed by us): forget the session and record its end.
    let ended = false;
    // The SDK's transport offers only the onclose property (the gateway's server chains it on connect).
    // oxlint-disable-next-line unicorn/prefer-add-event-listener
    transport.onclose = () => {
      if (ended) return;
      ended = true;
      const id = transport.sessionId;
      if (id !== undefined) this.sessions.delete(id);
      void gateway.close().catch(() => undefined);
    };
    await gateway.connect(transport);
    return transport;
  }

  /** sweep closes sessions idle for more than idleMs. */
  private sweep(): void {
    const now = Date.now();
    for (const s of this.sessions.values()) if (now - s.used > this.idleMs) void s.transport.close().catch(() => undefined);
  }

  /** close ends every session (agentd shutting down). */
  async close(): Promise<void> {
    clearInterval(this.sweeper);
    await Promise.all([...this.sessions.values()].map((s) => s.transport.close().catch(() => undefined)));
    this.sessions.clear();
  }
}
