#!/usr/bin/env -S node --disable-warning=ExperimentalWarning
/** agentctl — the operator CLI. */
import './snapshot-flag.ts';
import './compile-cache.ts';
import { Command, CommanderError, Option } from 'commander';
import { createRequire } from 'node:module';
import type { Effect } from '../abi/kinds.ts';
import type { DecisionInput } from '../syscalls/records.ts';
import { LIMIT_NAMES } from '../kernel/limits.ts';
import { endWhenStdoutCloses } from './closed-console.ts';
import { endOnInternalError } from './last-resort.ts';
import type { auditShow } from './commands/audit.ts';
import type { ConnectOptions } from './commands/remote.ts';
import type { ReplayOptions } from './commands/replay.ts';
import type { ReplayRunOptions } from './commands/replay-run.ts';
import type { ExperimentOptions } from './commands/experiment.ts';
import type { RunOptions } from './commands/run.ts';

// Each command loads its module when it runs: `agentctl ps` does not pay for
// the kernel, isolated-vm and the policy compiler that `agentctl run` loads.
const daemon = () => import('./commands/remote.ts');
const audits = () => import('./commands/audit.ts');
const policies = () => import('./commands/policy.ts');
const analyses = () => import('./commands/policy-analysis.ts');

// A closed stdout ends agentctl quietly, status 0; `agentctl run` runs isolates, so it ends by SIGPIPE (see closed-console.ts).
endWhenStdoutCloses('agentctl', process.argv[2] === 'run' ? 'sigpipe' : 'exit');
endOnInternalError('agentctl');

// The values --decision and --type accept; `satisfies Record<...>` fails to compile when a kind is added and not listed here.
const DECISIONS = Object.keys({ allow: 0, deny: 0, require_approval: 0 } satisfies Record<Effect, 0>);
const RECORD_TYPES = Object.keys({ syscall: 0, spawn: 0, exit: 0, signal: 0, approval: 0, checkpoint: 0, policy: 0, auth: 0, limit: 0, log: 0, outcome: 0, contract: 0, shadow: 0 } satisfies Record<DecisionInput['type'], 0>);
const decisionOption = () => new Option('--decision <effect>', 'only records with this decision').choices(DECISIONS);

// The package's own package.json, by its name: found from bin/ in the repository and from dist/bin/ in the installed package alike.
const { version } = createRequire(import.meta.url)('agent-kernel/package.json') as { version: string };

// exitOverride: a usage error exits 2 (below), as a bad file does; 1 is a verdict for several commands (a counterexample, FAILED, changed).
const program = new Command('agentctl')
  .description('Operate the agent kernel')
  .version(version, '-V, --version', 'print the version of agentctl')
  .showHelpAfterError()
  .exitOverride()
  .addHelpText('after', '\nExamples:\n  $ agentctl run examples/hello.ts -- Ada\n  $ agentctl spawn examples/tour.ts --agent notes -- "buy milk"\n  $ agentctl ps\n  $ agentctl COMMAND --help     (each command\'s options, with an example)\n');
const done = async (status: number | Promise<number>) => {
  process.exitCode = await status;
};

program
  .command('run')
  .description('run an agent program in an embedded kernel (memfs, no daemon) and exit with its status')
  .argument('<file>', 'agent program, .js or .ts')
  .argument('[args...]', 'arguments for the program (after --)')
  .option('--policy <file>', 'policy (YAML or JSON); the built-in default confines the agent to its tree')
  .option('--manifest <file>', "agent manifest (YAML or JSON): id, labels, capabilities, autonomy, env and secrets (names of agentctl's environment variables it may see; secrets only as placeholders)")
  .option('--tools <file>', 'kernel configuration whose tools and mcp_servers sections give SYS_EXEC its tools (default: time.now, tools.list, http.fetch)')
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
  .option('--limit <name=value>', `set a kernel limit, above the default too (repeatable): ${LIMIT_NAMES.join(', ')}`, (v: string, all: string[] = []) => [...all, v])
  .option('--grace <ms>', "how long the agent may take to end after SIGTERM (agentctl passes on the SIGTERM it gets, e.g. from kill) before SIGKILL (default 5000); Ctrl-C passes SIGINT")
  .option('--record <dir>', 'keep every syscall\'s result, the clock, randomness, completions, signals and output in this new directory, for agentctl replay-run')
  .option('--seal-key <file>', 'sign the recording\'s seal (DIR/seal.json) with this Ed25519 private key (PEM; openssl genpkey -algorithm ed25519 -out KEY.pem)')
  .addHelpText('after', '\nExample:\n  $ agentctl run examples/notes.ts --policy examples/policies/notes.yaml --log decisions.jsonl -- "buy milk"\n')
  .action(async (file: string, args: string[], options: RunOptions) => done((await import('./commands/run.ts')).runCommand(file, args, options)));

