#!/usr/bin/env -S node --no-node-snapshot --disable-warning=ExperimentalWarning
/** agentctl — the operator CLI. */
import { Command } from 'commander';
import { auditShow, auditVerify } from './commands/audit.ts';
import { policyExplain, policySchema, policyTest, policyValidate } from './commands/policy.ts';
import * as daemon from './commands/remote.ts';
import { runCommand, type RunOptions } from './commands/run.ts';
import { top } from './commands/top.ts';

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

/** connected adds the options every command that talks to agentd takes. */
function connected(command: Command, example: string): Command {
  return command
    .option('--url <url>', 'agentd URL (default: AGENTD_URL, then the URL agentd wrote in its state dir, then http://127.0.0.1:7070)')
    .option('--token <token>', 'bearer token (default: AGENTD_TOKEN, then the token file in the state dir)')
    .option('--state-dir <dir>', "agentd's state dir (default: AGENTD_STATE_DIR or ~/.agent-kernel)")
    .option('--json', 'machine-readable output')
    .addHelpText('after', `\nExample:\n  $ ${example}\n`);
}
type Conn = daemon.ConnectOptions;

connected(program.command('ps').description('list processes'), 'agentctl ps --json').action((o: Conn) => daemon.ps(o).then(done));
connected(
  program.command('kill').description('send a signal to processes: kill -STOP 42, kill -9 42 43, kill -s SIGUSR1 42').argument('<signal-or-pid>').argument('[pids...]').option('-s, --signal <signal>', 'signal name or number'),
  'agentctl kill -SIGTERM 42',
).action((first: string, rest: string[], o: Conn & { signal?: string }) => {
  const [signal, pids] = o.signal !== undefined ? [o.signal, [first, ...rest]] : first.startsWith('-') ? [first.slice(1), rest] : ['SIGTERM', [first, ...rest]];
  return daemon.kill(o, signal, pids).then(done);
});
connected(program.command('stop').description('SIGSTOP: the next syscall of each process waits for cont').argument('<pids...>'), 'agentctl stop 42').action((pids: string[], o: Conn) => daemon.kill(o, 'SIGSTOP', pids).then(done));
connected(program.command('cont').description('SIGCONT: resume stopped processes').argument('<pids...>'), 'agentctl cont 42').action((pids: string[], o: Conn) => daemon.kill(o, 'SIGCONT', pids).then(done));
connected(
  program.command('spawn').description('start a program on agentd').argument('<file>').argument('[args...]').option('--manifest <file>', 'manifest (YAML or JSON): id, labels, capabilities'),
  'agentctl spawn examples/notes.ts --manifest notes.manifest.yaml -- "buy milk"',
).action((file: string, args: string[], o: Conn & { manifest?: string }) => daemon.spawn(o, file, args, o.manifest).then(done));
connected(program.command('output').description("print what a process wrote to stdout and stderr (the last 64 KiB)").argument('<pid>'), 'agentctl output 42').action((pid: string, o: Conn) => daemon.output(o, pid).then(done));
connected(program.command('approvals').description('list pending approvals'), 'agentctl approvals').action((o: Conn) => daemon.approvals(o).then(done));
connected(program.command('approve').description('approve a pending request').argument('<id>').option('--reason <text>').option('--as <approver>', 'approver name to record (default operator)'), 'agentctl approve ap-3 --reason "looked fine"').action(
  (id: string, o: Conn & { reason?: string; as?: string }) => daemon.answer(o, id, true, o.reason, o.as).then(done),
);
connected(program.command('deny').description('deny a pending request').argument('<id>').option('--reason <text>').option('--as <approver>', 'approver name to record (default operator)'), 'agentctl deny ap-3 --reason "not today"').action(
  (id: string, o: Conn & { reason?: string; as?: string }) => daemon.answer(o, id, false, o.reason, o.as).then(done),
);
connected(
  program.command('logs').description('decision records from agentd; -f follows live').option('-f, --follow', 'follow new records (server-sent events)').option('--agent <id>').option('--decision <effect>').option('--syscall <name>').option('--limit <n>', 'last N records (default 100)'),
  'agentctl logs -f --decision deny',
).action((o: Conn & { follow?: boolean; agent?: string; decision?: string; syscall?: string; limit?: string }) => daemon.logs(o).then(done));
connected(program.command('checkpoint').description("checkpoint a process's agent memory").argument('<pid>'), 'agentctl checkpoint 42').action((pid: string, o: Conn) => daemon.checkpoint(o, pid).then(done));
const vfs = program.command('vfs').description("look into a process's agent tree");
connected(vfs.command('ls').argument('<pid>').argument('[path]', 'relative to /agent/<id>'), 'agentctl vfs ls 42 mem/episodic').action((pid: string, path: string | undefined, o: Conn) => daemon.vfsLs(o, pid, path).then(done));
connected(vfs.command('cat').argument('<pid>').argument('<path>'), 'agentctl vfs cat 42 mem/working/todo.txt').action((pid: string, path: string, o: Conn) => daemon.vfsCat(o, pid, path).then(done));
connected(program.command('top').description('live view of processes, syscall rates and pending approvals').option('--once', 'print one frame and exit').option('--interval <ms>', 'refresh period (default 1000)'), 'agentctl top').action(
  (o: Conn & { once?: boolean; interval?: string }) => top(o).then(done),
);

const audit = program.command('audit').description('check and read decision logs');
connected(
  audit
    .command('verify')
    .description("verify a decision log file, or agentd's log when no file is given: finds edited, deleted, inserted and reordered records and a torn tail")
    .argument('[file]', 'JSONL decision log')
    .option('--head <hash>', 'the hash the last record must have (an anchor kept elsewhere)'),
  'agentctl audit verify decisions.jsonl',
).action((file: string | undefined, options: Conn & { head?: string }) => (file === undefined ? daemon.auditVerifyRemote(options).then(done) : done(auditVerify(file, options))));
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

const policy = program.command('policy').description('validate, test and explain policies; get and set the policy of agentd');
connected(policy.command('get').description('print the policy agentd enforces'), 'agentctl policy get').action((o: Conn) => daemon.policyGet(o).then(done));
connected(policy.command('set').description('replace the policy of agentd (hot reload; an invalid policy is refused and the old one stays)').argument('<file>'), 'agentctl policy set policy.yaml').action((file: string, o: Conn) =>
  daemon.policySet(o, file).then(done),
);
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
