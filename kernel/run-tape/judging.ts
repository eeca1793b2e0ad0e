/**
 * What a replay's candidate policy (`agentctl replay-run --policy`) would
 * not have let through, before the fork: each of the root's recorded calls,
 * judged from its own arguments, and each decision the policy made on a
 * child's call, judged from the question the tape keeps (a child is not
 * run again). Kept in the recording's order; the first is where the run
 * would have stopped.
 */
import type { Decision } from '../../syscalls/context.ts';
import { SYSCALL_NUMBERS, syscallName } from '../../syscalls/table.ts';
import type { CallEvent, DecisionEvent } from './events.ts';

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
  /** The candidate's decision on a root's call at the recorded time (undefined: arguments it cannot read). */
  judge(nr: number, args: readonly unknown[], at: number): Decision | undefined;
  /** The candidate's decision on a child's recorded question, or why it cannot be judged. */
  judgeChild(event: DecisionEvent): Decision | { readonly unjudged: string };
}

/** How many children's calls that could not be judged are listed. */
const MAX_UNJUDGED = 20;
const EXEC_NR = SYSCALL_NUMBERS.SYS_EXEC;

export class Judging {
  readonly stops: PolicyStop[] = [];
  /** Children's calls the candidate could not judge (a rule reads an argument the record kept only as a digest), the first few. */
  readonly unjudged: Unjudged[] = [];
  private readonly candidate: CandidateJudge | undefined;

  constructor(candidate: CandidateJudge | undefined) {
    this.candidate = candidate;
  }

  /** call judges one of the root's recorded calls. */
  call(event: CallEvent, nr: unknown, args: readonly unknown[]): void {
    if (this.candidate === undefined || typeof nr !== 'number') return;
    const decision = this.candidate.judge(nr, args, event.t);
    if (decision === undefined || decision.effect === 'allow') return;
    const tool = nr === EXEC_NR && typeof args[0] === 'string' ? { tool: args[0] } : {};
    this.stops.push({ n: event.n, syscall: syscallName(nr), ...tool, effect: decision.effect, rule: decision.rule, reason: decision.reason });
  }

  /** child judges a decision on a child's call, made after the root's call #`calls`. */
  child(event: DecisionEvent, calls: number): void {
    const verdict = this.candidate?.judgeChild(event);
    if (verdict === undefined) return;
    if ('unjudged' in verdict) {
      if (this.unjudged.length < MAX_UNJUDGED) this.unjudged.push({ pid: event.p, syscall: event.syscall, why: verdict.unjudged });
      return;
    }
    if (verdict.effect === 'allow') return;
    const tool = typeof event.req.tool === 'string' ? { tool: event.req.tool } : {};
    this.stops.push({ n: calls, pid: event.p, syscall: event.syscall, ...tool, effect: verdict.effect, rule: verdict.rule, reason: verdict.reason });
  }
}
