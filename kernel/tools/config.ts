/**
 * The `tools` and `mcp_servers` sections of the kernel configuration file
 * (YAML or JSON), their schema, and the function that builds a ToolRegistry
 * from them. Paths are relative to the configuration file; stdio MCP servers
 * and commands start in its directory unless `cwd` says otherwise.
 *
 *   tools:
 *     builtin:                         # absent: time.now, tools.list and http.fetch with defaults
 *       time.now: {}
 *       tools.list: {}
 *       http.fetch: { timeout_ms: 10000, max_output_bytes: 1048576, max_request_bytes: 262144,
 *                     allow_addresses: [],  # CIDR ranges it may connect to besides public unicast ones
 *                     model_endpoints: [],  # URL prefixes whose responses' token usage counts against token budgets
 *                     secrets: { OPENAI_API_KEY: [api.openai.com] } }  # the hosts each secret may be sent to
 *       llm.chat: { endpoint: https://api.openai.com/v1, model: gpt-4o-mini, api_key_env: OPENAI_API_KEY,
 *                   models: [], timeout_ms: 60000, max_output_bytes: 262144, max_tokens: 4096 }
 *     commands:                        # host programs; args arrive as JSON on stdin
 *       py.eval: { command: [python3, eval.py], description: …, input_schema: {…}, risk: high,
 *                  timeout_ms: 10000, max_output_bytes: 65536, executes: [code], env: {}, cwd: ., output: text,
 *                  sandbox: { network: false, memory_mib: 2048, cpu_seconds: 10, scratch_mib: 64, read_only: [] } }
 *                  # sandbox: false runs the program unconfined (unsafe); see sandbox.ts
 *   mcp_servers:
 *     memory: { command: npx, args: [-y, "@modelcontextprotocol/server-memory"], env: {…}, stderr: inherit }
 *     remote: { url: http://127.0.0.1:8080/mcp, headers: {…} }
 *     # either kind also takes timeout_ms, max_output_bytes, connect_timeout_ms,
 *     # include / exclude (globs on the server's tool names), risk: { tool: level }, executes: { tool: [arg] }
 */
import { dirname, isAbsolute, resolve } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { parseAddressRange } from './address-ranges.ts';
import { commandTool } from './command-tool.ts';
import { httpFetchTool } from './http-fetch.ts';
import { llmChatTool } from './llm-chat.ts';
import { connectMcpServer, type McpServerConfig } from './mcp-client.ts';
import { TOOLS_CONFIG_SCHEMA, type RawBuiltins, type RawCommand, type RawToolsConfig } from './config-schema.ts';
import { ToolRegistry } from './registry.ts';
import { Sandbox, SANDBOX_DEFAULTS } from './sandbox.ts';
import { sandboxHost, type SandboxHost } from './sandbox-host.ts';
import { timeNowTool } from './time-now.ts';
import { toolsListTool } from './tools-list.ts';
import { MAX_CONFIG_BYTES, readRegularText, withoutFile } from '../regular-file.ts';

export { TOOLS_CONFIG_SCHEMA } from './config-schema.ts';

/** ToolsConfig is the validated `tools` and `mcp_servers` sections, paths resolved. */
export interface ToolsConfig {
  readonly builtin: RawBuiltins;
  readonly commands: Readonly<Record<string, RawCommand>>;
  readonly mcpServers: readonly McpServerConfig[];
  /** The directory relative paths start from. */
  readonly base: string;
  readonly file: string;
}

/** ToolsConfigError says what is wrong: `file: field: problem`. */
export class ToolsConfigError extends Error {
  override readonly name = 'ToolsConfigError';
}

const validate = new Ajv({ strict: false, allErrors: false }).compile<RawToolsConfig>(TOOLS_CONFIG_SCHEMA);

function describe(error: ErrorObject): string {
  const path = error.instancePath.slice(1).split('/').filter(Boolean).join('.');
  const params = error.params as Record<string, unknown>;
  if (error.keyword === 'additionalProperties') return `${path ? `${path}.` : ''}${String(params.additionalProperty)}: is not a known field`;
  if (error.keyword === 'required') return `${path ? `${path}.` : ''}${String(params.missingProperty)}: is required`;
  const badName = (error as ErrorObject & { propertyName?: string }).propertyName;
  if (badName !== undefined) return `${path}: name '${badName}' is not allowed (letters, digits, '_' and '-'${path.startsWith('tools') ? ", '.'" : ''})`;
  if (error.keyword === 'propertyNames') return `${path}: name '${String(params.propertyName)}' is not allowed (letters, digits, '_' and '-'${path.startsWith('tools') ? ", '.'" : ''})`;
  if (error.keyword === 'oneOf' || error.keyword === 'not') return `${path}: give either command (and args, env, cwd, stderr) for a stdio server, or url (and headers) for streamable HTTP`;
  if (error.keyword === 'enum') return `${path}: must be one of ${(params.allowedValues as unknown[]).join(', ')}`;
  return `${path || 'config'}: ${error.message ?? 'is invalid'}`;
}