/** connected adds the options every command that talks to agentd takes. */
function connected(command: Command, example: string): Command {
  return command
    .option('--url <url>', 'agentd URL (default: AGENTD_URL, then the URL agentd wrote in its state dir, then http://127.0.0.1:7070)')
    .option('--token <token>', 'bearer token (default: AGENTD_TOKEN, then the token file in the state dir)')
    .option('--state-dir <dir>', "agentd's state dir (default: AGENTD_STATE_DIR or ~/.agent-kernel)")
    .option('--json', 'machine-readable output')
    .addHelpText('after', `\nExample:\n  $ ${example}\n`);
}
type Conn = ConnectOptions;

connected(program.command('ps').description('list processes (through a cluster node: every node\'s, with a NODE column)'), 'agentctl ps --json').action(async (o: Conn) => done((await daemon()).ps(o)));
connected(program.command('nodes').description('the cluster as this agentd sees it: Redis health and every node, alive, silent or dead (with when last seen)'), 'agentctl nodes').action(async (o: Conn) =>
  done((await import('./commands/cluster.ts')).nodes(o)),
);
/** The --selector and --all options of the commands that signal by labels. */
type Selecting = { selector?: string[]; all?: boolean };
const selecting = (command: Command) =>
  command
    .option('--selector <label=value,...>', 'every live process whose labels all match, on every node (repeatable)', (v: string, all: string[] = []) => [...all, v])
    .option('--all', 'every live process, on every node');

