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
 * Either way the log says what became of every question. Answers to
 * questions from outside whose grants were not spent come back too
 * (restoreAnswers). On a cluster the
 * questions live in Redis instead, and a node adopts those of agents
 * outside the kernel that a stopped or lost node leaves (adoptApprovals).
 */
import type { PendingApproval } from '../approvals.ts';
import type { ClusterApproval, Refused } from '../cluster/approval-relay.ts';
import type { ClusterNode } from '../cluster/node.ts';
import type { ServiceContext } from './context.ts';
import { GRANT_TTL_MS } from './grants.ts';
import { recordAnswer } from './routes/evaluate.ts';
import type { RunLedger } from './run-ledger.ts';

/** reopenApprovals accounts for the questions `ledger` has left over from the previous run; returns how many it reopened. */
export function reopenApprovals(ctx: ServiceContext, ledger: RunLedger, left: readonly PendingApproval[]): number {
  let reopened = 0;
  for (const question of left) {
    // Answered already (its answer came back from the ledger: restoreAnswers): only its pending row was left behind.
    if (ctx.kernel.approvals.status(question.id) !== undefined) {
      ledger.forget(question.id);
      continue;
    }
    const what = `${question.syscall}${question.path ? ` ${question.path}` : ''}${question.tool ? ` ${question.tool}` : ''} (${question.id})`;
    // Only a question bound to a request (a digest: asked through /v1/evaluate) can still be acted on by its asker.
    if (question.pid !== 0 || question.digest === undefined) {
      const waiter = question.pid !== 0 ? `pid ${question.pid} waited, and its process with it` : 'its caller (an MCP session) waited, and the session with it';
      ctx.log.record({ type: 'approval', pid: question.pid, agentId: question.agentId, detail: `denied ${what} by agentd: the agentd that asked ended while ${waiter}`, ...(question.policyVersion !== undefined ? { policyVersion: question.policyVersion } : {}) });
      ledger.forget(question.id);
      continue;
    }
    reopenOne(ctx, question, `still pending ${what} after agentd restarted: asked ${new Date(question.requestedAt).toISOString()}, answerable until ${new Date(question.deadline).toISOString()}`);
    reopened++;
  }
  return reopened;
}

/**
 * restoreAnswers gives back the answers the previous run gave to questions
 * of agents outside the kernel and whose grants were not spent yet (the run
 * ledger keeps them until then, at most GRANT_TTL_MS): their askers read
 * them and redeem an approval once, as before the restart. Each is
 * recorded. Returns how many.
 */
export function restoreAnswers(ctx: ServiceContext, ledger: RunLedger, now: number): number {
  let restored = 0;
  for (const status of ledger.leftAnswered(now)) {
    const question = status.approval;
    if (question.digest === undefined || !ctx.kernel.approvals.restoreAnswered(status)) continue;
    ctx.grants.open(question.id, question.digest, question.agentId);
    const what = `${question.syscall}${question.tool ? ` ${question.tool}` : ''} (${question.id})`;
    ctx.log.record({ type: 'approval', pid: 0, agentId: question.agentId, detail: `kept the answer to ${what} across the agentd restart: ${status.status} by ${status.answer?.approver ?? '?'}, its asker may read it${status.status === 'approved' ? ' and redeem it once' : ''} until ${new Date((status.answeredAt ?? now) + GRANT_TTL_MS).toISOString()}`, ...(question.policyVersion !== undefined ? { policyVersion: question.policyVersion } : {}) });
    restored++;
  }
  return restored;
}

/**
 * adoptApprovals reopens, on this cluster node, questions from agents
 * outside the kernel that another node released as it stopped (or that
 * were left when it was lost): same id, deadline and binding, so their
 * pollers go on through this node; each adoption is recorded.
 */
