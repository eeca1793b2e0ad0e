/**
 * replayRun runs a recorded program again against its tape (DIR): a fresh
 * embedded kernel (memfs, as `agentctl run`), the policy that was in force,
 * the recorded argv, environment and identity, and a Player at the root
 * process's boundary. Output is what the program writes (checked against the
 * recording until the fork: output the recording does not have is a
 * divergence), and what its children wrote, from the tape. With a candidate policy every call before the fork is
 * also put to it (counting its limits, at the recorded times), and the calls
 * it would not have let through are listed; after the fork it is the policy
 * in force.
 */
import { judge } from '../../syscalls/dispatch.ts';
import { MemoryDecisionLog } from '../decision-log.ts';
import { Kernel } from '../kernel.ts';
import type { SpawnOptions } from '../kernel-options.ts';
import { PolicyAuthorizer } from '../policy/authorizer.ts';
import { PolicyEngine } from '../policy/engine.ts';
import { parsePolicy, type LoadedPolicy } from '../policy/load.ts';
import { InputError, questionOf, type RecordedQuestion } from '../recorder/policy-input.ts';
import { argNamesOf, readsWithheld, redecide } from '../replay/redecide.ts';
import type { Decision, SyscallContext } from '../../syscalls/context.ts';
import { isAutonomy } from '../autonomy.ts';
import type { LimitRequest } from '../limits.ts';
import type { ExitRecord } from '../process.ts';
import type { Program } from '../program.ts';
import type { ToolRegistry } from '../tools/registry.ts';
import { isPlaceholderFor } from '../tools/secrets.ts';
import { parseSignal, type SignalName } from '../../signals/signal-table.ts';
import { POLICY_FILE, type DecisionEvent, type EndEvent, type TapeHeader } from './events.ts';
import { describeEvent, type Divergence } from './divergence.ts';
import type { CandidateJudge, PolicyStop, Unjudged } from './judging.ts';
import { Player } from './player.ts';
import { endOf, programHash } from './record-run.ts';
import type { Tape } from './tape-read.ts';
import { join } from 'node:path';

export interface ReplayRunOptions {
  readonly tape: Tape;
  /** The program to run (built from the recorded path, or another the caller chose). */
  readonly program: Program;
  /** A candidate policy: judges every call before the fork, and is in force after it. */
  readonly policy?: LoadedPolicy;
  /** Go live after this call (1-based); never if absent. */
  readonly forkAt?: number;
  /** Tools for a run gone live (the kernel's defaults if absent). */
  readonly tools?: ToolRegistry;
  readonly stdout: (chunk: Uint8Array) => void;
  readonly stderr: (chunk: Uint8Array) => void;
  /** started hands the caller a way to signal the replayed process (an operator's Ctrl-C, once it runs live). */
  readonly started?: (send: (signal: SignalName) => void) => void;
  /**
   * The secrets the recorded run was granted that the operator gives again
   * (name → value; agentctl reads them from its environment, as agentctl run
   * does), for a run that goes live: after the fork http.fetch substitutes
   * them. Any other stays its placeholder, as plain text. A tape names
   * secrets but grants none: only the operator does.
   */
  readonly secrets?: ReadonlyMap<string, string>;
}

export interface ReplayRunResult {
  /** Calls the recording holds, and calls the replay made. */
  readonly recordedCalls: number;
  readonly calls: number;
  /** The program built differs from the one recorded. */
  readonly programChanged: boolean;
  readonly divergence?: Divergence;
  /** Calls the candidate would not have let through, the root's and its children's, in order (the first is where the run would have stopped). */
  readonly stops: readonly PolicyStop[];
  /** How many stops there were in all (`stops` keeps the first 1,000). */
  readonly stopped: number;
  /** Children's calls the candidate could not judge, the first few (the root's are judged from their own arguments). */
  readonly unjudged?: readonly Unjudged[];
  readonly forkedAt?: number;
  readonly recordedEnd: { readonly status: number; readonly reason: string };
  readonly end: { readonly status: number; readonly reason: string };
  /** The replayed program's uncaught error, as agentctl run prints it. */
  readonly error?: string;
}

/** sameEnd: two runs ended alike — the same status, and the same way (an exit; the same uncaught error's first line; the same signal). */
function sameEnd(a: EndEvent, b: EndEvent): boolean {
  if (a.status !== b.status || (a.signal ?? '') !== (b.signal ?? '')) return false;
  return a.signal !== undefined || a.reason === b.reason;
}

