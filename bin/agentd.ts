#!/usr/bin/env -S node --no-node-snapshot --disable-warning=ExperimentalWarning
/** agentd — the kernel as a service. */
import { Command } from 'commander';
import { outliveConsole } from './closed-console.ts';
import { endOnInternalError } from './last-resort.ts';

outliveConsole();
endOnInternalError('agentd');

const program = new Command('agentd').description('The agent kernel as a service: an HTTP API on loopback, driven by agentctl').showHelpAfterError();

program
  .command('serve', { isDefault: true })
  .description('run the kernel daemon (HTTP API on loopback; every request needs the bearer token)')
  .option('--config <file>', 'configuration (YAML or JSON): listen, state_dir, policy, log, approvals, limits, programs, tools')
  .option('--port <port>', 'port to listen on (0 picks a free one); overrides the config')
  .option('--state-dir <dir>', 'where the token, URL, decision log and checkpoints live (default: AGENTD_STATE_DIR, then the config, then ~/.agent-kernel)')
  .addHelpText('after', '\nExample:\n  $ agentd --config examples/agentd.yaml\n  $ agentctl ps\n')
  .action(async (options: { config?: string; port?: string; stateDir?: string }) => {
    const { serveCommand } = await import('./commands/serve.ts');
    process.exitCode = await serveCommand(options);
  });

program
  .command('mcp')
  .description('serve the governed tool set as an MCP server on stdio (policy, approvals and the recorder apply to every call)')
  .option('--config <file>', 'kernel configuration (YAML): policy, log, tools, mcp_servers')
  .option('--state-dir <dir>', 'where its decision log lives (default: AGENTD_STATE_DIR, then the config, then ~/.agent-kernel)')
  .addHelpText('after', '\nExample (in an MCP host configuration):\n  { "command": "npx", "args": ["agentd", "mcp", "--config", "examples/agentd.yaml"] }\n')
  .action(async (options: { config?: string; stateDir?: string }) => {
    const { mcpGatewayCommand } = await import('./commands/mcp-gateway.ts');
    process.exitCode = await mcpGatewayCommand(options);
  });

await program.parseAsync(process.argv);
