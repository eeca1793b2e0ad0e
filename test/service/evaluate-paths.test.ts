/**
 * /v1/evaluate decides a path-like resource (one starting with `/`) only in
 * the kernel's canonical form: a rule's path glob matches the text as sent,
 * so `/data/../../etc/shadow` matched `/data/**`. A resource with `.` or
 * `..` segments, empty segments, a trailing `/` or a NUL is refused (400,
 * EINVAL, naming body/resource), not normalised, and is no decision: nothing
 * is recorded for it. On a real agentd, as an agent credential.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { principalToken, startAgentd, type Agentd } from './helpers.ts';

const POLICY = `version: 1
name: evaluate-paths
rules:
  - id: finance-reads-data
    effect: allow
    syscalls: [file.read]
    labels: { team: finance }
    paths: ["/data/**"]
`;

let agentd: Agentd;
let token: string;
beforeAll(async () => {
  agentd = await startAgentd('policy: policy.yaml\n', { 'policy.yaml': POLICY });
  token = await principalToken(agentd, 'report-bot', { team: 'finance' });
});
afterAll(() => agentd.remove());

const ask = (resource: string) => agentd.api('POST', '/v1/evaluate', { agent: 'report-bot', action: 'file.read', resource }, { token });
const recorded = async () => ((await agentd.api('GET', '/v1/decisions?agent=report-bot&limit=100000')).body as unknown[]).length;

describe('/v1/evaluate and path-like resources', () => {
  it.each([
    ['/data/../../etc/shadow', "a '..' segment"],
    ['/data/..', "a '..' segment"],
    ['/data/./x', "a '.' segment"],
    ['/data//x', "an empty segment ('//')"],
    ['//data/x', "an empty segment ('//')"],
    ['/data/x/', "ends with '/'"],
    ['/data/x\0.txt', 'a NUL byte'],
  ])('refuses %j (%s): 400 EINVAL naming body/resource, and records nothing', async (resource, why) => {
    const before = await recorded();
    const res = await ask(resource);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ errno: 'EINVAL' });
    expect(res.body.error).toMatch(/^body\/resource: /);
    expect(res.body.error).toContain(why);
    expect(res.body.decision).toBeUndefined();
    expect(await recorded()).toBe(before);
  });

  it('the operator is refused the same way', async () => {
    const res = await agentd.api('POST', '/v1/evaluate', { agent: { id: 'report-bot', labels: { team: 'finance' } }, action: 'file.read', resource: '/data/../etc/shadow' });
    expect(res).toMatchObject({ status: 400, body: { errno: 'EINVAL' } });
  });

  it.each([
    ['/data/x', 'allow'],
    ['/data/reports/2024/q1.csv', 'allow'],
    ['/data/...', 'allow'],
    ['/data/x..y', 'allow'],
    ['/data/%2e%2e/x', 'allow'],
    ['/', 'deny'],
    ['/etc/shadow', 'deny'],
  ])('decides canonical %j (%s) and records it', async (resource, decision) => {
    const before = await recorded();
    const res = await ask(resource);
    expect(res).toMatchObject({ status: 200, body: { decision } });
    expect(await recorded()).toBe(before + 1);
  });

  it('takes a resource that is not a path (no leading /) as it is', async () => {
    expect(await ask('data/../x')).toMatchObject({ status: 200, body: { decision: 'deny' } });
    expect(await ask('s3://bucket/a//b')).toMatchObject({ status: 200, body: { decision: 'deny' } });
  });
});