connected(
  selecting(
    program
      .command('kill')
      .description('send a signal to processes: kill -STOP 42, kill -4 42 43 (SIGKILL), kill -s SIGUSR1 42; a whole agent: kill -KILL --tree 42; the fleet kill switch: kill -KILL --selector team=finance, kill -KILL --all')
      .argument('<signal-or-pid>')
      .argument('[pids...]')
      .option('-s, --signal <signal>', 'signal name or number')
      .option('--tree', "every live process of each pid's tree: its root and all it spawned (killing a parent alone leaves its children running)"),
  ).allowUnknownOption(),
  'agentctl kill -SIGTERM 42',
).action((first: string, rest: string[], o: Conn & Selecting & { signal?: string; tree?: boolean }) => {
  const [signal, pids] = o.signal !== undefined ? [o.signal, [first, ...rest]] : first.startsWith('-') ? [first.slice(1), rest] : ['SIGTERM', [first, ...rest]];
  if (o.selector !== undefined || o.all === true) return done(daemon().then((d) => d.killMatching(o, signal, o.selector, o.all, pids, o.tree === true)));
  return done(daemon().then((d) => d.kill(o, signal, pids, o.tree === true)));
});
connected(selecting(program.command('freeze').description('SIGSTOP every live process the selector matches, on every node: each one\'s next syscall waits for thaw')), 'agentctl freeze --selector team=finance').action(async (o: Conn & Selecting) =>
  done((await daemon()).killMatching(o, 'SIGSTOP', o.selector, o.all, [])),
);
connected(selecting(program.command('thaw').description('SIGCONT every live process the selector matches, on every node')), 'agentctl thaw --selector team=finance').action(async (o: Conn & Selecting) =>
  done((await daemon()).killMatching(o, 'SIGCONT', o.selector, o.all, [])),
);
connected(program.command('stop').description('SIGSTOP: the next syscall of each process waits for cont').argument('<pids...>'), 'agentctl stop 42').action(async (pids: string[], o: Conn) => done((await daemon()).kill(o, 'SIGSTOP', pids)));
connected(program.command('cont').description('SIGCONT: resume stopped processes').argument('<pids...>'), 'agentctl cont 42').action(async (pids: string[], o: Conn) => done((await daemon()).kill(o, 'SIGCONT', pids)));
connected(
  program
    .command('spawn')
    .description('start a program on agentd')
    .argument('<file>')
    .argument('[args...]')
    .option('--manifest <file>', 'manifest (YAML or JSON): id, labels, capabilities, autonomy')
    .option('--agent <id>', "the agent's id (the manifest's id wins)"),
  'agentctl spawn examples/tour.ts --agent notes -- "buy milk"',
).action(async (file: string, args: string[], o: Conn & { manifest?: string; agent?: string }) => done((await daemon()).spawn(o, file, args, o.manifest, o.agent)));
connected(
  program
    .command('autonomy')
    .description("show an agent's autonomy level, or set it: full (the policy decides), supervised (its changes need an approval), observe (it may only read); recorded")
    .argument('<agent>', 'agent id')
    .argument('[level]', 'full, supervised or observe'),
  'agentctl autonomy notes supervised',
).action(async (agent: string, level: string | undefined, o: Conn) => done((await daemon()).autonomy(o, agent, level)));
connected(program.command('output').description("print what a process wrote to stdout and stderr (the last 64 KiB)").argument('<pid>'), 'agentctl output 42').action(async (pid: string, o: Conn) => done((await daemon()).output(o, pid)));
connected(program.command('approvals').description('list pending approvals'), 'agentctl approvals').action(async (o: Conn) => done((await daemon()).approvals(o)));
connected(program.command('approve').description('approve a pending request').argument('<id>').option('--reason <text>').option('--as <name>', 'a display name, recorded after the principal: "operator (as NAME)"'), 'agentctl approve ap-3 --reason "looked fine"').action(
  async (id: string, o: Conn & { reason?: string; as?: string }) => done((await daemon()).answer(o, id, true, o.reason, o.as)),
);
connected(program.command('deny').description('deny a pending request').argument('<id>').option('--reason <text>').option('--as <name>', 'a display name, recorded after the principal: "operator (as NAME)"'), 'agentctl deny ap-3 --reason "not today"').action(
  async (id: string, o: Conn & { reason?: string; as?: string }) => done((await daemon()).answer(o, id, false, o.reason, o.as)),
);
connected(
  program.command('logs').description('decision records from agentd; -f follows live').option('-f, --follow', 'follow new records (server-sent events)').option('--agent <id>').addOption(decisionOption()).option('--syscall <name>').option('--limit <n>', 'last N records (default 100)').option('--after <seq>', 'the first records after this sequence number (page forward, or resume a follower)'),
  'agentctl logs -f --decision deny',
).action(async (o: Conn & { follow?: boolean; agent?: string; decision?: string; syscall?: string; limit?: string; after?: string }) => done((await daemon()).logs(o)));
connected(program.command('checkpoint').description("checkpoint a process's agent memory").argument('<pid>'), 'agentctl checkpoint 42').action(async (pid: string, o: Conn) => done((await daemon()).checkpoint(o, pid)));
const principal = program.command('principal').description('agent credentials: tokens bound to one agent id, for agents outside the kernel (operator only)');
const principals = () => import('./commands/principals.ts');
const collect = (value: string, previous: string[]) => [...previous, value];
connected(
  principal
    .command('create')
    .description('create an agent credential; its token is printed this once (agentd keeps only its hash)')
    .requiredOption('--agent <id>', 'the agent id the credential acts as')
    .option('--label <key=value>', 'a label the credential carries (repeatable)', collect, [])
    .option('--capability <capability>', 'a capability the credential holds (repeatable)', collect, [])
    .option('--name <name>', 'the credential\'s name (default: the agent id)')
    .option('--token-only', 'print only the token, to hand to the agent: AGENT_TOKEN=$(agentctl principal create ... --token-only)'),
  'agentctl principal create --agent report-bot --label team=finance --capability tool:email',
).action(async (o: Conn & { agent: string; label: string[]; capability: string[]; name?: string; tokenOnly?: boolean }) => done((await principals()).create(o)));
connected(principal.command('ls').alias('list').description('list agent credentials (never their tokens)'), 'agentctl principal ls --json').action(async (o: Conn) => done((await principals()).list(o)));
connected(principal.command('revoke').description('revoke an agent credential: its token is refused from the next request on').argument('<name>'), 'agentctl principal revoke report-bot').action(
  async (name: string, o: Conn) => done((await principals()).revoke(o, name)),
);
const tool = program.command('tools').description("agentd's tools and the pins of upstream MCP tools (operator only)");
const tools = () => import('./commands/tools.ts');
connected(tool.command('ls', { isDefault: true }).alias('list').description('list the tools: name, source, risk, pin (pinned, or HELD: its description changed since it was approved)'), 'agentctl tools ls').action(async (o: Conn) => done((await tools()).list(o)));
connected(tool.command('approve').description('pin what a held upstream tool says now and offer it again (recorded)').argument('<name>').option('--as <name>', 'a display name, recorded after the principal'), 'agentctl tools approve mcp.memory.create_entities').action(
  async (name: string, o: Conn & { as?: string }) => done((await tools()).approve(o, name)),
);
const vfs = program.command('vfs').description("look into a process's agent tree");
connected(vfs.command('ls').argument('<pid>').argument('[path]', 'relative to /agent/<id>'), 'agentctl vfs ls 42 mem/episodic').action(async (pid: string, path: string | undefined, o: Conn) => done((await daemon()).vfsLs(o, pid, path)));
connected(vfs.command('cat').argument('<pid>').argument('<path>'), 'agentctl vfs cat 42 mem/working/todo.txt').action(async (pid: string, path: string, o: Conn) => done((await daemon()).vfsCat(o, pid, path)));
connected(program.command('top').description('live view of processes, syscall rates and pending approvals').option('--once', 'print one frame and exit').option('--interval <ms>', 'refresh period (default 1000)'), 'agentctl top').action(
  async (o: Conn & { once?: boolean; interval?: string }) => done((await import('./commands/top.ts')).top(o)),
);

