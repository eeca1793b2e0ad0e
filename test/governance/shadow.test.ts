/**
 * A shadow policy in a kernel (kernel/policy/shadow.ts): every call of a
 * real agent is also decided under the shadow, which never changes what
 * happens; where it decides otherwise (another effect) a `shadow` record
 * follows the call's own, and the summary counts it by direction and
 * rules. The shadow counts its own limits, not the policy's.
 */
import { describe, expect, it } from 'vitest';
import type { MemoryDecisionLog } from '../../kernel/decision-log.ts';
import { Kernel } from '../../kernel/kernel.ts';
import { parsePolicy } from '../../kernel/policy/load.ts';
import { programFromSource } from '../../kernel/program.ts';
import { PolicyEngine } from '../../kernel/policy/engine.ts';
import { ShadowPolicy } from '../../kernel/policy/shadow.ts';
import type { PolicyRequest } from '../../abi/policy-request.ts';

const SELF = '  - { id: self, effect: allow, syscalls: [SYS_READ, SYS_WRITE, SYS_CLOSE, SYS_GETPID, SYS_EXIT, SYS_STAT, SYS_MKDIR] }\n';
const IN_FORCE = parsePolicy(`version: 1\nrules:\n${SELF}  - { id: own-files, effect: allow, syscalls: [SYS_OPEN, SYS_UNLINK], paths: ["/agent/\${agent}/**"] }\n  - { id: clock, effect: allow, syscalls: [SYS_EXEC], tools: [time.now] }\n`, 'in-force.yaml');
const CANDIDATE = parsePolicy(
  `version: 1\nrules:\n${SELF}  - { id: no-secrets, effect: deny, syscalls: [SYS_OPEN], paths: ["/agent/*/mem/secret/**"] }\n  - { id: own-files, effect: allow, syscalls: [SYS_OPEN, SYS_UNLINK], paths: ["/agent/\${agent}/**"] }\n  - { id: clock-once, effect: allow, syscalls: [SYS_EXEC], tools: [time.now], limits: { max_calls: 1 } }\n`,
  'candidate.yaml',
);

describe('a shadow policy', () => {
  it('changes nothing the agent sees; each call it decides otherwise is recorded after the call’s own record and counted', async () => {
    const kernel = new Kernel({ policy: IN_FORCE, stdout: () => {}, stderr: () => {} });
    kernel.setShadow(CANDIDATE);
    try {
      let out = '';
      const proc = kernel.spawn(
        programFromSource(
          'writer.js',
          "sys.writeFile('mem/notes.txt', 'a'); sys.mkdir('mem/secret'); sys.writeFile('mem/secret/key.txt', 'k'); console.log(sys.readFile('mem/secret/key.txt')); for (let i = 0; i < 3; i++) sys.exec('time.now'); console.log('done');",
        ),
        { agentId: 'writer', manifest: { capabilities: ['tool:time.now'] }, stdout: (c) => void (out += new TextDecoder().decode(c)) },
      );
      expect((await kernel.wait(proc.pid)).status).toBe(0);
      expect(out).toBe('k\ndone\n');
      const records = (kernel.recorder as MemoryDecisionLog).list();
      const shadows = records.filter((r) => r.type === 'shadow');
      expect(shadows.map((r) => ('detail' in r ? r.detail : ''))).toEqual([
        expect.stringMatching(new RegExp(`^record \\d+: shadow ${CANDIDATE.version} would deny SYS_OPEN /agent/writer/mem/secret/key\\.txt by rule no-secrets where the policy in force gave allow by rule own-files`)),
        expect.stringMatching(/would deny SYS_OPEN \/agent\/writer\/mem\/secret\/key\.txt by rule no-secrets/),
        expect.stringMatching(/would deny SYS_EXEC time\.now by rule clock-once where the policy in force gave allow by rule clock: limit: max_calls 1 reached$/),
        expect.stringMatching(/would deny SYS_EXEC time\.now by rule clock-once/),
      ]);
      // Each shadow record follows the record of the call it is about.
      for (const s of shadows) {
        const of = Number(/^record (\d+):/.exec('detail' in s ? s.detail : '')![1]);
        expect(records.find((r) => r.seq === of)).toMatchObject({ type: 'syscall', effect: 'allow' });
      }
      const summary = kernel.shadow!.summary();
      expect(summary.disagreements).toBe(4);
      expect(summary.decisions).toBeGreaterThanOrEqual(10);
      expect(summary.groups.map((g) => [g.direction, g.enforcedRule, g.shadowRule, g.count])).toEqual([
        ['allow->deny', 'own-files', 'no-secrets', 2],
        ['allow->deny', 'clock', 'clock-once', 2],
      ]);
      // The policy in force never counted the shadow's limit: three clock calls ran.
      expect(records.filter((r) => r.type === 'syscall' && r.syscall === 'SYS_EXEC' && r.effect === 'allow')).toHaveLength(3);
    } finally {
      await kernel.shutdown();
    }
  });

  it('a shadow identical to the policy in force never disagrees; cleared, nothing more is compared', async () => {
    const kernel = new Kernel({ policy: IN_FORCE, stdout: () => {}, stderr: () => {} });
    kernel.setShadow(IN_FORCE);
    try {
      const run = async () => {
        const proc = kernel.spawn(programFromSource('w.js', "sys.writeFile('mem/a.txt', 'a'); sys.exec('time.now');"), { agentId: 'same', manifest: { capabilities: ['tool:time.now'] } });
        expect((await kernel.wait(proc.pid)).status).toBe(0);
      };
      await run();
      const { decisions, disagreements } = kernel.shadow!.summary();
      expect([decisions > 0, disagreements]).toEqual([true, 0]);
      kernel.setShadow(undefined);
      await run();
      expect(kernel.shadow).toBeUndefined();
      expect((kernel.recorder as MemoryDecisionLog).list().filter((r) => r.type === 'shadow')).toEqual([]);
    } finally {
      await kernel.shutdown();
    }
  });
});

