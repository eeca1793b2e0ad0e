/**
 * /v1/evaluate's `arguments` on a real agentd, as an agent credential: a
 * rule's path-like argument glob (`/data/**`) matched the text as sent, so
 * `path: /data/../etc/shadow` was allowed while the agent outside would read
 * /etc/shadow, and `/etc/**` did not deny it. A path argument not in the
 * kernel's canonical form now matches no allow rule's path glob and every
 * deny rule's (kernel/policy/path-spelling.ts); the answer says why.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { principalToken, startAgentd, type Agentd } from './helpers.ts';

const POLICY = `version: 1
name: evaluate-path-arguments
rules:
  - id: no-etc
    effect: deny
    syscalls: [fs.stat]
    args: [{ arg: path, glob: "/etc/**" }]
  - id: stat-anything
    effect: allow
    syscalls: [fs.stat]
  - id: data-reads
    effect: allow
    syscalls: [fs.read]
    args: [{ arg: path, glob: "/data/**" }]
`;

let agentd: Agentd;
let token: string;
beforeAll(async () => {
  agentd = await startAgentd('policy: policy.yaml\n', { 'policy.yaml': POLICY });
  token = await principalToken(agentd, 'report-bot', { team: 'finance' });
});
afterAll(() => agentd.remove());

const ask = (action: string, path: string) => agentd.api('POST', '/v1/evaluate', { agent: 'report-bot', action, arguments: { path } }, { token });

describe('/v1/evaluate and path arguments', () => {
  it.each(['/data/../etc/shadow', '/data//x', '/data/./x', '/data/x/'])('an allow rule path glob does not match %j', async (path) => {
    const res = await ask('fs.read', path);
    expect(res).toMatchObject({ status: 200, body: { decision: 'deny', rule: 'default-deny' } });
    expect(String(res.body.reason)).toContain("argument 'path' is not a canonical path");
  });

  it.each(['/data/../etc/shadow', '/tmp/../etc/shadow', '/data//x'])('a deny rule path glob matches %j', async (path) => {
    const res = await ask('fs.stat', path);
    expect(res).toMatchObject({ status: 200, body: { decision: 'deny', rule: 'no-etc' } });
    expect(String(res.body.reason)).toContain("a deny rule's path glob matches it");
  });

  it('canonical paths are decided as before', async () => {
    expect(await ask('fs.read', '/data/x')).toMatchObject({ status: 200, body: { decision: 'allow', rule: 'data-reads' } });
    expect(await ask('fs.read', '/etc/shadow')).toMatchObject({ status: 200, body: { decision: 'deny', rule: 'default-deny' } });
    expect(await ask('fs.stat', '/etc/shadow')).toMatchObject({ status: 200, body: { decision: 'deny', rule: 'no-etc' } });
    expect(await ask('fs.stat', '/data/x')).toMatchObject({ status: 200, body: { decision: 'allow', rule: 'stat-anything' } });
  });
});
