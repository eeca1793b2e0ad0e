#!/usr/bin/env -S node --no-node-snapshot --disable-warning=ExperimentalWarning
/** agentctl — the operator CLI. */
import { Command } from 'commander';
import { runCommand } from './commands/run.ts';

const program = new Command('agentctl').description('Operate the agent kernel').showHelpAfterError();

program
  .command('run')
  .description('run an agent program in an embedded kernel (memfs, no daemon) and exit with its status')
  .argument('<file>', 'agent program, .js or .ts')
  .argument('[args...]', 'arguments for the program (after --)')
  .option('--json', 'print a JSON summary of the exit as the last line of stdout')
  .option('--memory <mib>', 'heap limit of the agent isolate, MiB', undefined)
  .option('--agent <id>', 'agent id (names its VFS tree /agent/<id>)')
  .addHelpText('after', '\nExample:\n  $ agentctl run examples/notes.ts -- "buy milk"\n')
  .action(async (file: string, args: string[], options: { json?: boolean; memory?: string; agent?: string }) => {
    process.exitCode = await runCommand(file, args, options);
  });

await program.parseAsync(process.argv);
