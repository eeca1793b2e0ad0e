/**
 * `agentctl replay-run DIR`: run a recorded program again against its tape
 * (kernel/run-tape/replay-run.ts) and say whether it followed the recording.
 * What the program writes goes to stdout and stderr (before a fork, output that
 * differs from the recorded output is a divergence; its children's output comes
 * from the recording); the verdict to stderr, or as one JSON object on stdout
 * with --json.
 *
 * A recording is checked against its seal first (kernel/run-tape/tape-seal.ts):
 * one changed since, or not signed with the key --verify-key names, is bad input;
 * so is, for a signed one, a program at the recorded path that is not the one
 * recorded (unless --program names it).
 *
 * Exit status: 0 the replay followed the recording to its end; 1 it diverged
 * (the first divergence is printed with both sides); 3 it followed, but the
 * candidate policy (--policy) would have stopped it, or could not judge a
 * child's call; 2 bad input. With
 * --fork-at, a run that went live exits with the program's own status.
 */
import { loadPolicyFile, PolicyError } from '../../kernel/policy/load.ts';
import { buildProgramFile } from '../../kernel/program-build.ts';
import type { PolicyStop } from '../../kernel/run-tape/judging.ts';
import { programHash } from '../../kernel/run-tape/record-run.ts';
import { recordedSecrets, replayRun, type ReplayRunResult } from '../../kernel/run-tape/replay-run.ts';
import { SECRET_NAME } from '../../kernel/tools/secrets.ts';
import { printable } from '../../kernel/terminal-text.ts';
import { readTape, type Tape } from '../../kernel/run-tape/tape-read.ts';
import { checkSeal, type SealVerdict, verifyingKey } from '../../kernel/run-tape/tape-seal.ts';
import { buildRegistry, loadToolsConfig, ToolsConfigError } from '../../kernel/tools/config.ts';
import type { ToolRegistry } from '../../kernel/tools/registry.ts';
import { KernelError } from '../../abi/errno.ts';
import { wholeNumber } from './whole-number.ts';

export interface ReplayRunOptions {
  program?: string;
  policy?: string;
  forkAt?: string;
  tools?: string;
  secret?: string[];
  verifyKey?: string;
  json?: boolean;
}

class UsageError extends Error {}

/** what names a stopped call: syscall (and tool), effect, rule. */
function what(s: PolicyStop): string {
  return `${s.syscall}${s.tool !== undefined ? ` ${s.tool}` : ''}: ${s.effect} by ${s.rule}`;
}

/** where says whose call a stop is: the root's call #n, or a child's after it. */
function where(s: PolicyStop): string {
  return s.pid === undefined ? `call #${s.n}` : `a call of child pid ${s.pid} (after call #${s.n})`;
}

/** calls writes a count of calls. */
function calls(n: number): string {
  return n === 1 ? '1 call' : `${n} calls`;
}