export function adoptApprovals(ctx: ServiceContext, adopted: readonly ClusterApproval[]): Refused[] {
  const refused: Refused[] = [];
  for (const entry of adopted) {
    const { approval: question, from, left } = entry;
    const what = `${question.syscall}${question.tool ? ` ${question.tool}` : ''} (${question.id})`;
    // Already pending here (this node asked it and adopts it back): nothing to reopen.
    if (ctx.kernel.approvals.status(question.id)?.status === 'pending') continue;
    try {
      reopenOne(ctx, question, `adopted ${what} from node ${from ?? '(unknown)'} (${left === 'lost' ? 'it was lost' : 'it stopped'}): asked ${new Date(question.requestedAt).toISOString()}, answerable until ${new Date(question.deadline).toISOString()}`);
    } catch (err) {
      // Not recorded (a full disk…), or not reopened: not left open here; denied in Redis by the caller, so its poller hears.
      const cause = `adopted by node but not reopened (${err instanceof Error ? err.message : String(err)})`;
      ctx.kernel.approvals.letGo(question.id);
      ctx.grants.forget(question.id);
      refused.push({ entry, why: `denied: ${cause}` });
      try {
        ctx.log.record({ type: 'approval', pid: 0, agentId: question.agentId, detail: `denied ${what} by cluster: ${cause}` });
      } catch {
        // the log is what failed: Redis holds the denial
      }
    }
  }
  return refused;
}

/** reopenOne records `detail` and waits again for the answer to `question`, bound (as before) to its request. */
function reopenOne(ctx: ServiceContext, question: PendingApproval, detail: string): void {
  ctx.log.record({ type: 'approval', pid: 0, agentId: question.agentId, detail, ...(question.policyVersion !== undefined ? { policyVersion: question.policyVersion } : {}) });
  const { answer } = ctx.kernel.approvals.reopen(question);
  if (question.digest !== undefined) ctx.grants.open(question.id, question.digest, question.agentId);
  void answer.then((a) => recordAnswer(ctx, question.agentId, question.syscall, question.id, a));
}

/**
 * handOver runs as a cluster node stops: the questions agents outside the
 * kernel asked through it are released to the cluster (another node adopts
 * them) and recorded so; if Redis cannot take them, and for questions whose
 * caller ends with this node (an MCP session), they are denied.
 */
export async function handOver(cluster: ClusterNode, ctx: ServiceContext): Promise<void> {
  await cluster.stopAdopting();
  const outside = ctx.kernel.approvals.list().filter((q) => q.pid === 0);
  const bound = outside.filter((q) => q.digest !== undefined);
  let released = false;
  let why = 'agentd is shutting down';
  if (bound.length > 0) {
    try {
      await cluster.release(bound);
      released = true;
    } catch (err) {
      why = `agentd is shutting down and could not hand the question to another node (${err instanceof Error ? err.message : String(err)})`;
    }
  }
  for (const q of outside) {
    if (released && q.digest !== undefined) letGo(ctx, q, 'agentd is shutting down, another node adopts it');
    else void ctx.kernel.approvals.answer(q.id, false, 'agentd', why);
  }
}

/** letGo drops question `q` here, recorded: another node owns it now, and this one neither answers it nor redeems its grant (two owners could grant it twice). */
function letGo(ctx: ServiceContext, q: PendingApproval, why: string): void {
  ctx.kernel.approvals.letGo(q.id);
  ctx.grants.forget(q.id);
  ctx.log.record({ type: 'approval', pid: 0, agentId: q.agentId, detail: `handed ${q.syscall}${q.tool ? ` ${q.tool}` : ''} (${q.id}) to the cluster: ${why}` });
}

/**
 * letGoAll drops every question from outside the kernel that this node holds (the cluster buried it): one bound to a
 * request (asked through /v1/evaluate) another node has adopted (letGo); one asked through the MCP gateway, whose
 * caller waits on this node, is denied (let go, it would wait for ever: a review).
 */
export function letGoAll(ctx: ServiceContext, why: string): void {
  for (const q of ctx.kernel.approvals.list()) {
    if (q.pid !== 0) continue;
    if (q.digest !== undefined) letGo(ctx, q, `${why}; another node has adopted it`);
    else void ctx.kernel.approvals.answer(q.id, false, 'cluster', why);
  }
}