const DEFAULT_MCP = { timeoutMs: 30_000, maxOutputBytes: 1024 * 1024, connectTimeoutMs: 20_000 };
const DEFAULT_COMMAND = { timeoutMs: 30_000, maxOutputBytes: 1024 * 1024 };

function resolveFrom(base: string, path: string): string {
  return isAbsolute(path) ? path : resolve(base, path);
}

/** A command path with a slash is relative to the configuration; a bare name is looked up on PATH. */
function programPath(base: string, command: string): string {
  return command.includes('/') ? resolveFrom(base, command) : command;
}

/**
 * parseToolsConfig validates the two sections of an already parsed
 * configuration document. `file` names it in errors; `base` is the directory
 * relative paths start from. ToolsConfigError on any problem.
 */
export function parseToolsConfig(data: unknown, file: string, base: string = dirname(resolve(file))): ToolsConfig {
  const doc = data === null || data === undefined ? {} : data;
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ToolsConfigError(`${file}: the configuration must be a mapping`);
  const sections = { tools: (doc as RawToolsConfig).tools, mcp_servers: (doc as RawToolsConfig).mcp_servers };
  for (const key of Object.keys(sections) as (keyof typeof sections)[]) if (sections[key] === undefined) delete sections[key];
  if (!validate(sections)) {
    // A server that is neither kind fails both branches of the oneOf; say that, not the first branch's complaint.
    const errors = validate.errors!;
    throw new ToolsConfigError(`${file}: ${describe(errors.find((e) => e.keyword === 'oneOf') ?? errors[0]!)}`);
  }
  const mcpServers = Object.entries(sections.mcp_servers ?? {}).map(([name, s]): McpServerConfig => ({
    name,
    transport:
      s.url !== undefined
        ? { kind: 'http', url: s.url, ...(s.headers ? { headers: s.headers } : {}) }
        : { kind: 'stdio', command: programPath(base, s.command!), args: s.args ?? [], ...(s.env ? { env: s.env } : {}), cwd: resolveFrom(base, s.cwd ?? '.'), ...(s.stderr ? { stderr: s.stderr } : {}) },
    timeoutMs: s.timeout_ms ?? DEFAULT_MCP.timeoutMs,
    maxOutputBytes: s.max_output_bytes ?? DEFAULT_MCP.maxOutputBytes,
    connectTimeoutMs: s.connect_timeout_ms ?? DEFAULT_MCP.connectTimeoutMs,
    ...(s.include ? { include: s.include } : {}),
    ...(s.exclude ? { exclude: s.exclude } : {}),
    ...(s.risk ? { risk: s.risk } : {}),
    ...(s.executes ? { executes: s.executes } : {}),
  }));
  const builtin = sections.tools?.builtin ?? { 'time.now': {}, 'tools.list': {}, 'http.fetch': {} };
  (builtin['http.fetch']?.allow_addresses ?? []).forEach((range, i) => {
    try {
      parseAddressRange(range);
    } catch (err) {
      throw new ToolsConfigError(`${file}: tools.builtin.http.fetch.allow_addresses[${i}]: ${(err as Error).message}`);
    }
  });
  const llm = builtin['llm.chat'];
  if (llm?.api_key_env !== undefined && llm.api_key !== undefined) throw new ToolsConfigError(`${file}: tools.builtin.llm.chat: give api_key_env or api_key, not both`);
  return { builtin, commands: sections.tools?.commands ?? {}, mcpServers, base, file };
}

/** loadToolsConfig reads a configuration file and returns its `tools` and `mcp_servers` sections (other sections are not looked at). */
export function loadToolsConfig(file: string): ToolsConfig {
  let data: unknown;
  try {
    data = parseYaml(readRegularText(file, MAX_CONFIG_BYTES, 'configuration'));
  } catch (err) {
    throw new ToolsConfigError(`${file}: ${err instanceof Error ? withoutFile(err.message.split('\n')[0]!, file) : String(err)}`);
  }
  return parseToolsConfig(data, file);
}

export interface BuildOptions {
  readonly clock?: () => number;
  /** Host paths no command tool may see: the kernel's state dir, token file, decision log. The configuration file is always added. */
  readonly hide?: readonly string[];
}

