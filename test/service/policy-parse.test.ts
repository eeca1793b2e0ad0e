/**
 * A policy agentd is sent is parsed off its event loop (kernel/policy/
 * parse-off-loop.ts): the YAML parser costs ~2–3 ms a KiB, and a
 * 1,000-rule replacement held the loop, and every agent and request with it,
 * ~0.5 s. On a real daemon: while a large replacement is parsed, agentd
 * answers /healthz within a fraction of what that parse takes at once (the
 * same text parsed in this process); a large policy that is wrong is refused
 * naming its line and field, as a small one is, and the old one stays.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePolicy } from '../../kernel/policy/load.ts';
import { startAgentd, type Agentd } from './helpers.ts';

const POLICY = `version: 1
name: parse-test
rules:
  - id: reads-ok
    effect: allow
    syscalls: [file.read]
    paths: ["/data/**"]
`;

/** large is POLICY with `n` more rules, one path each (~100 bytes a rule). */
const large = (n: number) => POLICY + Array.from({ length: n }, (_, i) => `  - id: area-${i}\n    effect: allow\n    syscalls: [file.read, file.write]\n    paths: ["/areas/${i}/**"]\n`).join('');

let agentd: Agentd;
beforeAll(async () => {
  agentd = await startAgentd('policy: policy.yaml\n', { 'policy.yaml': POLICY });
});
afterAll(() => agentd.remove());

describe('a large policy sent to agentd', () => {
  it('is parsed off the event loop: agentd answers meanwhile, and then decides under it', async () => {
    const source = large(3000);
    expect(source.length).toBeGreaterThan(100 * 1024);
    const began = performance.now();
    const expected = parsePolicy(source, 'large.yaml');
    const inlineMs = performance.now() - began;
    const done = new AbortController();
    let longest = 0;
    const probing = (async () => {
      while (!done.signal.aborted) {
        const sent = performance.now();
        expect((await agentd.api('GET', '/healthz')).status).toBe(200);
        longest = Math.max(longest, performance.now() - sent);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const put = await agentd.api('PUT', '/v1/policy', { source, filename: 'large.yaml' });
    done.abort();
    await probing;
    expect(put).toMatchObject({ status: 200, body: { ok: true, version: expected.version } });
    expect((await agentd.api('GET', '/v1/policy')).body).toMatchObject({ version: expected.version, rules: 3001 });
    // Parsed on the loop, a probe waited about the whole parse (found: 0.5 s of 0.5 s); compiling the document it read back costs ~15 µs a rule here.
    expect({ longest: Math.round(longest), inline: Math.round(inlineMs), fraction: longest < inlineMs / 2 }).toMatchObject({ fraction: true });
    expect((await agentd.api('POST', '/v1/evaluate', { agent: 'a', action: 'file.write', resource: '/areas/2999/x' })).body).toMatchObject({ decision: 'allow', rule: 'area-2999' });
  });

  it('sent before a small one is not put in force over it: changes take effect in the order they came (a review)', async () => {
    const big = agentd.api('PUT', '/v1/policy', { source: large(3000), filename: 'big.yaml' });
    await new Promise((r) => setTimeout(r, 30));
    const small = await agentd.api('PUT', '/v1/policy', { source: POLICY, filename: 'small.yaml' });
    expect([(await big).status, small.status]).toEqual([200, 200]);
    expect((await agentd.api('GET', '/v1/policy')).body).toMatchObject({ file: 'small.yaml', rules: 1 });
  });

  it('that is wrong is refused naming its line and field, the old policy kept; validate reads it the same way', async () => {
    const before = (await agentd.api('GET', '/v1/policy')).body.version;
    const source = `${large(800)}  - id: last\n    effect: perhaps\n    syscalls: [file.read]\n`;
    const line = source.split('\n').findIndex((l) => l.includes('effect: perhaps')) + 1;
    const put = await agentd.api('PUT', '/v1/policy', { source, filename: 'wrong.yaml' });
    expect(put).toMatchObject({ status: 400, body: { ok: false, kept: before, line, column: 13, field: 'rules[801].effect' } });
    expect(put.body.error).toMatch(new RegExp(`^wrong\\.yaml:${line}:13: rules\\[801\\]\\.effect: `));
    expect((await agentd.api('GET', '/v1/policy')).body.version).toBe(before);
    expect(await agentd.api('POST', '/v1/policy/validate', { source, filename: 'wrong.yaml' })).toMatchObject({ status: 400, body: { ok: false, line, field: 'rules[801].effect' } });
    expect(await agentd.api('POST', '/v1/policy/validate', { source: large(800) })).toMatchObject({ status: 200, body: { ok: true, rules: 801 } });
  });
});
