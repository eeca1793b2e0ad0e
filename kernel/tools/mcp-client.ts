/**
 * MCP servers as a tool source. The kernel connects to each server the
 * operator configured, as a client of the official SDK (stdio: the kernel
 * starts the server program; streamable HTTP: a URL), lists its tools and
 * registers each as `mcp.<server>.<tool>` with the server's own input schema.
 * A call is an MCP `tools/call` under the tool's timeout; a result with
 * `isError` is EIO carrying the server's text. The risk level comes from the
 * tool's annotations unless the configuration says otherwise: readOnlyHint →
 * low, destructiveHint → high, anything else medium. When the server says its
 * tool list changed, the kernel lists it again and revises the description
 * and schema of the tools it registered (ToolRegistry.revise: a pinned tool
 * whose description changed is then held until an operator approves it).
 */
import { setTimeout as delay } from 'node:timers/promises';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { KernelError } from '../../abi/errno.ts';
import { cappedFetch } from './capped-fetch.ts';
import { globTest } from '../policy/matchers.ts';
import type { JsonValue } from '../../syscalls/schema.ts';
import type { JsonObject, JsonSchema, Risk, ToolRegistry, ToolSpec } from './registry.ts';

export type McpTransportConfig =
  | { readonly kind: 'stdio'; readonly command: string; readonly args: readonly string[]; readonly env?: Readonly<Record<string, string>>; readonly cwd?: string; readonly stderr?: 'inherit' | 'ignore' }
  | { readonly kind: 'http'; readonly url: string; readonly headers?: Readonly<Record<string, string>> };

export interface McpServerConfig {
  /** Letters, digits, '_' and '-': the `<server>` in `mcp.<server>.<tool>`. */
  readonly name: string;
  readonly transport: McpTransportConfig;
  /** Per call, ms. */
  readonly timeoutMs: number;
  readonly maxOutputBytes: number;
  /** Connecting and listing tools, ms. */
  readonly connectTimeoutMs: number;
  /** Globs on the server's tool names to register (all by default) and to leave out. */
  readonly include?: readonly string[];
  readonly exclude?: readonly string[];
  /** Risk per server tool name, over the annotations. */
  readonly risk?: Readonly<Record<string, Risk>>;
  /** Arguments each server tool executes (the vfs-to-exec guard), by server tool name. */
  readonly executes?: Readonly<Record<string, readonly string[]>>;
}

export const MCP_SERVER_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
const CLIENT_INFO = { name: 'agent-kernel', version: '0.1.0' };

interface ListedTool {
  name: string;
  description?: string;
  inputSchema: JsonSchema;
  annotations?: { readOnlyHint?: boolean; destructiveHint?: boolean };
}

/** The most tools read from one server. */
const MAX_LISTED = 10_000;
/** The least time between two listings of a server's tools after list_changed notifications, ms. */
const RELIST_EVERY_MS = 1000;

/** describe is a server tool's description, or one naming it and its server. */
function describe(tool: ListedTool, server: string): string {
  return tool.description ?? `${tool.name} (MCP server ${server})`;
}

function riskOf(tool: ListedTool, override: Risk | undefined): Risk {
  if (override !== undefined) return override;
  if (tool.annotations?.readOnlyHint === true) return 'low';
  if (tool.annotations?.destructiveHint === true) return 'high';
  return 'medium';
}

/** The most an MCP server's answer to one message may hold (at least twice a tool's output limit), and its longest event. */
const MIN_ANSWER_BYTES = 16 * 1024 * 1024;
const MAX_EVENT_BYTES = MIN_ANSWER_BYTES;

