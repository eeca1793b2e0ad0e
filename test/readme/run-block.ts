/**
 * Running a README shell block as written, under the decision the test
 * made for it: each command in one bash session from the repository root,
 * with agentd's state in a scratch directory (AGENTD_STATE_DIR), its exit
 * status checked, and what its comment says it prints checked against what
 * it printed. A block is either run or skipped with a reason; a command's
 * comment is either `prints: TEXT` (checked as written) or known to the
 * decision, so a README that changes fails here until someone looks.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ShellBlock, ShellCommand } from './shell-blocks.ts';
import { ShellSession, type BackgroundStep, type Step } from './shell-session.ts';
import { until as waitUntil } from '../until.ts';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));

/** How long a command that reports what happens on its own time is re-run before it fails. */
const SETTLE_MS = 20_000;

/** What the test does with one command of a run block (keyed by the command as written). */
export interface LineDecision {
  /** The README's comment on the command, as written; required when it has one that is not `prints: …`. */
  readonly says?: string;
  /** Parts of `says` the command prints, in this order (runs of blanks compare equal). */
  readonly prints?: readonly string[];
  /** The exit status it ends with when that is not 0, and why. */
  readonly status?: { readonly is: number; readonly why: string };
  /** Why the command is re-run until its checks hold: what it reports comes about on its own time. */
  readonly settles?: string;
  /** A command that runs until someone acts: started as a job, `meanwhile` acts, then it must end. */
  readonly waitsFor?: { readonly why: string; meanwhile(job: BackgroundStep, block: BlockContext): Promise<void> };
  /** Files it writes into the repository root (its cwd), removed after the block unless they were there before. */
  readonly leaves?: readonly string[];
  /** Checks beyond status and output, after the command ran: what its comment claims otherwise. */
  check?(step: Step, block: BlockContext): void | Promise<void>;
}

/** A block the test runs. `block` is one of its commands, as written, and names it. */
export interface RunDecision {
  readonly block: string;
  /** What the README leaves to the reader before this block (e.g. an agentd to talk to), and why. */
  readonly before?: { readonly why: string; run(block: BlockContext): Promise<void> };
  readonly lines?: Readonly<Record<string, LineDecision>>;
}

/** A block the test does not run, and why. */
export interface SkipDecision {
  readonly block: string;
  readonly skip: string;
}

export type BlockDecision = RunDecision | SkipDecision;

/** What a decision's checks can use while its block runs. */
export interface BlockContext {
  /** Where agentd keeps its state (AGENTD_STATE_DIR of every command). */
  readonly stateDir: string;
  /** run runs a command of the test's own (not the README's) in the block's shell; it must end with 0. */
  run(command: string): Promise<Step>;
  /** start starts a command of the test's own as a job of the block's shell. */
  start(command: string): Promise<BackgroundStep>;
  /** The step of an earlier command of the block, by its text as written. */
  step(command: string): Step;
  /** until polls `condition` until it holds; fails naming `what` after `ms`. */
  until(condition: () => boolean | Promise<boolean>, what: string, ms?: number): Promise<void>;
}

/** BlockFailure is a README command that did not do what it says. */
export class BlockFailure extends Error {
  override readonly name = 'BlockFailure';
}

