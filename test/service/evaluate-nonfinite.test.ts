/**
 * An approval is redeemed only for the request it was asked for. An
 * attacker pass: a grant is bound to its request by a digest of canonical
 * JSON, which writes 1e999 (read by JSON.parse as Infinity), -1e999 and
 * null alike, so an approval asked for { amount: null } was redeemed for
 * { amount: 1e999 } (allowed, rule kernel.approval-grant), and the record
 * said null where the policy had matched "Infinity". A number that is not
 * finite is now refused: 400 EINVAL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Agentd, startAgentd } from '../service/helpers.ts';

const POLICY = `version: 1
name: pay
rules:
  - id: pay-needs-human
    effect: require_approval
    syscalls: [pay]
`;

let agentd: Agentd;
let token: string;
beforeAll(async () => {
  agentd = await startAgentd('policy: policy.yaml\napprovals: { mode: operator }\n', { 'policy.yaml': POLICY });
  token = ((await agentd.api('POST', '/v1/principals', { agent: 'bot' })).body as { token: string }).token;
});
afterAll(async () => {
  await agentd.remove();
});

describe('an approval is redeemed only for the request it was asked for', () => {
  it('an approval asked for { amount: null } does not allow { amount: 1e999 }', async () => {
    const asked = await agentd.api('POST', '/v1/evaluate', undefined, { token, raw: '{"action":"pay","arguments":{"amount":null}}' });
    expect(asked.body.decision).toBe('require_approval');
    const id = asked.body.approval_id as string;
    expect((await agentd.api('POST', `/v1/approvals/${id}/approve`, {})).status).toBe(200);
    const redeemed = await agentd.api('POST', '/v1/evaluate', undefined, { token, raw: `{"action":"pay","arguments":{"amount":1e999},"approval_id":"${id}"}` });
    expect(redeemed.status).toBe(400);
    expect(redeemed.body).toEqual({ error: 'arguments may hold only finite numbers', errno: 'EINVAL' });
    const context = await agentd.api('POST', '/v1/evaluate', undefined, { token, raw: '{"action":"pay","context":{"n":[-1e999]}}' });
    expect(context.body).toEqual({ error: 'context may hold only finite numbers', errno: 'EINVAL' });
    // The approval is still there for the request it was asked for.
    expect((await agentd.api('POST', '/v1/evaluate', undefined, { token, raw: `{"action":"pay","arguments":{"amount":null},"approval_id":"${id}"}` })).body.decision).toBe('allow');
  });
});