/** A seeded PRNG, so a failure can be replayed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** RULES: the pool policies are drawn from (paths, tools, labels, arguments, limits, flows of every kind the index files by). */
const POOL = [
  '{ effect: allow, syscalls: [SYS_OPEN], paths: ["/agent/${agent}/**"] }',
  '{ effect: deny, syscalls: [SYS_OPEN], paths: ["/agent/*/mem/secret/**"] }',
  '{ effect: require_approval, syscalls: [SYS_UNLINK], paths: ["/agent/${agent}/mem/**"] }',
  '{ effect: allow, syscalls: [SYS_UNLINK], paths: ["/shared/**"], access: [write] }',
  '{ effect: allow, syscalls: [SYS_EXEC], tools: [http.get], args: [{ arg: url, glob: "https://api.example.com/**" }] }',
  '{ effect: deny, syscalls: [SYS_EXEC], tools: [http.get], args: [{ arg: url, glob: "https://evil.example.net/**" }] }',
  '{ effect: allow, syscalls: [SYS_EXEC], tools: [shell.run], args: [{ arg: cmd, regex: "^git (status|log)( |$)" }] }',
  '{ effect: deny, syscalls: [SYS_EXEC], tools: [shell.run], args: [{ arg: cmd, regex: "^rm( |$)" }] }',
  '{ effect: allow, syscalls: [SYS_EXEC], labels: { team: red } }',
  '{ effect: deny, labels: { quarantine: "yes" } }',
  '{ effect: allow, syscalls: [SYS_EXEC], tools: [time.now], limits: { max_calls: 3 } }',
  '{ effect: allow, syscalls: [SYS_EXEC], tools: [http.get], limits: { rate: { count: 2, per: hour } } }',
  '{ effect: require_approval, syscalls: [SYS_EXEC], tools: [shell.run], labels: { team: blue } }',
  '{ effect: allow, agents: [ada], syscalls: [SYS_OPEN, SYS_UNLINK] }',
  '{ effect: deny, agents: [eve] }',
  '{ effect: allow, syscalls: [SYS_EXEC], tools: [shell.run], allow_flows: [vfs-to-exec] }',
  '{ effect: allow, syscalls: ["*"], access: [read] }',
];