const audit = program.command('audit').description('check and read decision logs');
connected(
  audit
    .command('verify')
    .description("verify a decision log file, every node's decision stream in Redis (--redis), or agentd's log when neither is given: finds edited, deleted, inserted and reordered records, gaps and a torn tail")
    .argument('[file]', 'JSONL decision log')
    .option('--head <hash>', 'the hash the last record must have (an anchor kept elsewhere)')
    .option('--pubkey <file>', "Ed25519 public key (PEM) the log's anchors must verify with, e.g. agentd's <state_dir>/anchor.pub: catches a log rewritten with recomputed hashes")
    .option('--redis <url>', "verify the decision streams of every node in this Redis (redis://host:port)")
    .option('--prefix <prefix>', "the cluster's key prefix, with --redis (default agentk)"),
  'agentctl audit verify decisions.jsonl --pubkey ~/.agent-kernel/anchor.pub\n  $ agentctl audit verify --redis redis://127.0.0.1:6379 --prefix agentk',
).action(async (file: string | undefined, options: Conn & { head?: string; pubkey?: string; redis?: string; prefix?: string }) =>
  done(
    options.redis !== undefined
      ? (await audits()).auditVerifyRedis(options.redis, options)
      : file === undefined
        ? (await daemon()).auditVerifyRemote(options)
        : (await audits()).auditVerify(file, options),
  ),
);
audit
  .command('show')
  .description('print decision records, filtered')
  .argument('<file>', 'JSONL decision log')
  .option('--agent <id>', 'only this agent')
  .option('--syscall <name>', 'only this syscall, e.g. SYS_OPEN')
  .addOption(decisionOption())
  .addOption(new Option('--type <type>', 'only records of this type').choices(RECORD_TYPES))
  .option('--since <time>', 'ISO time or ms since the epoch (inclusive)')
  .option('--until <time>', 'ISO time or ms since the epoch (exclusive)')
  .option('--json', 'one JSON record per line')
  .addHelpText('after', '\nExample:\n  $ agentctl audit show decisions.jsonl --decision deny --agent notes\n')
  .action(async (file: string, options: Parameters<typeof auditShow>[1]) => done((await audits()).auditShow(file, options)));

program
  .command('replay')
  .description('re-decide every request of a decision log (a file, or the decision streams in Redis) under a candidate policy, with limits, rates and budgets re-counted at the recorded times: what would change')
  .argument('[log]', 'JSONL decision log (with its segments)')
  .requiredOption('--policy <file>', 'the candidate policy (YAML or JSON)')
  .option('--redis <url>', 'replay the decision streams in this Redis instead (every node, merged in time order)')
  .option('--prefix <prefix>', "the cluster's key prefix, with --redis (default agentk)")
  .option('--node <id>', "only this node's stream, with --redis")
  .option('--show <n>', 'how many changed (and undecidable) records to list (default 20)')
  .option('--verify', 'verify the chain (every hash) before replaying; a log that does not verify is refused')
  .option('--fail-on-change', 'exit 1 when any decision changes or cannot be re-decided (for CI)')
  .option('--json', 'the summary as one JSON object')
  .addHelpText('after', '\nExample:\n  $ agentctl replay decisions.jsonl --policy candidate.yaml --fail-on-change\n')
  .action(async (log: string | undefined, options: ReplayOptions) => done((await import('./commands/replay.ts')).replayCommand(log, options)));

