/**
 * An answer to a question from outside the kernel outlives agentd until its
 * grant is spent or expires (kernel/service/run-ledger.ts `answers`,
 * durable-approvals.ts restoreAnswers). Found by an attacker pass: a
 * question approved by the operator and not yet redeemed was lost on any
 * restart, clean or kill -9 — the principal that asked was told it had never
 * opened it (403), and its redemption was denied as unknown. A grant spent
 * before a restart stays spent after it.
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import type { ChainRecord } from '../../kernel/recorder/chain.ts';
import { verifyLog } from '../../kernel/recorder/verify.ts';
import { startAgentd, type Agentd } from './helpers.ts';

const POLICY = `version: 1
name: answers-restart
rules:
  - id: email-needs-a-human
    effect: require_approval
    syscalls: [email.send]
`;

/** ask has agent ext ask to email `to` through `d`: the question's id. */
const ask = async (d: Agentd, to: string) => ((await d.api('POST', '/v1/evaluate', { agent: 'ext', action: 'email.send', arguments: { to } })).body as { approval_id: string }).approval_id;
/** redeem has agent ext present approval `id` for emailing `to`. */
const redeem = async (d: Agentd, id: string, to: string) => (await d.api('POST', '/v1/evaluate', { agent: 'ext', action: 'email.send', arguments: { to }, approval_id: id })).body as { decision: string; reason: string };
const records = (text: string): ChainRecord[] => text.trim().split('\n').map((l) => JSON.parse(l) as ChainRecord);

describe('answers to questions from outside the kernel, across an agentd restart', () => {
  const daemons: Agentd[] = [];
  afterAll(async () => {
    for (const d of daemons.toReversed()) await d.remove();
  });

  it('an approved question not yet redeemed is read and redeemed once after a kill -9 and after a clean stop; a spent grant stays spent', async () => {
    const first = await startAgentd('policy: policy.yaml\n', { 'policy.yaml': POLICY });
    daemons.push(first);
    const approved = await ask(first, 'ada');
    const denied = await ask(first, 'eve');
    const spent = await ask(first, 'bob');
    expect((await first.api('POST', `/v1/approvals/${approved}/approve`, { reason: 'fine' })).status).toBe(200);
    expect((await first.api('POST', `/v1/approvals/${denied}/deny`, { reason: 'no' })).status).toBe(200);
    expect((await first.api('POST', `/v1/approvals/${spent}/approve`, { reason: 'fine' })).status).toBe(200);
    expect(await redeem(first, spent, 'bob')).toMatchObject({ decision: 'allow' });
    await first.stop('SIGKILL');

    const second = await startAgentd('policy: policy.yaml\n', { 'policy.yaml': POLICY }, { stateDir: first.stateDir });
    daemons.push(second);
    expect((await second.api('GET', `/v1/approvals/${approved}`)).body).toMatchObject({ status: 'approved', answer: { approver: 'operator', reason: 'fine' } });
    expect((await second.api('GET', `/v1/approvals/${denied}`)).body).toMatchObject({ status: 'denied' });
    expect(await redeem(second, spent, 'bob')).toMatchObject({ decision: 'deny', reason: expect.stringContaining(`no approval ${spent} to redeem`) });
    expect(await redeem(second, denied, 'eve')).toMatchObject({ decision: 'deny', reason: expect.stringContaining('was denied by operator') });
    const kept = records(readFileSync(second.logFile, 'utf8')).filter((r) => r.type === 'approval' && r.detail?.startsWith('kept the answer'));
    expect(kept.map((r) => r.detail)).toEqual([
      expect.stringMatching(new RegExp(`^kept the answer to email\\.send \\(${approved}\\) across the agentd restart: approved by operator, its asker may read it and redeem it once until \\S+$`)),
      expect.stringMatching(new RegExp(`^kept the answer to email\\.send \\(${denied}\\) across the agentd restart: denied by operator, its asker may read it until \\S+$`)),
    ]);
    expect(await second.stop()).toEqual({ status: 0, signal: null });

    // A clean stop keeps it as well; redeemed once, it is spent for good.
    const third = await startAgentd('policy: policy.yaml\n', { 'policy.yaml': POLICY }, { stateDir: first.stateDir });
    daemons.push(third);
    expect(await redeem(third, approved, 'eve')).toMatchObject({ decision: 'deny', reason: expect.stringContaining('granted for another action') });
    expect(await redeem(third, approved, 'ada')).toMatchObject({ decision: 'allow', rule: 'kernel.approval-grant' });
    expect(await redeem(third, approved, 'ada')).toMatchObject({ decision: 'deny', reason: expect.stringContaining('already used') });
    await third.stop('SIGKILL');
    const fourth = await startAgentd('policy: policy.yaml\n', { 'policy.yaml': POLICY }, { stateDir: first.stateDir });
    daemons.push(fourth);
    expect(await redeem(fourth, approved, 'ada')).toMatchObject({ decision: 'deny', reason: expect.stringContaining(`no approval ${approved} to redeem`) });
    expect(verifyLog(readFileSync(fourth.logFile, 'utf8'))).toMatchObject({ ok: true });
  }, 90_000);
});