function policyOf(indexes: readonly number[], name: string) {
  return parsePolicy(`version: 1\nrules:\n${indexes.map((i, n) => `  - { id: r${n}-${i}, ${POOL[i]!.slice(2)}`).join('\n')}\n`, name);
}

function requestOf(rand: () => number): PolicyRequest {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;
  const agentId = pick(['ada', 'bob', 'eve']);
  const labels = { team: pick(['red', 'blue', 'green']), ...(rand() < 0.1 ? { quarantine: 'yes' } : {}) };
  const kind = rand();
  if (kind < 0.4) {
    const syscall = pick(['SYS_OPEN', 'SYS_UNLINK']);
    const path = pick([`/agent/${agentId}/mem/a.txt`, `/agent/${agentId}/mem/secret/k`, '/agent/bob/mem/x', '/shared/data/y', `/agent/${agentId}/notes`]);
    return { agentId, labels, syscall, access: rand() < 0.5 ? 'read' : 'write', path, args: { path } };
  }
  const tool = pick(['http.get', 'shell.run', 'time.now']);
  const args = tool === 'http.get' ? { url: pick(['https://api.example.com/v1', 'https://evil.example.net/x', 'https://other.org/']) } : tool === 'shell.run' ? { cmd: pick(['git status', 'git push', 'rm -rf /', 'ls']) } : {};
  return { agentId, labels, syscall: 'SYS_EXEC', access: 'write', tool, args, ...(tool === 'shell.run' && rand() < 0.3 ? { flows: ['vfs-to-exec'] } : {}) };
}

describe('the shadow skips only requests no changed rule can match', () => {
  it('over many random policy changes and requests, skipping gives exactly the disagreements of deciding every request under both', () => {
    const rand = random(20261202);
    for (let round = 0; round < 60; round++) {
      const a = Array.from({ length: 4 + Math.floor(rand() * 10) }, () => Math.floor(rand() * POOL.length));
      const b = [...a];
      for (let m = 0; m < 1 + Math.floor(rand() * 3); m++) {
        const at = Math.floor(rand() * (b.length + 1));
        const what = rand();
        if (what < 0.4) b.splice(at, 0, Math.floor(rand() * POOL.length));
        else if (what < 0.7 && b.length > 1) b.splice(at % b.length, 1);
        else if (b.length > 1) b.reverse();
      }
      const enforced = policyOf(a, `a-${round}.yaml`);
      const engine = new PolicyEngine(enforced, () => 0);
      const candidate = policyOf(b, `b-${round}.yaml`);
      const skipping = new ShadowPolicy(candidate, () => 0);
      const full = new ShadowPolicy(candidate, () => 0);
      for (let i = 0; i < 300; i++) {
        const request = requestOf(rand);
        const decision = engine.decide(request);
        const fast = skipping.compare(request, decision, enforced);
        const slow = full.compare(request, decision);
        expect(fast?.shadow.effect, `round ${round}, request ${i}: ${JSON.stringify(request)} (a ${a.join(',')}; b ${b.join(',')})`).toBe(slow?.shadow.effect);
      }
    }
  });
});

describe('what the shadow reads (found by the attacker pass)', () => {
  const request: PolicyRequest = { agentId: 'a1', syscall: 'SYS_EXEC', tool: 'payment.send', access: 'write', args: { amount: 1 }, capabilities: new Set(), labels: {} };

  it('with risk escalation, rule order decides the effect: a reordered shadow is decided in full and its difference found', () => {
    const rules = ['  - { id: risky, effect: allow, syscalls: [SYS_EXEC], risk: critical }', '  - { id: plain, effect: allow, syscalls: [SYS_EXEC] }'];
    const enforced = parsePolicy(`version: 1\ndefaults: { escalate_risk: high }\nrules:\n${rules.join('\n')}\n`, 'a.yaml');
    const shadow = parsePolicy(`version: 1\ndefaults: { escalate_risk: high }\nrules:\n${rules.toReversed().join('\n')}\n`, 'b.yaml');
    const engine = new PolicyEngine(enforced);
    const decision = engine.decide(request);
    expect(decision.effect).toBe('require_approval');
    expect(new ShadowPolicy(shadow, Date.now, engine).compare(request, decision, enforced)?.shadow).toMatchObject({ effect: 'allow', rule: 'plain' });
  });

  it('the agent’s tokens and contract counters are the policy in force’s: a shadow set late still sees the history', () => {
    const base = `version: 1\ncontracts:\n  - { id: few-payments, tools: [payment.send], pre: ["counters.calls < 2"] }\nrules:\n  - { id: pay, effect: allow, syscalls: [SYS_EXEC], tools: [payment.send] }\n`;
    const enforced = parsePolicy(base, 'a.yaml');
    const engine = new PolicyEngine(enforced);
    for (let i = 0; i < 2; i++) {
      engine.decide(request);
      engine.afterward(request, { ok: true, value: {} });
    }
    engine.addTokens('a1', 5000);
    const decision = engine.precondition(request) ?? engine.decide(request);
    expect(decision).toMatchObject({ effect: 'deny', rule: 'contract:few-payments' });
    // Same contract, one more rule: the delta skips the request, and rightly (both see two calls).
    const same = new ShadowPolicy(parsePolicy(`${base}  - { id: clock, effect: allow, syscalls: [SYS_EXEC], tools: [time.now] }\n`, 'b.yaml'), Date.now, engine);
    expect(same.compare(request, decision, enforced)).toBeUndefined();
    // A budget the policy in force does not have: the shadow counts the tokens it already used.
    const budget = new ShadowPolicy(parsePolicy('version: 1\nrules:\n  - { id: pay, effect: allow, syscalls: [SYS_EXEC], tools: [payment.send], limits: { token_budget: 1000 } }\n', 'c.yaml'), Date.now, engine);
    expect(budget.compare(request, { effect: 'allow', rule: 'pay' }, enforced)?.shadow).toMatchObject({ effect: 'deny', reason: 'limit: token budget 1000 used up' });
  });
});