/** commandSandbox checks command `name`'s sandbox (ToolsConfigError naming the field), or returns `unconfined` for `sandbox: false`. */
function commandSandbox(config: ToolsConfig, name: string, c: RawCommand, command: string[], cwd: string, hide: readonly string[]): Sandbox | 'unconfined' {
  if (c.sandbox === false) return 'unconfined';
  const s = typeof c.sandbox === 'object' ? c.sandbox : {};
  const settings = {
    network: s.network ?? SANDBOX_DEFAULTS.network,
    memoryMib: s.memory_mib ?? SANDBOX_DEFAULTS.memoryMib,
    cpuSeconds: s.cpu_seconds ?? SANDBOX_DEFAULTS.cpuSeconds,
    scratchMib: s.scratch_mib ?? SANDBOX_DEFAULTS.scratchMib,
    readOnly: (s.read_only ?? []).map((p) => resolveFrom(config.base, p)),
  };
  let host: SandboxHost;
  try {
    host = sandboxHost();
  } catch (err) {
    throw new ToolsConfigError(`${config.file}: tools.commands.${name}.sandbox: ${(err as Error).message}`);
  }
  try {
    return Sandbox.prepare({ host, command, cwd, ...(c.env ? { env: c.env } : {}), settings, hide: [...hide, resolve(config.file)] });
  } catch (err) {
    throw new ToolsConfigError(`${config.file}: tools.commands.${name}.${(err as Error).message}`);
  }
}

/**
 * buildRegistry registers the configured built-ins and commands and connects
 * to every MCP server (in parallel). If anything fails, what was started is
 * closed and a ToolsConfigError names the tool or server. Command tools run
 * sandboxed unless they say `sandbox: false`; without bubblewrap that is a
 * ToolsConfigError naming it.
 */
export async function buildRegistry(config: ToolsConfig, options: BuildOptions = {}): Promise<ToolRegistry> {
  const registry = new ToolRegistry();
  const where = config.file;
  try {
    const b = config.builtin;
    if (b['time.now'] !== undefined) registry.register(timeNowTool(options.clock));
    if (b['tools.list'] !== undefined) registry.register(toolsListTool(registry));
    if (b['http.fetch'] !== undefined) {
      const h = b['http.fetch'] ?? {};
      registry.register(httpFetchTool({ timeoutMs: h.timeout_ms, maxOutputBytes: h.max_output_bytes, maxRequestBytes: h.max_request_bytes, allowAddresses: h.allow_addresses, modelEndpoints: h.model_endpoints, secrets: h.secrets, ambiguousPaths: h.ambiguous_paths }));
    }
    const llm = b['llm.chat'];
    if (llm !== undefined) {
      let apiKey = llm.api_key;
      if (llm.api_key_env !== undefined) {
        apiKey = process.env[llm.api_key_env];
        if (apiKey === undefined || apiKey === '') throw new ToolsConfigError(`${where}: tools.builtin.llm.chat.api_key_env: environment variable ${llm.api_key_env} is not set`);
      }
      registry.register(
        llmChatTool({ endpoint: llm.endpoint, model: llm.model, models: llm.models, apiKey, timeoutMs: llm.timeout_ms, maxOutputBytes: llm.max_output_bytes, maxTokens: llm.max_tokens }),
      );
    }
    for (const [name, c] of Object.entries(config.commands)) {
      const command = [programPath(config.base, c.command[0]!), ...c.command.slice(1)];
      const cwd = resolveFrom(config.base, c.cwd ?? '.');
      registry.register(
        commandTool({
          name,
          description: c.description,
          command,
          inputSchema: c.input_schema ?? { type: 'object' },
          risk: c.risk ?? 'high',
          timeoutMs: c.timeout_ms ?? DEFAULT_COMMAND.timeoutMs,
          maxOutputBytes: c.max_output_bytes ?? DEFAULT_COMMAND.maxOutputBytes,
          ...(c.max_concurrent !== undefined ? { maxConcurrent: c.max_concurrent } : {}),
          ...(c.executes ? { executes: c.executes } : {}),
          ...(c.env ? { env: c.env } : {}),
          cwd,
          ...(c.output ? { output: c.output } : {}),
          sandbox: commandSandbox(config, name, c, command, cwd, options.hide ?? []),
        }),
      );
    }
    const results = await Promise.allSettled(config.mcpServers.map((s) => connectMcpServer(s, registry)));
    const failed = results.findIndex((r) => r.status === 'rejected');
    if (failed >= 0) {
      const reason = (results[failed] as PromiseRejectedResult).reason as Error;
      const cause = reason.cause instanceof Error ? reason.cause.message : reason.message;
      throw new ToolsConfigError(`${where}: mcp_servers.${config.mcpServers[failed]!.name}: ${cause}`);
    }
  } catch (err) {
    await registry.close();
    if (err instanceof ToolsConfigError) throw err;
    throw new ToolsConfigError(`${where}: ${err instanceof Error ? err.message : String(err)}`);
  }
  return registry;
}

let shared: ToolRegistry | undefined;

/**
 * defaultRegistry holds the built-ins that need no configuration: time.now,
 * tools.list and http.fetch. They keep no state, so without a clock one
 * registry is shared (kernels are made often; schemas compile once).
 */
export function defaultRegistry(options: { clock?: () => number } = {}): ToolRegistry {
  if (options.clock === undefined && shared !== undefined) return shared;
  const registry = new ToolRegistry();
  if (options.clock === undefined) shared = registry;
  registry.register(timeNowTool(options.clock));
  registry.register(toolsListTool(registry));
  registry.register(httpFetchTool());
  return options.clock === undefined ? registry.seal() : registry;
}