/** normalize folds runs of blanks to one space, for comparing what a comment shows with what a command printed. */
function normalize(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** blockName is how failures name a block: its line and first command. */
export function blockName(block: ShellBlock): string {
  const first = block.commands[0]?.command.split('\n')[0] ?? 'no command';
  return `README.md:${block.line} (${block.heading === '' ? '' : `${block.heading}: `}${first})`;
}

/**
 * decisionsFor pairs every block with the one decision naming it (a command
 * it contains), and lists as problems every block without a decision or with
 * two, and every decision that names no block.
 */
export function decisionsFor(blocks: readonly ShellBlock[], decisions: readonly BlockDecision[]): { paired: Map<ShellBlock, BlockDecision>; problems: string[] } {
  const problems: string[] = [];
  const paired = new Map<ShellBlock, BlockDecision>();
  for (const block of blocks) {
    const mine = decisions.filter((d) => block.commands.some((c) => c.command === d.block));
    if (mine.length === 0) problems.push(`${blockName(block)} has no decision: run it or list it as skipped with a reason`);
    else if (mine.length > 1) problems.push(`${blockName(block)} has ${mine.length} decisions`);
    else paired.set(block, mine[0]!);
  }
  for (const d of decisions) {
    if (!blocks.some((b) => b.commands.some((c) => c.command === d.block))) problems.push(`no README block has the command ${JSON.stringify(d.block)} (a stale decision)`);
  }
  return { paired, problems };
}

/** The environment of a block's shell: Node 24 first on PATH, agentd's state in `stateDir`, nothing that points agentctl elsewhere. */
function environment(stateDir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`, AGENTD_STATE_DIR: stateDir, npm_config_update_notifier: 'false' };
  for (const name of ['AGENTD_URL', 'AGENTD_TOKEN', 'AGENT_TOKEN', 'FORCE_COLOR', 'NODE_OPTIONS']) delete env[name];
  return env;
}

function describeStep(command: ShellCommand | string, step: Step | undefined): string {
  const where = typeof command === 'string' ? `(the test's own command) ${command}` : `README.md:${command.line}: ${command.command}`;
  if (step === undefined) return where;
  return `${where}\n  status: ${step.status}\n  stdout: ${JSON.stringify(step.stdout)}\n  stderr: ${JSON.stringify(step.stderr)}`;
}

/** commentProblem holds a command's comment against its decision: `prints: …` is the decision itself; anything else must be known. */
function commentProblem(command: ShellCommand, decision: LineDecision): string | undefined {
  const at = `README.md:${command.line}: ${command.command}`;
  if (command.comment === undefined || command.comment.startsWith('prints: ')) {
    return decision.says === undefined ? undefined : `${at}: the test knows the comment "${decision.says}", the README has ${command.comment === undefined ? 'none' : `"# ${command.comment}"`}`;
  }
  if (decision.says !== command.comment) {
    return `${at}: its comment "# ${command.comment}" is ${decision.says === undefined ? 'not known to the test' : `not the one the test knows ("${decision.says}")`}: decide what it claims and check that`;
  }
  for (const part of decision.prints ?? []) {
    if (!normalize(decision.says).includes(normalize(part))) return `${at}: the test checks for "${part}", which the comment does not say`;
  }
  return undefined;
}

/** outputProblem checks what a command printed against its comment and decision; undefined when it holds. */
function outputProblem(command: ShellCommand, decision: LineDecision, step: Step): string | undefined {
  const status = decision.status?.is ?? 0;
  if (step.status !== status) return `exit status ${step.status}, expected ${status}`;
  const printed = command.comment?.startsWith('prints: ') ? command.comment.slice('prints: '.length) : undefined;
  if (printed !== undefined && normalize(step.stdout) !== normalize(printed)) return `it prints ${JSON.stringify(step.stdout)}, the README says ${JSON.stringify(printed)}`;
  let from = 0;
  const out = normalize(step.stdout);
  for (const part of decision.prints ?? []) {
    const at = out.indexOf(normalize(part), from);
    if (at < 0) return `it does not print "${part}"${from > 0 ? ' after what came before it' : ''}, as its comment says`;
    from = at + normalize(part).length;
  }
  return undefined;
}

/**
 * runBlock runs `block`'s commands under `decision` in a fresh shell from
 * the repository root and a scratch agentd state dir; BlockFailure names the
 * first command that does not do what the README and the decision say.
 */
export async function runBlock(block: ShellBlock, decision: RunDecision): Promise<void> {
  const lines = decision.lines ?? {};
  const known = new Set(block.commands.map((c) => c.command));
  const stale = Object.keys(lines).filter((k) => !known.has(k));
  if (stale.length > 0) throw new BlockFailure(`${blockName(block)}: the decision has lines the block no longer has: ${stale.map((s) => JSON.stringify(s)).join(', ')}`);
  const problems = block.commands.map((c) => commentProblem(c, lines[c.command] ?? {})).filter((p) => p !== undefined);
  if (problems.length > 0) throw new BlockFailure(problems.join('\n'));

  const scratch = mkdtempSync(join(tmpdir(), 'readme-block-'));
  const stateDir = join(scratch, 'state');
  const session = new ShellSession({ cwd: REPO, env: environment(stateDir), dir: join(scratch, 'steps') });
  const steps = new Map<string, Step>();
  const leftBehind = block.commands.flatMap((c) => lines[c.command]?.leaves ?? []).map((f) => join(REPO, f)).filter((f) => !existsSync(f));
  // The shared wait (test/until.ts); its timeout fails the block, not the test runner.
  const until: BlockContext['until'] = (condition, what, ms = SETTLE_MS) =>
    waitUntil(condition, what, ms).catch((err: unknown) => {
      throw new BlockFailure(err instanceof Error ? err.message : String(err));
    });
  const context: BlockContext = {
    stateDir,
    until,
    async run(command) {
      const step = await session.run(command);
      if (step.status !== 0) throw new BlockFailure(`${blockName(block)}: ${describeStep(command, step)}`);
      return step;
    },
    start: (command) => session.start(command),
    step(command) {
      const step = steps.get(command);
      if (step === undefined) throw new Error(`no step ran ${command}`);
      return step;
    },
  };
  try {
    try {
      await decision.before?.run(context);
    } catch (err) {
      throw new BlockFailure(`${blockName(block)}: before it (${decision.before?.why}): ${err instanceof Error ? err.message : String(err)}${session.log()}`, { cause: err });
    }
    for (const command of block.commands) {
      const line = lines[command.command] ?? {};
      let step: Step | undefined;
      try {
        if (line.waitsFor !== undefined) {
          const job = await session.start(command.command);
          await line.waitsFor.meanwhile(job, context);
          step = await job.wait();
        } else {
          step = await session.run(command.command);
        }
        let problem = outputProblem(command, line, step);
        if (problem !== undefined && line.settles !== undefined) {
          const deadline = Date.now() + SETTLE_MS;
          while (problem !== undefined && Date.now() < deadline) {
            await new Promise((r) => setTimeout(r, 200));
            step = await session.run(command.command);
            problem = outputProblem(command, line, step);
          }
        }
        if (problem !== undefined) throw new BlockFailure(problem);
        steps.set(command.command, step);
        await line.check?.(step, context);
      } catch (err) {
        const why = err instanceof Error ? err.message : String(err);
        throw new BlockFailure(`${blockName(block)}\n${describeStep(command, step)}\n${why}${session.log()}`, { cause: err });
      }
    }
  } finally {
    await session.close();
    for (const file of leftBehind) rmSync(file, { recursive: true, force: true });
    rmSync(scratch, { recursive: true, force: true });
  }
}