/**
 * judgeRecorded asks `engine` (the candidate's, counting with the root's
 * calls) the question a child's call was asked, as the tape keeps it: its
 * decision, or why it cannot be judged (a rule reads an argument the record
 * kept only as a digest; a question the record does not hold whole).
 */
function judgeRecorded(engine: PolicyEngine, argNames: ReadonlySet<string>, event: DecisionEvent): Decision | { readonly unjudged: string } {
  let question: RecordedQuestion;
  try {
    question = questionOf(event, (list) => new Set(list));
  } catch (err) {
    if (err instanceof InputError) return { unjudged: `the recorded question's ${err.message}` };
    throw err;
  }
  const { request, withheld, unnamed } = question;
  const unread = withheld.length === 0 && unnamed === 0 ? undefined : readsWithheld(engine.policy, argNames, request, withheld, unnamed > 0);
  if (unread !== undefined) return { unjudged: unread };
  return redecide(engine, request, event.rule);
}

/**
 * candidateJudge asks `policy` about the recorded calls: one engine counts
 * the root's and the children's calls, at the times the recorded kernel
 * decided them, with the trust and tokens the agent had then (its recorded
 * decisions say) and its recorded autonomy level. What the candidate's
 * circuit breakers, trust floor and post-conditions would have done is not
 * judged (they depend on what the calls did under it).
 */
function candidateJudge(policy: LoadedPolicy, header: TapeHeader, ctx: SyscallContext): CandidateJudge {
  let now = 0;
  const trust = new Map<string, number>();
  const engine = new PolicyEngine(policy, () => now);
  const level = isAutonomy(header.manifest.autonomy) ? header.manifest.autonomy : 'full';
  const authorizer = new PolicyAuthorizer(engine, { trust: (agentId) => trust.get(agentId) ?? 1000, autonomy: () => level });
  const argNames = argNamesOf(policy);
  const observe = (event: DecisionEvent): void => {
    trust.set(event.agent, typeof event.req.trust === 'number' ? event.req.trust : 1000);
    engine.counters.setTokens(event.agent, typeof event.req.tokens === 'number' ? event.req.tokens : 0);
  };
  return {
    judge: (nr, args, at) => {
      now = at;
      const decision = judge(authorizer, ctx, nr, args);
      return decision instanceof Promise ? undefined : decision;
    },
    judgeChild: (event) => {
      now = event.t;
      observe(event);
      return judgeRecorded(engine, argNames, event);
    },
    observe,
  };
}

/** recordedSecrets names the secrets the recorded run was granted: the environment entries (named as variables are) holding a placeholder for their own name. */
export function recordedSecrets(env: Readonly<Record<string, string>>): string[] {
  return Object.keys(env).filter((name) => isPlaceholderFor(name, env[name]!));
}

/**
 * rebound is what a replay that goes live spawns with: the recorded
 * environment without the secrets it can give again, and those secrets with
 * their recorded placeholders (the program sees the environment it saw, in
 * its order, and http.fetch substitutes the values after the fork).
 */
function rebound(env: Readonly<Record<string, string>>, given: ReadonlyMap<string, string>): Pick<SpawnOptions, 'env' | 'secrets' | 'secretPlaceholders'> {
  // Entries, not assignments: a recorded name may be '__proto__'.
  const names = recordedSecrets(env).filter((name) => (given.get(name) ?? '') !== '');
  return {
    env: Object.fromEntries(Object.entries(env).filter(([name]) => !names.includes(name))),
    secrets: Object.fromEntries(names.map((name) => [name, given.get(name)!])),
    secretPlaceholders: Object.fromEntries(names.map((name) => [name, env[name]!])),
  };
}

