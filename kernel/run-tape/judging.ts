/**
 * What a replay's candidate policy (`agentctl replay-run --policy`) would
 * not have let through, before the fork: each of the root's recorded calls,
 * judged from its own arguments at the time the recorded kernel decided it,
 * and each decision the policy made on a child's call, judged from the
 * question the tape keeps (a child is not run again). Kept in the
 * recording's order; the first is where the run would have stopped.
 */
import type { Decision } from '../../syscalls/context.ts';
import { SYSCALL_NUMBERS, syscallName } from '../../syscalls/table.ts';
import { decode } from './codec.ts';
import type { CallEvent, DecisionEvent, TapeHeader } from './events.ts';

/** A call the candidate policy would not have let through. */
export interface PolicyStop {
  /** The root's call; for a child's call, the root's calls before it. */
  readonly n: number;
  /** The child whose call it was (absent: the root's). */
  readonly pid?: number;
  readonly syscall: string;
  /** The tool, for a SYS_EXEC. */
  readonly tool?: string;
  readonly effect: Decision['effect'];
  readonly rule: string;
  readonly reason: string;
}

/** A child's call the candidate could not judge, and why. */
export interface Unjudged {
  readonly pid: number;
  readonly syscall: string;
  readonly why: string;
}

/** How the candidate is asked (replay-run.ts); absent: no candidate. */
export interface CandidateJudge {
  /** The candidate's decision on a root's call at the time the recorded kernel decided it (undefined: arguments it cannot read). */
  judge(nr: number, args: readonly unknown[], at: number): Decision | undefined;
  /** The candidate's decision on a child's recorded question, or why it cannot be judged. */
  judgeChild(event: DecisionEvent): Decision | { readonly unjudged: string };
  /** observe takes what a decision on the root's own call says of the agent then (its trust and tokens). */
  observe(event: DecisionEvent): void;
}

/** How many children's calls that could not be judged are listed. */
const MAX_UNJUDGED = 20;
/** How many stops are kept (all are counted). */
const MAX_STOPS = 1000;
const EXEC_NR = SYSCALL_NUMBERS.SYS_EXEC;
const SPAWN_NR = SYSCALL_NUMBERS.SYS_SPAWN;

export class Judging {
  /** The first MAX_STOPS stops; `stopped` counts them all. */
  readonly stops: PolicyStop[] = [];
  stopped = 0;
  /** Children's calls the candidate could not judge (a rule reads an argument the record kept only as a digest), the first few. */
  readonly unjudged: Unjudged[] = [];
  private readonly candidate: CandidateJudge | undefined;
  private readonly header: TapeHeader;

  constructor(candidate: CandidateJudge | undefined, header: TapeHeader) {
    this.candidate = candidate;
    this.header = header;
  }

  /** call judges one of the root's recorded calls. */
  call(event: CallEvent, nr: unknown, args: readonly unknown[]): void {
    if (this.candidate === undefined || typeof nr !== 'number') return;
    // When the recorded kernel decided it: a call that waited has the time of its reply, and took d ms.
    const decision = this.candidate.judge(nr, args, event.t - (event.d ?? 0));
    if (nr === SPAWN_NR && this.header.version < 2) this.spawnedUnkept(event);
    if (decision === undefined || decision.effect === 'allow') return;
    const tool = nr === EXEC_NR && typeof args[0] === 'string' ? { tool: args[0] } : {};
    this.stop({ n: event.n, syscall: syscallName(nr), ...tool, effect: decision.effect, rule: decision.rule, reason: decision.reason });
  }

  /** spawnedUnkept: a tape of version 1 keeps nothing of the calls of a child the recorded run spawned, so they cannot be judged (nor passed). */
  private spawnedUnkept(event: CallEvent): void {
    const reply = decode(event.r) as { t?: unknown; v?: unknown };
    if (reply.t !== 'value' || typeof reply.v !== 'number') return;
    this.unjudge({ pid: reply.v, syscall: '*', why: 'a tape of version 1 keeps nothing of a child\'s calls: they are not judged' });
  }

  private stop(stop: PolicyStop): void {
    this.stopped++;
    if (this.stops.length < MAX_STOPS) this.stops.push(stop);
  }

  private unjudge(call: Unjudged): void {
    if (this.unjudged.length < MAX_UNJUDGED) this.unjudged.push(call);
  }

  /** decision takes a decision the policy made, after the root's call #`calls`: on the root's own call, what it says of the agent; on a child's, a judgement. */
  decision(event: DecisionEvent, calls: number): void {
    if (this.candidate === undefined) return;
    if (event.p === this.header.pid) return this.candidate.observe(event);
    const verdict = this.candidate.judgeChild(event);
    if (verdict === undefined) return;
    if ('unjudged' in verdict) return this.unjudge({ pid: event.p, syscall: event.syscall, why: verdict.unjudged });
    if (verdict.effect === 'allow') return;
    const tool = typeof event.req.tool === 'string' ? { tool: event.req.tool } : {};
    this.stop({ n: calls, pid: event.p, syscall: event.syscall, ...tool, effect: verdict.effect, rule: verdict.rule, reason: verdict.reason });
  }
}
