/**
 * McpGateway serves the governed tool set as an MCP server, so an existing
 * MCP host gets the kernel's policy, approvals and recorder. The host is one
 * caller, agent `mcp-gateway` (labels `via: mcp` and `mcp_client: <name the
 * client gave>`, which is self-declared: match on it only to tell honest
 * clients apart), holding capability `tool:*`, so the policy alone decides.
 * Every `tools/call` takes the same path as an agent's SYS_EXEC: the one
 * dispatcher decodes it, asks the policy engine, records the decision, waits
 * for an approval if a rule requires one, then runs the tool. The gateway is
 * not a process: it has no VFS, so nothing it runs can be a vfs-to-exec flow.
 * A gateway given a CallRate (agentd's, over HTTP) asks it first: a call past
 * the rate is answered EAGAIN and is neither decided nor recorded.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { CallToolRequestSchema, ListToolsRequestSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { KernelServices, ToolResult } from '../../syscalls/context.ts';
import { dispatchRow, type ContextFor, type Reply } from '../../syscalls/dispatch.ts';
import { rowOf } from '../../syscalls/table.ts';
import { Identity } from '../capabilities.ts';
import { processTools } from './process-tools.ts';
import type { ToolRegistry } from './registry.ts';
import { WriteTracker } from './write-tracker.ts';

export const GATEWAY_AGENT = 'mcp-gateway';
const SERVER_INFO = { name: 'agent-kernel', version: '0.1.0' };

/** clientLabel keeps a client's self-declared name within label limits. */
function clientLabel(name: string | undefined): string {
  return (name ?? 'unknown').replace(/[^\x20-\x7e]/g, '?').slice(0, 128);
}

/** GatewayCaller is who the MCP host acts as: an agent id, its labels and capabilities. */
export interface GatewayCaller {
  readonly agentId: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly capabilities: readonly string[];
}

/** The caller of a gateway with no credentials of its own (stdio, or agentd's operator token): the policy alone decides. */
export const GATEWAY_CALLER: GatewayCaller = { agentId: GATEWAY_AGENT, labels: {}, capabilities: ['tool:*'] };

/** The one row the gateway dispatches: a tools/call is a SYS_EXEC. */
const EXEC = rowOf('SYS_EXEC');

/** GatewayContext is what the gateway's caller has: what SYS_EXEC needs, and nothing a process has besides (no VFS, fds, signals or children). */
type GatewayContext = ContextFor<typeof EXEC>;

/** gatewayContext is the caller the dispatcher sees for calls from the MCP host. */
function gatewayContext(registry: ToolRegistry, engine: { addTokens(agentId: string, n: number): void }, caller: GatewayCaller, client: string, rate: CallRate | undefined): GatewayContext {
  const agentId = caller.agentId;
  // Held to its capabilities (the tools run here), but its breakers are its own, as /v1/evaluate's are: a credential cannot crowd out its agent's processes' (a review).
  const identity = new Identity({ id: agentId, labels: { ...caller.labels, via: 'mcp', mcp_client: client }, capabilities: [...caller.capabilities] }, { outside: true });
  const nothingWritten = new WriteTracker();
  return {
    pid: 0,
    agentId,
    identity,
    tools: processTools(registry, { pid: 0, agentId, addTokens: (n) => engine.addTokens(agentId, n) }, () => nothingWritten),
    alive: () => true,
    violation: () => undefined,
    // The bytes its calls' records add to the log count against the agent's evaluate share.
    logged: (bytes) => rate?.logged?.(agentId, bytes),
  };
}

/** toCallResult turns a dispatcher reply into an MCP tool result; a fault is an `isError` result naming the errno. */
function toCallResult(reply: Exclude<Reply, { later: Promise<Reply> }>, source: string | undefined): CallToolResult {
  if ('errno' in reply) return { isError: true, content: [{ type: 'text', text: `${reply.errno}: ${reply.message}` }] };
  const result = reply.v as ToolResult;
  const output = result.output;
  if (source?.startsWith('mcp:') && output !== null && typeof output === 'object' && !Array.isArray(output) && Array.isArray((output as Record<string, unknown>).content)) {
    return output as unknown as CallToolResult;
  }
  const structured = output !== null && typeof output === 'object' && !Array.isArray(output) ? { structuredContent: output as Record<string, unknown> } : {};
  return { content: [{ type: 'text', text: JSON.stringify(output) }], ...structured };
}

