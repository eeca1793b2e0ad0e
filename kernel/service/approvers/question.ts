/**
 * What an approver outside agentd is shown of a question, and how an
 * automated approver answers. The question is one JSON object: `{ id,
 * agent, pid, syscall, path?, tool?, rule, reason, policy_version?, digest?,
 * arguments?, requested_at, deadline }` (the webhook adds `callback`);
 * `arguments` are the call's (a tool call's own), up to 4 KiB of JSON, else
 * `{ chars, digest }`, text an agent chose. An automated
 * approver in a chain (a command, a model reviewer) answers with one JSON
 * object `{ "verdict": "approve" | "deny" | "escalate", "reason": "…" }`:
 * escalate passes the question to the next approver of the chain (in the
 * end, a person). Anything else is a deny: fail closed.
 */
import type { PendingApproval } from '../../approvals.ts';

export function questionJson(approval: PendingApproval): Record<string, unknown> {
  return {
    id: approval.id,
    agent: approval.agentId,
    pid: approval.pid,
    syscall: approval.syscall,
    ...(approval.path !== undefined ? { path: approval.path } : {}),
    ...(approval.tool !== undefined ? { tool: approval.tool } : {}),
    rule: approval.rule,
    reason: approval.reason,
    ...(approval.policyVersion !== undefined ? { policy_version: approval.policyVersion } : {}),
    ...(approval.digest !== undefined ? { digest: approval.digest } : {}),
    ...(approval.arguments !== undefined ? { arguments: approval.arguments } : {}),
    requested_at: approval.requestedAt,
    deadline: approval.deadline,
  };
}

export interface Verdict {
  readonly verdict: 'approve' | 'deny' | 'escalate';
  readonly reason: string;
}

/** The longest reason kept from an automated approver. */
const MAX_REASON = 1000;

/** verdictOf reads an automated approver's answer (a ```json fence around it is allowed); a string says why it is not one. */
export function verdictOf(text: string): Verdict | string {
  const bare = text.trim().replace(/^```(?:json)?\s*/i, '').replace(/\s*```$/, '');
  let value: unknown;
  try {
    value = JSON.parse(bare);
  } catch {
    return `not JSON: ${JSON.stringify(text.slice(0, 120))}`;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'not a JSON object';
  const { verdict, reason } = value as { verdict?: unknown; reason?: unknown };
  if (verdict !== 'approve' && verdict !== 'deny' && verdict !== 'escalate') return `verdict ${JSON.stringify(verdict)} is not approve, deny or escalate`;
  return { verdict, reason: typeof reason === 'string' && reason.trim() !== '' ? reason.trim().slice(0, MAX_REASON) : verdict };
}
