#!/usr/bin/env -S node --no-node-snapshot --disable-warning=ExperimentalWarning
/** agentd — the kernel as a service. */
import { Command } from 'commander';

const program = new Command('agentd').description('The agent kernel as a service').showHelpAfterError();

program
  .command('mcp')
  .description('serve the governed tool set as an MCP server on stdio (policy, approvals and the recorder apply to every call)')
  .option('--config <file>', 'kernel configuration (YAML): policy, log, tools, mcp_servers')
  .addHelpText('after', '\nExample (in an MCP host configuration):\n  { "command": "npx", "args": ["agentd", "mcp", "--config", "agentd.yaml"] }\n')
  .action(async (options: { config?: string }) => {
    const { mcpGatewayCommand } = await import('./commands/mcp-gateway.ts');
    process.exitCode = await mcpGatewayCommand(options);
  });

await program.parseAsync(process.argv);
