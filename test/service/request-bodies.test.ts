/**
 * What agentd's JSON parser refuses before it parses: a body nested past
 * MAX_BODY_DEPTH (found by an attacker pass: one 4 MB body of nested arrays
 * held /healthz 0.76 s while JSON.parse ran, eight in parallel 2.4 s, before
 * any route check); prototype poisoning stays refused; ordinary bodies pass.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { depthWithin, MAX_BODY_DEPTH } from '../../kernel/service/json-body.ts';
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

  it('an own __proto__ key is still refused, and ordinary bodies pass', async () => {
    const poisoned = await agentd.api('POST', '/v1/policy/validate', undefined, { raw: '{"__proto__": {"x": 1}}' });
    expect(poisoned.status).toBe(400);
    const fine = await agentd.api('POST', '/v1/processes', { source: 'console.log(1);', filename: 'a.js' });
    expect(fine.status).toBe(201);
  });

  it('depthWithin counts brackets outside strings only, escapes included', () => {
    expect(depthWithin('[[["]]]]]]]"]]]', 3)).toBe(true);
    expect(depthWithin('[[[[]]]]', 3)).toBe(false);
    expect(depthWithin('{"a":"\\"[[[[","b":[{}]}', 3)).toBe(true);
  });
});
