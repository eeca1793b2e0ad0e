/**
 * `agentd mcp --config FILE`: serve the governed tool set as an MCP server on
 * stdio (see kernel/tools/mcp-gateway.ts). From the configuration file it
 * takes `policy` (the built-in policy, which allows no tool, if absent),
 * `tools` and `mcp_servers`, `approvals.mode` and `log`. Decisions go to the
 * gateway's own hash-chained segment beside the configured log —
 * `decisions.jsonl` → `decisions.mcp-gateway.jsonl` — since two writers on
 * one chain would break it while agentd runs. Approvals: `allow` and `deny`
 * answer at once; `operator` (the default) has no operator to reach from a
 * stdio server, so a call that needs approval is denied at once (approver
 * `no-operator`). Exit 0 when the client closes the connection, 2 when the
 * configuration, policy, log or a tool source cannot be loaded. Nothing but
 * MCP messages is ever written to stdout.
 */
import { mkdirSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { ApprovalGate, fixedApprover, type Approver } from '../../kernel/approvals.ts';
import { PolicyAuthorizer } from '../../kernel/policy/authorizer.ts';
import { defaultPolicy } from '../../kernel/policy/default.ts';
import { PolicyEngine } from '../../kernel/policy/engine.ts';
import { loadPolicyFile, PolicyError } from '../../kernel/policy/load.ts';
import { FileDecisionLog } from '../../kernel/recorder/file-log.ts';
import { ConfigError, loadConfig } from '../../kernel/service/config.ts';
import { buildRegistry, parseToolsConfig, ToolsConfigError } from '../../kernel/tools/config.ts';
import { McpGateway } from '../../kernel/tools/mcp-gateway.ts';
import type { ToolRegistry } from '../../kernel/tools/registry.ts';
import { KernelError } from '../../abi/errno.ts';

/** gatewayLogFile is the gateway's own segment beside the configured decision log. */
export function gatewayLogFile(logFile: string): string {
  const ext = extname(logFile);
  return join(dirname(logFile), `${basename(logFile, ext)}.mcp-gateway${ext || '.jsonl'}`);
}

const noOperator: Approver = () => ({ approved: false, approver: 'no-operator', reason: 'the MCP gateway has no operator to ask (approvals.mode: operator); set approvals.mode or use agentd' });

export async function mcpGatewayCommand(options: { config?: string; stateDir?: string }): Promise<number> {
  let log: FileDecisionLog | undefined;
  let registry: ToolRegistry | undefined;
  let gateway: McpGateway;
  try {
    // As agentd serve: --state-dir, then AGENTD_STATE_DIR, then the config (found by a newcomer pass: the gateway ignored both).
    const config = loadConfig(options.config, { stateDir: options.stateDir ?? process.env.AGENTD_STATE_DIR });
    const file = options.config ?? 'agentd (no --config)';
    const base = options.config === undefined ? process.cwd() : dirname(resolve(options.config));
    const tools = parseToolsConfig({ tools: config.tools, mcp_servers: config.mcpServers }, file, base);
    const engine = new PolicyEngine(config.policyFile === undefined ? defaultPolicy() : loadPolicyFile(config.policyFile));
    const logFile = gatewayLogFile(config.logFile);
    mkdirSync(dirname(logFile), { recursive: true, mode: 0o700 });
    log = new FileDecisionLog(logFile, { durable: config.durable });
    registry = await buildRegistry(tools, { hide: [config.stateDir, config.tokenFile, dirname(logFile), ...(config.secretFiles ?? [])] });
    const approver = config.approvals === 'operator' ? noOperator : fixedApprover(config.approvals === 'allow');
    const services = { authorizer: new PolicyAuthorizer(engine), recorder: log, approvals: new ApprovalGate({ approver }) };
    gateway = new McpGateway({ services, registry, tokens: engine });
  } catch (err) {
    const known = err instanceof ConfigError || err instanceof ToolsConfigError || err instanceof PolicyError || err instanceof KernelError;
    process.stderr.write(`agentd mcp: ${known ? err.message : err instanceof Error ? err.message : String(err)}\n`);
    log?.close();
    await registry?.close();
    return 2;
  }
  const closed = gateway.closed();
  const stdinEnded = new Promise<void>((done) => process.stdin.once('end', done));
  await gateway.connect(new StdioServerTransport());
  await Promise.race([closed, stdinEnded]);
  await gateway.close().catch(() => undefined);
  await registry.close();
  log.close();
  return 0;
}
