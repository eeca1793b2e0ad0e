/**
 * Approval grants for agents outside the kernel. An approval answers one
 * question; an agent outside the kernel acts by itself after polling it, so
 * the grant is bound to the action: when `/v1/evaluate` opens a question it
 * keeps a digest of the canonical request (agent, action, resource, access,
 * tool, arguments; not the free-form context), and the agent redeems the
 * approval by asking again with the same request and `approval_id`. The
 * answer is allow exactly once, for exactly that request, within
 * GRANT_TTL_MS of the approval; any other request, a second use, an expired
 * or denied or unknown approval is a deny naming why. The adapters
 * (kernel/service/adapters) redeem before the tool runs.
 */
import { createHash } from 'node:crypto';
import type { ApprovalStatus } from '../approvals.ts';
import { canonicalJson } from '../canonical-json.ts';

/** How long an approved grant may be redeemed after its answer, ms. */
export const GRANT_TTL_MS = 5 * 60_000;

/** The most grants kept (the oldest go first); an agent with a grant older than that asks again. */
const MAX_GRANTS = 10_000;

/** The most grants one agent holds: its oldest go first. */
const MAX_GRANTS_PER_AGENT = 100;

/** GrantRequest is what a grant is bound to. */
export interface GrantRequest {
  readonly agent: string;
  readonly action: string;
  readonly resource?: string;
  readonly access?: string;
  readonly tool?: string;
  readonly arguments: Readonly<Record<string, unknown>>;
}

/** grantDigest is the digest of the canonical request a grant is bound to (`sha256:<hex>`). */
export function grantDigest(request: GrantRequest): string {
  return `sha256:${createHash('sha256').update(canonicalJson(request)).digest('hex')}`;
}

export type Redeemed = { readonly ok: true; readonly approver: string; readonly reason: string } | { readonly ok: false; readonly why: string };

interface Grant {
  readonly digest: string;
  readonly agent: string;
  used: boolean;
}

export class ApprovalGrants {
  private readonly grants = new Map<string, Grant>();
  /** Each agent's grant ids, oldest first (a Set keeps insertion order): no scan of every grant per question. */
  private readonly mine = new Map<string, Set<string>>();
  /** Told of each grant redeemed (agentd's run ledger forgets its answer, so a restart cannot make it redeemable again). */
  private readonly spent: (id: string) => void;

  constructor(spent: (id: string) => void = () => {}) {
    this.spent = spent;
  }

  /** open binds the question `id` to the request with `digest`, asked by `agent`; one agent holds at most MAX_GRANTS_PER_AGENT (its oldest go), so no agent can push out another's. */
  open(id: string, digest: string, agent: string): void {
    let ids = this.mine.get(agent);
    if (ids === undefined) this.mine.set(agent, (ids = new Set()));
    if (ids.size >= MAX_GRANTS_PER_AGENT) this.forget(ids.values().next().value!);
    this.grants.set(id, { digest, agent, used: false });
    ids.add(id);
    if (this.grants.size > MAX_GRANTS) this.forget(this.grants.keys().next().value!);
  }

  /** forget drops the grant of question `id` (pushed out by newer ones, or the question went to another node, which redeems it now). */
  forget(id: string): void {
    const grant = this.grants.get(id);
    if (grant === undefined) return;
    this.grants.delete(id);
    const ids = this.mine.get(grant.agent);
    ids?.delete(id);
    if (ids?.size === 0) this.mine.delete(grant.agent);
  }

  /** redeem answers whether `agent` may act now on approval `id` (its status as the gate has it) for the request with `digest`: once, that request only. */
  redeem(id: string, digest: string, agent: string, status: ApprovalStatus | undefined, now: number): Redeemed {
    const grant = this.grants.get(id);
    if (grant === undefined || status === undefined) return { ok: false, why: `no approval ${id} to redeem (unknown, or forgotten since)` };
    if (grant.agent !== agent) return { ok: false, why: `approval ${id} was asked by another agent` };
    if (status.status === 'pending') return { ok: false, why: `approval ${id} is still pending` };
    if (status.status === 'denied') return { ok: false, why: `approval ${id} was denied by ${status.answer?.approver ?? '?'}` };
    if (grant.digest !== digest) return { ok: false, why: `approval ${id} was granted for another action (${grant.digest}), not this one (${digest})` };
    if (grant.used) return { ok: false, why: `approval ${id} was already used: a grant covers one action, once` };
    // An answer whose time is not known (relayed by another node) cannot be shown to be fresh: fail closed.
    const answeredAt = status.answeredAt;
    if (answeredAt === undefined) return { ok: false, why: `approval ${id} cannot be redeemed here: when it was granted is not known (redeem it through the node that asked)` };
    if (now - answeredAt > GRANT_TTL_MS) return { ok: false, why: `approval ${id} expired ${GRANT_TTL_MS / 60_000} minutes after it was granted` };
    grant.used = true;
    this.spent(id);
    return { ok: true, approver: status.answer?.approver ?? '?', reason: status.answer?.reason ?? '' };
  }
}
