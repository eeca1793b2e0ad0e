/**
 * What agentd's JSON parser refuses before it parses: a body nested past
 * MAX_BODY_DEPTH (found by an attacker pass: one 4 MB body of nested arrays
 * held /healthz 0.76 s while JSON.parse ran, eight in parallel 2.4 s, before
 * any route check); prototype poisoning stays refused; ordinary bodies pass.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { depthWithin, MAX_BODY_CONTAINERS, MAX_BODY_DEPTH } from '../../kernel/service/json-body.ts';
import { startAgentd, type Agentd } from './helpers.ts';

let agentd: Agentd;
beforeAll(async () => {
  agentd = await startAgentd();
});
afterAll(() => agentd.remove());

describe("agentd's JSON bodies", () => {
  it('a body nested past the limit is 400, naming it; deep text inside strings does not count', async () => {
    const deep = await agentd.api('POST', '/v1/policy/validate', undefined, { raw: `{"x":${'['.repeat(2_000_000)}` });
    expect(deep.status).toBe(400);
    expect(deep.body.error).toContain(`nested deeper than ${MAX_BODY_DEPTH}`);
    const inString = await agentd.api('POST', '/v1/policy/validate', { source: `# ${'['.repeat(100_000)}\nversion: 1\nrules: []\n` });
    expect(inString.status).not.toBe(400);
  });

  // Found by an attacker pass: 3.2 MB of arrays nested 58 deep, again and again (1.6 M of them), took JSON.parse
  // 227 ms per body, and 32 such bodies at once held /healthz 7 s. At the cap a body parses in ~13 ms here.
  it('a body opening more arrays and objects than one syscall may carry is 400 before it is parsed; as many as that pass', async () => {
    const group = `${'['.repeat(58)}${']'.repeat(58)}`;
    const many = await agentd.api('POST', '/v1/policy/validate', undefined, { raw: `{"x":[${Array.from({ length: 30_000 }, () => group).join(',')}]}` });
    expect(many.status).toBe(400);
    expect(many.body.error).toContain(`more than ${MAX_BODY_CONTAINERS} arrays and objects`);
    // Past the parser: the route's schema answers (its own 400, an unknown property), not the count.
    const fit = await agentd.api('POST', '/v1/policy/validate', undefined, { raw: `{"x":[${Array.from({ length: MAX_BODY_CONTAINERS - 2 }, () => '{}').join(',')}]}` });
    expect(fit).toMatchObject({ status: 400, body: { error: expect.stringContaining("required property 'source'") } });
  });

  it('an own __proto__ key is still refused, and ordinary bodies pass', async () => {
    const poisoned = await agentd.api('POST', '/v1/policy/validate', undefined, { raw: '{"__proto__": {"x": 1}}' });
    // Said as what it is: valid JSON refused against prototype poisoning (it was reported as invalid JSON).
    expect(poisoned).toMatchObject({ status: 400, body: { error: 'the body may not hold a __proto__ key or constructor.prototype (refused against prototype poisoning)' } });
    const broken = await agentd.api('POST', '/v1/policy/validate', undefined, { raw: '{"source": "x",}' });
    expect(broken).toMatchObject({ status: 400, body: { error: expect.stringMatching(/^the body is not valid JSON: .*position 15/) } });
    const fine = await agentd.api('POST', '/v1/processes', { source: 'console.log(1);', filename: 'a.js' });
    expect(fine.status).toBe(201);
  });

  it('an unknown property or route is named in a line of bounded length; an unknown route answers in agentd\'s shape', async () => {
    const long = 'k'.repeat(100_000);
    const unknown = await agentd.api('POST', '/v1/policy/validate', undefined, { raw: JSON.stringify({ source: 'x', [long]: 1 }) });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toBe(`body/${'k'.repeat(64)}… (100000 characters): unknown property '${'k'.repeat(64)}… (100000 characters)' (known: source, filename)`);
    const nowhere = await agentd.api('GET', `/v1/${'n'.repeat(5000)}?x=1`);
    expect(nowhere).toMatchObject({ status: 404, body: { error: `no route GET /v1/${'n'.repeat(196)}… (5004 characters)`, errno: 'ENOENT' } });
    // Without a token, a route that does not exist is a 401 like any other: nothing says which routes exist.
    expect((await agentd.api('GET', '/v1/nowhere', undefined, { token: null })).status).toBe(401);
  });

  it('depthWithin counts brackets outside strings only, escapes included', () => {
    expect(depthWithin('[[["]]]]]]]"]]]', 3)).toBe(true);
    expect(depthWithin('[[[[]]]]', 3)).toBe(false);
    expect(depthWithin('{"a":"\\"[[[[","b":[{}]}', 3)).toBe(true);
    expect(depthWithin('[{},{},"{{"]', 3, 3)).toBe(true);
    expect(depthWithin('[{},{},{}]', 3, 3)).toBe(false);
  });
});