function verdict(r: ReplayRunResult, forkAt: number | undefined): string {
  const lines: string[] = [];
  if (forkAt !== undefined && forkAt >= r.recordedCalls) lines.push(`replay-run: --fork-at ${forkAt} is at or past the recording's last call (#${r.recordedCalls}): nothing ran live`);
  if (r.programChanged) lines.push('replay-run: the program differs from the one recorded (its build has another hash)');
  if (r.divergence !== undefined) {
    lines.push(`replay-run: diverged at call #${r.divergence.at} of ${r.recordedCalls}`, `  recorded: ${r.divergence.recorded}`, `  replayed: ${r.divergence.replayed}`);
  } else if (r.forkedAt !== undefined) {
    lines.push(`replay-run: followed the recording to call #${r.forkedAt}, then ran live; ended with status ${r.end.status} (${r.end.reason})`);
  } else {
    lines.push(`replay-run: followed ${r.recordedCalls === 1 ? 'the' : 'all'} ${calls(r.recordedCalls)}; ended with status ${r.end.status} (${r.end.reason}), as recorded`);
  }
  const first = r.stops[0];
  if (first !== undefined) {
    // A child's refused call fails in that child; only one of the program's own stops the run.
    const stopped = first.pid === undefined ? `would have stopped the run at ${where(first)}` : `would have refused ${where(first)}`;
    lines.push(`replay-run: the candidate policy ${stopped}, ${what(first)} (${first.reason})`);
    for (const stop of r.stops.slice(1, 10)) lines.push(`  then ${where(stop)}, ${what(stop)}`);
    if (r.stopped > 10) lines.push(`  and ${r.stopped - 10} more`);
  }
  const unjudged = r.unjudged ?? [];
  if (unjudged.length > 0) lines.push(`replay-run: ${unjudged.length === 1 ? "a child's call" : `${unjudged.length} children's calls`} could not be judged; the first: pid ${unjudged[0]!.pid} ${unjudged[0]!.syscall}: ${unjudged[0]!.why}`);
  // Tool names, syscalls, rules, reasons and ends come from the program and the tape: escaped, a line each.
  return `${lines.map(printable).join('\n')}\n`;
}

/**
 * givenSecrets reads the secrets the operator gives a run that goes live
 * (--secret NAME, each one the recording was granted) from agentctl's
 * environment, as agentctl run reads a manifest's; the recorded secrets not
 * given are said so on stderr (their placeholders go out as plain text). A
 * tape names secrets but grants none: an edited one could name any of this
 * environment's variables.
 */
function givenSecrets(names: readonly string[], recorded: readonly string[]): Map<string, string> {
  const given = new Map<string, string>();
  for (const name of names) {
    if (!recorded.includes(name)) throw new UsageError(`--secret ${SECRET_NAME.test(name) ? name : JSON.stringify(name)}: the recorded run was not granted it${recorded.length === 0 ? ' (it was granted none)' : ` (it was granted ${recorded.join(', ')})`}`);
    const value = Object.hasOwn(process.env, name) ? process.env[name] : undefined;
    if (typeof value !== 'string' || value === '') throw new UsageError(`--secret ${name} is not set in the environment`);
    given.set(name, value);
  }
  const left = recorded.filter((name) => !given.has(name));
  if (left.length > 0) process.stderr.write(`replay-run: the recorded run was granted ${left.join(', ')}; not given (--secret), after the fork ${left.length === 1 ? 'its placeholder goes' : 'their placeholders go'} out as plain text\n`);
  return given;
}

export async function replayRunCommand(dir: string, options: ReplayRunOptions): Promise<number> {
  let tools: ToolRegistry | undefined;
  let result: ReplayRunResult;
  let alive: NodeJS.Timeout | undefined;
  let tape: Tape | undefined;
  let seal: SealVerdict = { sealed: false };
  const forkAt = options.forkAt === undefined ? undefined : (wholeNumber(options.forkAt) ?? -1);
  try {
    if (forkAt !== undefined && forkAt < 0) throw new UsageError('--fork-at must be a call number (0 or more)');
    if (forkAt === undefined && (options.secret ?? []).length > 0) throw new UsageError('--secret is for a run that goes live: give --fork-at too');
    const required = options.verifyKey === undefined ? undefined : verifyingKey(options.verifyKey);
    tape = readTape(dir);
    // Before anything runs: a recording changed since it was sealed, or not signed by the key required, is refused.
    seal = checkSeal(tape, required);
    if (!seal.sealed) process.stderr.write(`replay-run: ${dir} is not sealed (no seal.json: recorded before seals, or it was removed); it is replayed as written\n`);
    const policy = options.policy === undefined ? undefined : loadPolicyFile(options.policy);
    const program = await buildProgramFile(options.program ?? tape.header.program.path);
    // A signature vouches for the recording, which names the program by its build's hash; the file at the recorded path is anyone's who can write there.
    const vouched = required !== undefined || (seal.sealed && seal.signed);
    if (vouched && options.program === undefined && programHash(program) !== tape.header.program.hash) {
      throw new UsageError(`${tape.header.program.path}: not the program that was recorded (its build has another hash); the seal vouches for the recording, not for what is at that path now: give --program FILE to replay another program knowingly`);
    }
    tools = options.tools === undefined ? undefined : await buildRegistry(loadToolsConfig(options.tools), {});
    const secrets = forkAt === undefined ? undefined : givenSecrets(options.secret ?? [], recordedSecrets(tape.header.env));
    // A program idle on a promise (waiting for a signal) keeps the command running, as in agentctl run.
    alive = setInterval(() => {}, 1 << 30);
    result = await replayRun({
      tape,
      program,
      ...(policy !== undefined ? { policy } : {}),
      ...(forkAt !== undefined ? { forkAt } : {}),
      ...(tools !== undefined ? { tools } : {}),
      ...(secrets !== undefined ? { secrets } : {}),
      stdout: (c) => void process.stdout.write(c),
      stderr: (c) => void process.stderr.write(c),
      // As agentctl run: SIGINT and SIGTERM go to the program (a run gone live handles them; before the fork it leaves the recording).
      started: (send) => {
        process.once('SIGINT', () => send('SIGINT'));
        process.once('SIGTERM', () => send('SIGTERM'));
      },
    });
  } catch (err) {
    const known = err instanceof KernelError || err instanceof PolicyError || err instanceof UsageError || err instanceof ToolsConfigError;
    process.stderr.write(`agentctl: ${known ? err.message : String(err)}\n`);
    await tools?.close();
    return 2;
  } finally {
    clearInterval(alive);
    tape?.close();
  }
  await tools?.close();
  // As agentctl run does: an uncaught error's stack (the replayed program's own: it ran again).
  if (result.error !== undefined) process.stderr.write(`${result.error}\n`);
  if (options.json) process.stdout.write(`${JSON.stringify({ ...result, seal })}\n`);
  else process.stderr.write(verdict(result, forkAt));
  if (result.divergence !== undefined) return 1;
  if (result.forkedAt !== undefined) return result.end.status;
  // A child's call the candidate could not judge is not one it lets through: the verdict cannot say the run would pass.
  return result.stops.length > 0 || (result.unjudged?.length ?? 0) > 0 ? 3 : 0;
}
