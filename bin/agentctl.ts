#!/usr/bin/env -S node --no-node-snapshot --disable-warning=ExperimentalWarning
/** agentctl — the operator CLI. */
import { Command } from 'commander';
import { auditShow, auditVerify } from './commands/audit.ts';
import { policyExplain, policySchema, policyTest, policyValidate } from './commands/policy.ts';
import { runCommand, type RunOptions } from './commands/run.ts';

const program = new Command('agentctl').description('Operate the agent kernel').showHelpAfterError();
const done = (status: number) => {
  process.exitCode = status;
};

program
  .command('run')
  .description('run an agent program in an embedded kernel (memfs, no daemon) and exit with its status')
  .argument('<file>', 'agent program, .js or .ts')
  .argument('[args...]', 'arguments for the program (after --)')
  .option('--policy <file>', 'policy (YAML or JSON); the built-in default confines the agent to its tree')
  .option('--manifest <file>', 'agent manifest (YAML or JSON): id, labels, capabilities')
  .option('--log <file>', 'append hash-chained decision records to this JSONL file')
  .option('--durable', 'fsync each decision record before the action runs (with --log)')
  .option('--approve <mode>', 'require_approval answers: prompt (default on a terminal), deny (default otherwise), allow')
  .option('--json', 'print a JSON summary of the exit as the last line of stdout')
  .option('--memory <mib>', 'heap limit of the agent isolate, MiB')
  .option('--agent <id>', 'agent id (names its VFS tree /agent/<id>)')
  .option('--restore <dir>', 'seed the agent\'s mem/ from a checkpoint directory (one with manifest.json)')
  .option('--state <dir>', 'keep checkpoints in this host directory, so they survive a restart')
  .option('--cpu-ms <ms>', 'CPU time limit of the agent')
  .option('--wall-ms <ms>', 'wall time limit of the agent')
  .option('--grace <ms>', 'how long SIGTERM (Ctrl-C twice, or kill) waits before SIGKILL (default 5000)')
  .addHelpText('after', '\nExample:\n  $ agentctl run examples/notes.ts --policy examples/policies/notes.yaml --log decisions.jsonl -- "buy milk"\n')
  .action(async (file: string, args: string[], options: RunOptions) => done(await runCommand(file, args, options)));

const audit = program.command('audit').description('check and read decision logs');
audit
  .command('verify')
  .description('verify a decision log: finds edited, deleted, inserted and reordered records and a torn tail')
  .argument('<file>', 'JSONL decision log')
  .option('--head <hash>', 'the hash the last record must have (an anchor kept elsewhere)')
  .option('--json', 'print the result as JSON')
  .addHelpText('after', '\nExample:\n  $ agentctl audit verify decisions.jsonl\n')
  .action((file: string, options: { head?: string; json?: boolean }) => done(auditVerify(file, options)));
audit
  .command('show')
  .description('print decision records, filtered')
  .argument('<file>', 'JSONL decision log')
  .option('--agent <id>', 'only this agent')
  .option('--syscall <name>', 'only this syscall, e.g. SYS_OPEN')
  .option('--decision <effect>', 'allow, deny or require_approval')
  .option('--type <type>', 'syscall, spawn, exit, signal or approval')
  .option('--since <time>', 'ISO time or ms since the epoch (inclusive)')
  .option('--until <time>', 'ISO time or ms since the epoch (exclusive)')
  .option('--json', 'one JSON record per line')
  .addHelpText('after', '\nExample:\n  $ agentctl audit show decisions.jsonl --decision deny --agent notes\n')
  .action((file: string, options: Parameters<typeof auditShow>[1]) => done(auditShow(file, options)));

const policy = program.command('policy').description('validate, test and explain policies');
policy
  .command('schema')
  .description('print the JSON Schema of the policy language')
  .addHelpText('after', '\nExample:\n  $ agentctl policy schema > policy.schema.json\n')
  .action(() => done(policySchema()));
policy
  .command('validate')
  .description('check a policy file; errors name the file, line and field')
  .argument('<file>', 'policy file (YAML or JSON)')
  .option('--json', 'print the result as JSON')
  .addHelpText('after', '\nExample:\n  $ agentctl policy validate examples/policies/notes.yaml\n')
  .action((file: string, options: { json?: boolean }) => done(policyValidate(file, options)));
policy
  .command('test')
  .description('run a policy test file: requests with expected decisions')
  .argument('<file>', 'test file (YAML or JSON): { policy: FILE, tests: [{ name, request, expect, rule?, at? }] }')
  .option('--json', 'one JSON result per test')
  .addHelpText('after', '\nExample:\n  $ agentctl policy test examples/policies/notes.test.yaml\n')
  .action((file: string, options: { json?: boolean }) => done(policyTest(file, options)));
policy
  .command('explain')
  .description('show which rules match a request, and why')
  .argument('<file>', 'policy file')
  .option('--request <json>', 'the request: {"agent":"a","syscall":"SYS_OPEN","path":"/agent/a/x","access":"read"}')
  .option('--json', 'print the explanation as JSON')
  .addHelpText('after', '\nExample:\n  $ agentctl policy explain policy.yaml --request \'{"agent":"a","syscall":"SYS_EXEC","tool":"http.fetch"}\'\n')
  .action((file: string, options: { request?: string; json?: boolean }) => done(policyExplain(file, options)));

await program.parseAsync(process.argv);