/** replayRun replays `options.tape`; it resolves when the replayed process has ended. */
export async function replayRun(options: ReplayRunOptions): Promise<ReplayRunResult> {
  const { tape, program } = options;
  const header = tape.header;
  const recorded = parsePolicy(tape.policySource, join(tape.dir, POLICY_FILE));
  const forkAt = options.forkAt ?? Number.POSITIVE_INFINITY;
  let live = false;
  // Before the fork a live call the recording shows done was approved then, if it was asked: approved again. After it, questions are denied.
  // The recorded limits (the kernel's options raise them above its defaults, as agentctl run --limit did); before the fork the
  // syscall rate and kernel-time share do not pace the replay (its pace is not the recorded one: a refusal the recording shows is fed).
  const limits = header.limits as LimitRequest;
  const kernel = new Kernel({
    policy: recorded,
    recorder: new MemoryDecisionLog(),
    approver: () => ({ approved: !live, approver: live ? 'replay-run' : 'the recording', reason: live ? 'a replay gone live answers no questions' : 'done in the recorded run' }),
    limits,
    ...(limits.heapMib !== undefined ? { memoryLimitMib: limits.heapMib } : {}),
    ...(options.tools ? { tools: options.tools } : {}),
  });
  let player: Player | undefined;
  let pid = 0;
  const end = (signal: string, why: string) => {
    const proc = kernel.find(pid);
    const name = parseSignal(signal);
    if (proc !== undefined && proc.exit === undefined && name !== undefined) kernel.die(proc, name, why);
  };
  const spawn: SpawnOptions = {
    argv: header.argv,
    ...(options.forkAt !== undefined && options.secrets !== undefined ? rebound(header.env, options.secrets) : { env: header.env }),
    ...(header.agentId !== undefined ? { agentId: header.agentId } : {}),
    manifest: header.manifest as SpawnOptions['manifest'],
    // The program's own output: the player writes it, checked against the recording until the fork.
    stdout: (chunk) => player?.wrote(1, chunk),
    stderr: (chunk) => player?.wrote(2, chunk),
    tape: (taped) => {
      player = new Player(tape, forkAt, {
        fdKind: (fd) => taped.fds.kindOf(fd),
        reserve: (fd) => taped.fds.reserve(fd),
        release: (fd) => void taped.fds.close(fd),
        output: (fd, bytes) => (fd === 1 ? options.stdout : options.stderr)(bytes),
        ...(options.policy === undefined ? {} : { candidate: candidateJudge(options.policy, header, taped.ctx) }),
        diverged: (d) => setImmediate(() => end('SIGKILL', `the replay left the recording at call #${d.at}`)),
        forked: () => {
          live = true;
          const proc = kernel.find(pid);
          if (proc !== undefined) proc.lineage.paced = true;
          if (options.policy !== undefined) kernel.replacePolicy(options.policy);
        },
        // At once: a kill the recorded run had during a call ends the replay before ring 3 sees that call's reply, as the kernel's did.
        signal: (name) => end(name, 'as in the recorded run'),
      });
      return player;
    },
  };
  let record: ExitRecord;
  try {
    const proc = kernel.spawn(program, spawn);
    pid = proc.pid;
    // Its first call comes once the program starts, on a later turn: not paced until the fork.
    if (!live) proc.lineage.paced = false;
    options.started?.((signal) => {
      try {
        kernel.kill(pid, signal, 'operator');
      } catch {
        // already ended
      }
    });
    record = await kernel.wait(pid);
  } finally {
    await kernel.shutdown();
  }
  const tapeChanged = player?.close();
  const p = player!;
  const ended = endOf(record);
  // readTape refuses a tape that does not end with its end.
  const recordedEnd = tape.end;
  const recEnd = { status: recordedEnd.status, reason: recordedEnd.reason };
  p.endedAs(describeEvent(ended));
  if (p.divergence === undefined && !p.wentLive && !sameEnd(recordedEnd, ended)) p.endedDifferently(describeEvent(recordedEnd), describeEvent(ended));
  // What was followed must be the tape that was checked: one changed meanwhile is a divergence, whatever the replay made of it.
  if (tapeChanged !== undefined && p.divergence === undefined) p.endedDifferently('the recording as it was checked', tapeChanged);
  return {
    recordedCalls: tape.calls,
    calls: p.made,
    programChanged: programHash(program) !== header.program.hash,
    ...(p.divergence !== undefined ? { divergence: p.divergence } : {}),
    stops: p.judging.stops,
    stopped: p.judging.stopped,
    ...(p.judging.unjudged.length > 0 ? { unjudged: p.judging.unjudged } : {}),
    ...(p.wentLive ? { forkedAt: forkAt } : {}),
    recordedEnd: recEnd,
    end: { status: ended.status, reason: ended.reason },
    ...(record.reason.kind === 'error' ? { error: record.reason.error } : {}),
  };
}
