/**
 * Approvals bound to the action (kernel/service/grants.ts), against a real
 * agentd: an agent outside the kernel that was approved redeems the approval
 * with the same request and its approval_id — allowed once, recorded; the
 * same grant for other arguments, a second use, a denied approval, another
 * agent's approval or an unknown id are each a deny naming why. (The
 * webhook's question carries the digest: webhook-approvals.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApprovalStatus } from '../../kernel/approvals.ts';
import { ApprovalGrants, grantDigest } from '../../kernel/service/grants.ts';
import { startAgentd, type Agentd } from './helpers.ts';

const POLICY = 'version: 1\nrules:\n  - { id: mail-needs-a-human, effect: require_approval, syscalls: [email.send] }\n';

/** mail is an outside agent's request to send an email to `to`. */
const mail = (to: string, agent = 'mailer', extra: Record<string, unknown> = {}) => ({ agent, action: 'email.send', tool: 'smtp', arguments: { to }, context: { step: 1 }, ...extra });

describe('approval grants for agents outside the kernel', { timeout: 60_000 }, () => {
  let agentd: Agentd;
  beforeAll(async () => {
    agentd = await startAgentd('policy: policy.yaml\n', { 'policy.yaml': POLICY });
  });
  afterAll(() => agentd?.remove());

  const ask = async (to: string, agent = 'mailer'): Promise<string> => ((await agentd.api('POST', '/v1/evaluate', mail(to, agent))).body as { approval_id: string }).approval_id;
  const redeem = async (id: string, to: string, agent = 'mailer') => (await agentd.api('POST', '/v1/evaluate', mail(to, agent, { approval_id: id, context: { step: 2 } }))).body as { decision: string; rule: string; reason: string };

  it('an approved grant allows the same request once, recorded; other arguments, a second use, another agent are denied, naming why', async () => {
    const id = await ask('ops@example.com');
    expect((await redeem(id, 'ops@example.com')).reason).toMatch(/still pending/);
    expect((await agentd.api('POST', `/v1/approvals/${id}/approve`, { reason: 'fine' })).status).toBe(200);
    expect(await redeem(id, 'attacker@example.com')).toMatchObject({ decision: 'deny', rule: 'kernel.approval-grant', reason: expect.stringMatching(new RegExp(`^approval ${id} was granted for another action`)) });
    expect(await redeem(id, 'ops@example.com', 'someone-else')).toMatchObject({ decision: 'deny', reason: `approval ${id} was asked by another agent` });
    // The context is free-form (a framework's call id): it is not part of what was approved.
    expect(await redeem(id, 'ops@example.com')).toMatchObject({ decision: 'allow', rule: 'kernel.approval-grant', reason: `approval ${id} by operator: fine` });
    expect(await redeem(id, 'ops@example.com')).toMatchObject({ decision: 'deny', reason: `approval ${id} was already used: a grant covers one action, once` });
    const records = (await agentd.api('GET', '/v1/decisions?agent=mailer')).body as { decision?: string; rule?: string }[];
    expect(records.filter((r) => r.rule === 'kernel.approval-grant').map((r) => r.decision)).toEqual(['deny', 'deny', 'allow', 'deny']);
  });

  it('a grant is redeemed only while the policy in force would still ask: one that now denies the request denies the redemption (found by the attacker pass)', async () => {
    const id = await ask('late@example.com');
    expect((await agentd.api('POST', `/v1/approvals/${id}/approve`, { reason: 'fine' })).status).toBe(200);
    expect((await agentd.api('PUT', '/v1/policy', { source: 'version: 1\nrules:\n  - { id: no-mail, effect: deny, syscalls: [email.send] }\n' })).status).toBe(200);
    expect(await redeem(id, 'late@example.com')).toMatchObject({ decision: 'deny', rule: 'kernel.approval-grant', reason: `approval ${id} is not redeemed: the kernel now denies the request (rule no-mail: denied by rule no-mail)` });
    expect((await agentd.api('PUT', '/v1/policy', { source: POLICY })).status).toBe(200);
    expect(await redeem(id, 'late@example.com')).toMatchObject({ decision: 'allow', rule: 'kernel.approval-grant' });
  });

  it('a denied approval and an unknown id redeem nothing', async () => {
    const id = await ask('x@example.com');
    expect((await agentd.api('POST', `/v1/approvals/${id}/deny`, { reason: 'no' })).status).toBe(200);
    expect(await redeem(id, 'x@example.com')).toMatchObject({ decision: 'deny', reason: `approval ${id} was denied by operator` });
    expect(await redeem('ap-999999', 'x@example.com')).toMatchObject({ decision: 'deny', reason: 'no approval ap-999999 to redeem (unknown, or forgotten since)' });
  });

  it('the digest a grant is bound to is the canonical request without its context', () => {
    const a = grantDigest({ agent: 'm', action: 'email.send', tool: 'smtp', arguments: { to: 'a', cc: 'b' } });
    expect(grantDigest({ arguments: { cc: 'b', to: 'a' }, tool: 'smtp', action: 'email.send', agent: 'm' })).toBe(a);
    expect(grantDigest({ agent: 'm', action: 'email.send', tool: 'smtp', arguments: { to: 'a', cc: 'c' } })).not.toBe(a);
  });
});

/** approved is the gate's status of an approved question. */
const approved = (id: string, agentId: string): ApprovalStatus => ({
  approval: { id, pid: 0, agentId, syscall: 'x', rule: 'r', reason: 'r', timeoutMs: 1000, requestedAt: 0, deadline: 1000 },
  status: 'approved',
  answer: { approved: true, approver: 'op', reason: 'ok' },
  answeredAt: 0,
});

describe('the grants kept', () => {
  it('one agent holds at most 100: its oldest go, and it cannot push out another agent’s', () => {
    const grants = new ApprovalGrants();
    grants.open('other-1', 'sha256:o', 'other');
    for (let i = 0; i < 150; i++) grants.open(`greedy-${i}`, `sha256:${i}`, 'greedy');
    expect(grants.redeem('other-1', 'sha256:o', 'other', approved('other-1', 'other'), 1)).toMatchObject({ ok: true });
    expect(grants.redeem('greedy-0', 'sha256:0', 'greedy', approved('greedy-0', 'greedy'), 1)).toMatchObject({ ok: false, why: expect.stringContaining('unknown, or forgotten') });
    expect(grants.redeem('greedy-49', 'sha256:49', 'greedy', approved('greedy-49', 'greedy'), 1)).toMatchObject({ ok: false });
    expect(grants.redeem('greedy-50', 'sha256:50', 'greedy', approved('greedy-50', 'greedy'), 1)).toMatchObject({ ok: true });
    expect(grants.redeem('greedy-149', 'sha256:149', 'greedy', approved('greedy-149', 'greedy'), 1)).toMatchObject({ ok: true });
  });
});
