/**
 * A chain of automated approvers in front of a person: each in turn
 * approves, denies or escalates (passes the question on); the first that
 * approves or denies answers, and a question every step escalated waits for
 * an operator (agentctl approve/deny) or its timeout. A step that fails —
 * cannot run, times out, answers something that is not a verdict — denies:
 * fail closed. Every answer names the step that gave it (`command:<name>`,
 * `reviewer:<model>`), and every escalation is recorded with its reason.
 * At most MAX_RUNNING questions are in the chain at once (each may start a
 * program or a paid model call); the others wait their turn in order, and
 * the gate caps how many can wait (kernel/approvals.ts).
 */
import type { ApprovalAnswer } from '../../../syscalls/context.ts';
import type { Approver, PendingApproval } from '../../approvals.ts';
import type { Verdict } from './question.ts';

/** ChainStep is one automated approver. */
export interface ChainStep {
  /** How answers name it: `command:review.sh`, `reviewer:gpt-4o-mini`. */
  readonly name: string;
  /** ask answers a question; it rejects when it cannot (the chain then denies). */
  ask(approval: PendingApproval): Promise<Verdict>;
  /** stop ends whatever the step still runs (agentd stops). */
  stop?(): void;
}

/** How many questions go through the chain at once. */
export const MAX_RUNNING = 4;

/** chainApprover asks `steps` in order; `escalated` hears of each question a step passed on. */
export function chainApprover(steps: readonly ChainStep[], escalated: (approval: PendingApproval, step: string, reason: string) => void): Approver {
  let running = 0;
  const queue: (() => void)[] = [];
  const turn = () => (running < MAX_RUNNING ? (running++, Promise.resolve()) : new Promise<void>((resolve) => queue.push(resolve)));
  const done = () => {
    const next = queue.shift();
    if (next !== undefined) next();
    else running--;
  };
  return async (approval): Promise<ApprovalAnswer | undefined> => {
    await turn();
    try {
      return await asked(steps, approval, escalated);
    } finally {
      done();
    }
  };
}

/** asked runs the steps in turn for one question: the first approve or deny answers; none, and a person does. */
async function asked(steps: readonly ChainStep[], approval: PendingApproval, escalated: (approval: PendingApproval, step: string, reason: string) => void): Promise<ApprovalAnswer | undefined> {
  for (const step of steps) {
    let verdict: Verdict;
    try {
      verdict = await step.ask(approval);
    } catch (err) {
      return { approved: false, approver: step.name, reason: `the approver failed, so the answer is no: ${err instanceof Error ? err.message : String(err)}` };
    }
    if (verdict.verdict === 'escalate') {
      escalated(approval, step.name, verdict.reason);
      continue;
    }
    return { approved: verdict.verdict === 'approve', approver: step.name, reason: verdict.reason };
  }
  return undefined;
}