function transportFor(config: McpTransportConfig, maxOutputBytes: number): Transport {
  if (config.kind === 'stdio') {
    return new StdioClientTransport({
      command: config.command,
      args: [...config.args],
      ...(config.env ? { env: { ...config.env } } : {}),
      ...(config.cwd ? { cwd: config.cwd } : {}),
      stderr: config.stderr ?? 'inherit',
    });
  }
  const answers = Math.max(MIN_ANSWER_BYTES, 2 * maxOutputBytes);
  return new StreamableHTTPClientTransport(new URL(config.url), { fetch: cappedFetch(answers, Math.max(MAX_EVENT_BYTES, answers)), ...(config.headers ? { requestInit: { headers: { ...config.headers } } } : {}) });
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** resultText joins the text parts of an MCP result's content, for error messages. */
function resultText(content: unknown): string {
  if (!Array.isArray(content)) return '';
  return content
    .filter((c): c is { type: 'text'; text: string } => c !== null && typeof c === 'object' && (c as { type?: unknown }).type === 'text')
    .map((c) => c.text)
    .join('\n');
}

/**
 * connectMcpServer connects to one server, registers its tools in `registry`
 * (closing the connection with the registry) and returns the registered
 * names. Throws an Error naming the server if it cannot connect or list.
 */
export async function connectMcpServer(config: McpServerConfig, registry: ToolRegistry): Promise<string[]> {
  if (!MCP_SERVER_NAME.test(config.name)) throw new Error(`MCP server name '${config.name}': letters, digits, '_' and '-'`);
  const client = new Client(CLIENT_INFO);
  const listAll = async (): Promise<ListedTool[]> => {
    const listed: ListedTool[] = [];
    let cursor: string | undefined;
    do {
      const page = await client.listTools(cursor ? { cursor } : undefined, { timeout: config.connectTimeoutMs });
      listed.push(...(page.tools as ListedTool[]));
      cursor = page.nextCursor;
    } while (cursor !== undefined && listed.length < MAX_LISTED);
    return listed;
  };
  let listed: ListedTool[];
  try {
    await withTimeout(client.connect(transportFor(config.transport, config.maxOutputBytes)), config.connectTimeoutMs, `connecting to MCP server '${config.name}'`);
    listed = await listAll();
  } catch (err) {
    await client.close().catch(() => undefined);
    throw new Error(`MCP server '${config.name}': ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  registry.onClose(() => client.close());
  const include = config.include ? config.include.map(globTest) : undefined;
  const exclude = (config.exclude ?? []).map(globTest);
  const names: string[] = [];
  for (const tool of listed) {
    if (include !== undefined && !include.some((t) => t(tool.name))) continue;
    if (exclude.some((t) => t(tool.name))) continue;
    const name = `mcp.${config.name}.${tool.name}`;
    const spec: ToolSpec = {
      name,
      description: describe(tool, config.name),
      inputSchema: tool.inputSchema,
      risk: riskOf(tool, config.risk?.[tool.name]),
      timeoutMs: config.timeoutMs,
      maxOutputBytes: config.maxOutputBytes,
      ...(config.executes?.[tool.name] ? { executes: config.executes[tool.name] } : {}),
      source: `mcp:${config.name}`,
      async run(args: JsonObject, call) {
        let result: Awaited<ReturnType<Client['callTool']>>;
        try {
          result = await client.callTool({ name: tool.name, arguments: args as Record<string, unknown> }, undefined, { signal: call.signal, timeout: config.timeoutMs });
        } catch (err) {
          if (call.signal.aborted) throw call.signal.reason;
          throw new KernelError('EIO', `MCP server '${config.name}' failed ${tool.name}: ${err instanceof Error ? err.message : String(err)}`);
        }
        if (result.isError === true) throw new KernelError('EIO', `${name}: ${resultText(result.content).slice(0, 2000) || 'the tool reported an error'}`);
        return {
          content: (result.content ?? []) as JsonValue,
          ...(result.structuredContent !== undefined ? { structuredContent: result.structuredContent as JsonValue } : {}),
        };
      },
    };
    try {
      registry.register(spec);
    } catch (err) {
      // One tool whose schema does not compile is held (listed nowhere, every call EACCES saying why), not the whole server.
      if (!(err instanceof KernelError) || err.errno !== 'EINVAL' || !err.message.includes('input schema does not compile')) throw err;
      registry.register({ ...spec, inputSchema: { type: 'object' } });
      registry.hold(name, err.message);
    }
    names.push(name);
  }
  // One re-listing at a time, at most one a RELIST_EVERY_MS; notifications meanwhile ask for one more after it (a server
  // flooding list_changed had ring 0 list and recompile every schema without pause: stalls of seconds, an attacker pass).
  const known = new Set(names);
  let relisting: Promise<void> | undefined;
  let again = false;
  const relist = async (): Promise<void> => {
    do {
      again = false;
      const started = performance.now();
      const now = await listAll().catch(() => undefined);
      for (const tool of now ?? []) {
        const name = `mcp.${config.name}.${tool.name}`;
        if (known.has(name)) registry.revise(name, { description: describe(tool, config.name), inputSchema: tool.inputSchema });
      }
      if (again) await delay(Math.max(0, RELIST_EVERY_MS - (performance.now() - started)), undefined, { ref: false });
    } while (again);
  };
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
    if (relisting !== undefined) {
      again = true;
      return;
    }
    relisting = relist().finally(() => (relisting = undefined));
  });
  return names;
}