/**
 * CallRate holds a gateway's tools/calls to a rate per agent. refusal counts
 * one call of agent `agentId` and says why it is refused (past the rate), or
 * is undefined for a call within it; logged is told the bytes of decision
 * records a call added to the log when it was decided.
 */
export interface CallRate {
  refusal(agentId: string): string | undefined;
  logged?(agentId: string, bytes: number): void;
}

export interface McpGatewayOptions {
  readonly services: KernelServices;
  readonly registry: ToolRegistry;
  /** Where LLM tokens are counted (the policy engine, which counts them in the cluster's store too). */
  readonly tokens: { addTokens(agentId: string, n: number): void };
  /** Who the host acts as; GATEWAY_CALLER by default. */
  readonly caller?: GatewayCaller;
  /** How the host reached the gateway, for the session's records (default 'stdio'). */
  readonly via?: string;
  /** The rate the caller's calls are held to, asked before each is decided (none: every call is decided). */
  readonly rate?: CallRate;
}

/** McpGateway is one MCP server session over one transport. */
export class McpGateway {
  private readonly server = new McpServer(SERVER_INFO, { capabilities: { tools: {} } });
  private readonly options: McpGatewayOptions;
  private ctx: GatewayContext | undefined;

  constructor(options: McpGatewayOptions) {
    this.options = options;
    const low = this.server.server;
    low.setRequestHandler(ListToolsRequestSchema, () => ({
      // Held tools (a pinned upstream tool whose description changed) are not offered until an operator approves them again.
      tools: options.registry.list().map((t) => ({
        name: t.name,
        description: `${t.description} [risk: ${t.risk}]`,
        inputSchema: { ...t.inputSchema, type: 'object' as const },
      })),
    }));
    low.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
      const name = request.params.name;
      // Every decided call is a record: one past the rate is refused before the dispatcher, and records nothing.
      const refused = options.rate?.refusal(this.caller.agentId);
      if (refused !== undefined) return { isError: true, content: [{ type: 'text', text: `EAGAIN: ${refused}` }] };
      const raw = dispatchRow(options.services, this.context(), EXEC, [name, request.params.arguments ?? null], { cancel: extra.signal });
      let reply = raw;
      while ('later' in reply) reply = await reply.later;
      return toCallResult(reply, options.registry.info(name)?.source);
    });
  }

  private get caller(): GatewayCaller {
    return this.options.caller ?? GATEWAY_CALLER;
  }

  private context(): GatewayContext {
    if (this.ctx === undefined) {
      const client = clientLabel(this.server.server.getClientVersion()?.name);
      this.ctx = gatewayContext(this.options.registry, this.options.tokens, this.caller, client, this.options.rate);
      this.options.services.recorder.record({ type: 'spawn', pid: 0, agentId: this.caller.agentId, detail: `mcp gateway session (${this.options.via ?? 'stdio'}) for client '${client}'` });
    }
    return this.ctx;
  }

  /** connect serves on `transport` until it closes. */
  async connect(transport: Transport): Promise<void> {
    await this.server.connect(transport);
  }

  /** closed resolves when the transport closes. */
  closed(): Promise<void> {
    return new Promise((resolve) => {
      const previous = this.server.server.onclose;
      // The SDK's Protocol offers only the onclose property; the previous handler is chained.
      // oxlint-disable-next-line unicorn/prefer-add-event-listener
      this.server.server.onclose = () => {
        previous?.();
        resolve();
      };
    });
  }

  async close(): Promise<void> {
    if (this.ctx !== undefined) this.options.services.recorder.record({ type: 'exit', pid: 0, agentId: this.caller.agentId, detail: `mcp gateway session (${this.options.via ?? 'stdio'}) closed` });
    await this.server.close();
  }
}
