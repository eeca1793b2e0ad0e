/**
 * A policy sent to agentd is parsed off its loop and compiled on it in
 * slices (compile.ts compilePolicySliced). An attacker pass found the
 * compile in one piece: a rule's args regex is compiled by RE2
 * (matchers.ts regexTest), `[a-z]{1,1000}` (13 characters) in ~4–30 ms,
 * and a rule may hold 64 of them; a 60 KB policy of 20 such rules, sent to
 * POST /v1/policy/validate (it installs nothing), held /healthz 2.6 s.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PolicyParser } from '../../kernel/policy/parse-off-loop.ts';
import { type Agentd, startAgentd } from './helpers.ts';

let agentd: Agentd;
beforeAll(async () => {
  agentd = await startAgentd();
});
afterAll(async () => {
  await agentd.remove();
});

function policy(rules: number): string {
  let src = 'version: 1\nname: re\nrules:\n';
  for (let r = 0; r < rules; r++) {
    src += `  - id: r${r}\n    effect: allow\n    syscalls: [x]\n    args:\n`;
    for (let a = 0; a < 64; a++) src += `      - {arg: a${a}, regex: "[a-z]{1,1000}${r}_${a}"}\n`;
  }
  return src;
}

/** worstHealthz is the slowest /healthz answer while `work` runs, ms, and what `work` answered. */
async function worstHealthz<T>(work: () => Promise<T>): Promise<[number, T]> {
  let worst = 0;
  const probing = { on: true };
  const probe = (async () => {
    while (probing.on) {
      const started = performance.now();
      await agentd.api('GET', '/healthz');
      worst = Math.max(worst, performance.now() - started);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  const answer = await work();
  probing.on = false;
  await probe;
  return [worst, answer];
}

describe('a policy sent to agentd does not hold its event loop', () => {
  it('installing 5,000 glob rules leaves /healthz answered within 250 ms', async () => {
    let src = 'version: 1\nname: globs\nrules:\n';
    for (let r = 0; r < 5000; r++) src += `  - { id: g${r}, effect: allow, syscalls: [SYS_OPEN], paths: ["/data/d${r}/**/*.txt"], agents: ["team-${r}-*"] }\n`;
    const [worst, res] = await worstHealthz(() => agentd.api('PUT', '/v1/policy', { source: src, filename: 'globs.yaml' }));
    expect(res.status).toBe(200);
    expect(worst).toBeLessThan(250);
  }, 60_000);

  it('validating 20 rules of 64 bounded-repeat regexes leaves /healthz answered within 250 ms', async () => {
    const [worst, res] = await worstHealthz(() => agentd.api('POST', '/v1/policy/validate', { source: policy(20) }));
    expect(res.status).toBe(200);
    expect(worst).toBeLessThan(250);
  }, 60_000);
});

describe('a short policy text', () => {
  const parser = new PolicyParser();
  afterAll(() => parser.close());

  it('is compiled in slices too: 2 KiB whose aliases repeat a list of regexes, the key spelled with an escape (a review: 0.9 s in one piece)', async () => {
    // One list of regexes, anchored once; every further rule names it by an alias.
    let src = 'version: 1\nname: re\nrules:\n  - id: r\n    effect: allow\n    syscalls: [x]\n    args: &A\n';
    for (let a = 0; a < 12; a++) src += `      - {arg: a${a}, "\\x72egex": "[a-z]{1,1000}${a}"}\n`;
    for (let r = 0; src.length < 1900; r++) src += `  - {id: r${r}, effect: allow, syscalls: [x], args: *A}\n`;
    expect(src.includes('regex')).toBe(false);
    // How long the loop is held at once: a callback due at the next turn runs only after the synchronous part of parse.
    let held = 0;
    const started = performance.now();
    const turned = new Promise<void>((resolve) =>
      setImmediate(() => {
        held = performance.now() - started;
        resolve();
      }),
    );
    const loaded = await parser.parse(src, 'p.yaml');
    await turned;
    expect(loaded.document.rules.length).toBeGreaterThan(20);
    expect(held).toBeLessThan(50);
  }, 30_000);
});