program
  .command('replay-run')
  .description('run a recorded program (agentctl run --record DIR) again, feeding it the recorded results: its output again, byte for byte, or the first call where it leaves the recording')
  .argument('<dir>', 'the directory agentctl run --record wrote')
  .option('--program <file>', 'replay this program instead of the recorded one (an edited agent: where does it first behave otherwise?)')
  .option('--policy <file>', 'a candidate policy: every call the program made is put to it (with its limits, at the recorded times; its children\'s calls are not recorded); where it would have stopped the run is listed; after --fork-at it is in force')
  .option('--fork-at <n>', 'follow the recording up to call N, then run live (real tools, fetches, time)')
  .option('--tools <file>', 'kernel configuration with the tools a run gone live may use (default: time.now, tools.list, http.fetch)')
  .option('--verify-key <file>', 'replay only a recording whose seal is signed with this Ed25519 key (PEM, public or private): a tape from someone else, unedited')
  .option('--secret <name>', 'after --fork-at, give the program this secret the recording was granted, its value from this environment as agentctl run reads it (repeatable; none is given unless named)', collect, [])
  .option('--json', 'the verdict as one JSON object, the last line of stdout')
  .addHelpText('after', '\nExit status: 0 followed to the end, 1 diverged, 3 followed but the candidate policy would have stopped it, 2 bad input; after a fork, the program\'s own.\n\nExample:\n  $ agentctl run --record runs/1 examples/notes.ts -- "buy milk"\n  $ agentctl replay-run runs/1 --policy candidate.yaml\n')
  .action(async (dir: string, options: ReplayRunOptions) => done((await import('./commands/replay-run.ts')).replayRunCommand(dir, options)));

const experiment = program.command('experiment').description('run experiments: programs × policies × repetitions, each run recorded');
experiment
  .command('run')
  .description('run every program of an experiment under every policy, repeatedly, in parallel, each run recorded; write results.jsonl and a self-contained report.html')
  .argument('<file>', 'the experiment (YAML): name, programs, adversarial, policies, repetitions, parallel, args, manifest, tools, limits')
  .requiredOption('--out <dir>', 'a new folder for the results, the report and each run\'s recording')
  .option('--json', 'the summary as one JSON object')
  .addHelpText('after', '\nExample:\n  $ agentctl experiment run examples/experiments/notes.yaml --out experiments/notes\n')
  .action(async (file: string, options: ExperimentOptions) => done((await import('./commands/experiment.ts')).experimentRunCommand(file, options)));

const policy = program.command('policy').description('validate, test and explain policies; get and set the policy of agentd');
connected(policy.command('get').description('print the policy agentd enforces'), 'agentctl policy get').action(async (o: Conn) => done((await daemon()).policyGet(o)));
connected(policy.command('set').description('replace the policy of agentd (hot reload; an invalid policy is refused and the old one stays)').argument('<file>'), 'agentctl policy set policy.yaml').action(async (file: string, o: Conn) => done((await daemon()).policySet(o, file)),
);
const shadow = policy.command('shadow').description('a shadow policy beside the one in force: every decision is also made under it and each disagreement recorded, changing nothing');
connected(shadow.command('set').description('set the shadow policy (an invalid one is refused: exit 2)').argument('<file>'), 'agentctl policy shadow set candidate.yaml').action(async (file: string, o: Conn) => done((await daemon()).shadowSet(o, file)));
connected(shadow.command('get').description('print the shadow policy, with how many decisions it made and how many differ'), 'agentctl policy shadow get').action(async (o: Conn) => done((await daemon()).shadowGet(o)));
connected(shadow.command('diff').description('how the shadow decides otherwise: counts by direction and rules, the latest disagreements'), 'agentctl policy shadow diff').action(async (o: Conn) => done((await daemon()).shadowDiff(o)));
connected(shadow.command('promote').description('make the shadow the policy in force (the normal hot reload, recorded) and clear it'), 'agentctl policy shadow promote').action(async (o: Conn) => done((await daemon()).shadowPromote(o)));
connected(shadow.command('clear').description('clear the shadow policy'), 'agentctl policy shadow clear').action(async (o: Conn) => done((await daemon()).shadowClear(o)));
policy
  .command('schema')
  .description('print the JSON Schema of the policy language')
  .addHelpText('after', '\nExample:\n  $ agentctl policy schema > policy.schema.json\n')
  .action(async () => done((await policies()).policySchema()));
