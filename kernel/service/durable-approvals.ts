/**
 * Questions outlive the agentd that asked them. The run ledger keeps every
 * pending question (kernel/service/run-ledger.ts); when agentd starts, each
 * one the previous run left open is accounted for before any work:
 * - asked by an agent outside the kernel (/v1/evaluate): reopened with its
 *   id and deadline — listed by `agentctl approvals`, answerable, its grant
 *   bound to the same request, so the agent polling it can still act on
 *   the answer (or it times out as it would have);
 * - asked by a process of the previous run, or by a call through the MCP
 *   gateway: that caller is gone, so the question is closed, denied, and
 *   recorded so.
 * Either way the log says what became of every question.
 */
import type { PendingApproval } from '../approvals.ts';
import type { ServiceContext } from './context.ts';
import { recordAnswer } from './routes/evaluate.ts';
import type { RunLedger } from './run-ledger.ts';

/** reopenApprovals accounts for the questions `ledger` has left over from the previous run; returns how many it reopened. */
export function reopenApprovals(ctx: ServiceContext, ledger: RunLedger, left: readonly PendingApproval[]): number {
  let reopened = 0;
  for (const question of left) {
    const what = `${question.syscall}${question.path ? ` ${question.path}` : ''}${question.tool ? ` ${question.tool}` : ''} (${question.id})`;
    // Only a question bound to a request (a digest: asked through /v1/evaluate) can still be acted on by its asker.
    if (question.pid !== 0 || question.digest === undefined) {
      const waiter = question.pid !== 0 ? `pid ${question.pid} waited, and its process with it` : 'its caller (an MCP session) waited, and the session with it';
      ctx.log.record({ type: 'approval', pid: question.pid, agentId: question.agentId, detail: `denied ${what} by agentd: the agentd that asked ended while ${waiter}`, ...(question.policyVersion !== undefined ? { policyVersion: question.policyVersion } : {}) });
      ledger.forget(question.id);
      continue;
    }
    ctx.log.record({ type: 'approval', pid: 0, agentId: question.agentId, detail: `still pending ${what} after agentd restarted: asked ${new Date(question.requestedAt).toISOString()}, answerable until ${new Date(question.deadline).toISOString()}`, ...(question.policyVersion !== undefined ? { policyVersion: question.policyVersion } : {}) });
    const { answer } = ctx.kernel.approvals.reopen(question);
    if (question.digest !== undefined) ctx.grants.open(question.id, question.digest, question.agentId);
    void answer.then((a) => recordAnswer(ctx, question.agentId, question.syscall, question.id, a));
    reopened++;
  }
  return reopened;
}