policy
  .command('validate')
  .description('check a policy file; errors name the file, line and field')
  .argument('<file>', 'policy file (YAML or JSON)')
  .option('--json', 'print the result as JSON')
  .addHelpText('after', '\nExample:\n  $ agentctl policy validate examples/policies/notes.yaml\n')
  .action(async (file: string, options: { json?: boolean }) => done((await policies()).policyValidate(file, options)));
policy
  .command('test')
  .description('run a policy test file: requests with expected decisions')
  .argument('<file>', 'test file (YAML or JSON): { policy: FILE, tests: [{ name, request, expect, rule?, at? }] }')
  .option('--json', 'one JSON result per test')
  .addHelpText('after', '\nExample:\n  $ agentctl policy test examples/policies/notes.test.yaml\n')
  .action(async (file: string, options: { json?: boolean }) => done((await policies()).policyTest(file, options)));
policy
  .command('explain')
  .description('show which rules match a request, and why')
  .argument('<file>', 'policy file')
  .option('--request <json>', 'the request: {"agent":"a","syscall":"SYS_OPEN","path":"/agent/a/x","access":"read"}')
  .option('--json', 'print the explanation as JSON')
  .addHelpText('after', '\nExample:\n  $ agentctl policy explain policy.yaml --request \'{"agent":"a","syscall":"SYS_EXEC","tool":"http.fetch"}\'\n')
  .action(async (file: string, options: { request?: string; json?: boolean }) => done((await policies()).policyExplain(file, options)));

policy
  .command('analyze')
  .description('find dead rules (no request matches), shadowed rules (another always decides first) and conflicting allow/deny pairs, with the z3 solver; each witness is decided by the engine')
  .argument('<file>', 'policy file')
  .option('--show <n>', 'how many of each finding to print', '20')
  .option('--json', 'print the report as JSON')
  .addHelpText('after', '\nExit status: 0 nothing dead or shadowed, 1 some, 2 the policy cannot be read, 3 the solver could not answer a question.\nExample:\n  $ agentctl policy analyze examples/policies/notes.yaml\n')
  .action(async (file: string, options: { show?: string; json?: boolean }) => done((await analyses()).policyAnalyze(file, options)));
policy
  .command('diff')
  .description('list the classes of requests two policies decide differently (the deciding rule under each), each with a witness both engines decided')
  .argument('<a>', 'the policy in force')
  .argument('<b>', 'the candidate')
  .option('--max <n>', 'stop after this many classes', '50')
  .option('--show <n>', 'how many classes to print', '20')
  .option('--json', 'print the report as JSON')
  .addHelpText('after', '\nExit status: 0 the same decisions, 1 some differ, 2 a policy cannot be read, 3 the solver could not answer.\nExample:\n  $ agentctl policy diff examples/policies/notes.yaml candidate.yaml\n')
  .action(async (a: string, b: string, options: { max?: string; show?: string; json?: boolean }) => done((await analyses()).policyDiff(a, b, options)));
policy
  .command('prove')
  .description('prove a claim about a policy, or find a counterexample the engine confirms: (always|never) EFFECT [or EFFECT] [when CONDITION and …]')
  .argument('<file>', 'policy file')
  .argument('<claim>', 'e.g. \'never allow when label tier = untrusted and access = write and path ~ "/shared/**"\'')
  .option('--json', 'print the report as JSON')
  .addHelpText(
    'after',
    '\nConditions: syscall = NAME | syscall in [A, B] | access = read|write|none | agent|tool|path OP VALUE | label KEY OP VALUE | arg NAME OP VALUE\n            | capability NAME | lineage = root|child | flow vfs-to-exec | trust|tokens (<|<=|>|>=) N, each may start with `not`;\n            OP is = (exact), ~ (glob) or contains.\nExit status: 0 proved, 1 counterexample, 2 the claim or policy cannot be read, 3 unknown.\nExample:\n  $ agentctl policy prove policy.yaml \'always deny when syscall = SYS_EXEC and tool = http.fetch and not arg url ~ "https://*.example.com/**"\'\n',
  )
  .action(async (file: string, claim: string, options: { json?: boolean }) => done((await analyses()).policyProve(file, claim, options)));

try {
  await program.parseAsync(process.argv);
} catch (err) {
  // Commander has printed what was wrong (and the help); help and --version asked for are 0.
  if (!(err instanceof CommanderError)) throw err;
  process.exitCode = err.exitCode === 0 ? 0 : 2;
}
