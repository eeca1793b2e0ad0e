/**
 * Intent contracts (kernel/policy/contracts.ts): CEL pre-conditions deny
 * before the policy is asked, post-conditions and invariants send the
 * contract's signal after the call, each recorded with the contract and the
 * expression; an expression that errors fails closed; hostile or broken
 * expressions are refused when the policy loads, naming file, line and
 * field. Risk escalation turns an allow of a risky rule into a question.
 * Agents here run in real isolates; the payment tool is a real tool of the
 * registry.
 */
import { describe, expect, it } from 'vitest';
import type { MemoryDecisionLog } from '../../kernel/decision-log.ts';
import { Kernel } from '../../kernel/kernel.ts';
import { parsePolicy, PolicyError } from '../../kernel/policy/load.ts';
import { programFromSource } from '../../kernel/program.ts';
import { ToolRegistry, type ToolSpec } from '../../kernel/tools/registry.ts';
import type { Approver, PendingApproval } from '../../kernel/approvals.ts';

/** payment.send: answers what it sent; a `to` of "nobody" makes it answer `status: "bounced"`. */
const PAY: ToolSpec = {
  name: 'payment.send',
  description: 'sends a payment',
  inputSchema: { type: 'object', properties: { amount: { type: 'number' }, to: { type: 'string' } }, required: ['amount', 'to'] },
  risk: 'high',
  timeoutMs: 1000,
  maxOutputBytes: 1000,
  source: 'test',
  run(args) {
    const { amount, to } = args as { amount: number; to: string };
    return { status: to === 'nobody' ? 'bounced' : 'sent', amount, to };
  },
};

const RULES = `rules:
  - { id: payments, effect: allow, syscalls: [SYS_EXEC], tools: [payment.send] }
  - { id: the-rest, effect: allow, syscalls: [SYS_READ, SYS_WRITE, SYS_CLOSE, SYS_GETPID, SYS_EXIT, SYS_CHECKPOLICY] }
`;

const CONTRACTS = `version: 1
contracts:
  - id: small-payments
    syscalls: [SYS_EXEC]
    tools: [payment.send]
    pre: ["request.args.amount <= 500", "agent.labels.team == 'finance'"]
    post: ["result.value.output.status == 'sent'"]
    invariants: ["counters.calls <= 3"]
${RULES}`;

interface Run {
  readonly status: number | null;
  readonly signal: string | undefined;
  readonly out: string;
}

async function run(kernel: Kernel, source: string, labels: Record<string, string> = { team: 'finance' }): Promise<Run> {
  let out = '';
  const proc = kernel.spawn(programFromSource('payer.js', source), { agentId: 'payer', manifest: { labels, capabilities: ['tool:payment.send'] }, stdout: (c) => void (out += new TextDecoder().decode(c)), stderr: () => {} });
  const exit = await kernel.wait(proc.pid);
  return { status: exit.status, signal: exit.reason.kind === 'signal' ? exit.reason.signal : undefined, out: out.trim() };
}

const pay = (amount: number, to = 'bob') => `try { const r = sys.exec('payment.send', { amount: ${amount}, to: ${JSON.stringify(to)} }); console.log(r.output.status); } catch (e) { console.log(e.errno); }`;

function kernelWith(policy: string, approver?: Approver): Kernel {
  const tools = new ToolRegistry();
  tools.register(PAY);
  return new Kernel({ policy: parsePolicy(policy, 'contracts.yaml'), tools, stdout: () => {}, stderr: () => {}, ...(approver ? { approver } : {}) });
}

const records = (kernel: Kernel) => (kernel.recorder as MemoryDecisionLog).list();

describe('intent contracts', () => {
  it('a failed pre-condition denies before the policy is asked, recorded with the contract and the expression; a passing one lets the policy decide', async () => {
    const kernel = kernelWith(CONTRACTS);
    try {
      expect((await run(kernel, `${pay(100)} ${pay(900)}`)).out).toBe('sent\nEACCES');
      expect((await run(kernel, pay(100), { team: 'sales' })).out).toBe('EACCES');
      const denied = records(kernel).filter((r) => r.type === 'syscall' && r.effect === 'deny');
      expect(denied.map((r) => (r.type === 'syscall' ? `${r.rule}: ${r.reason}` : ''))).toEqual([
        'contract:small-payments: pre-condition `request.args.amount <= 500` of contract small-payments is false',
        "contract:small-payments: pre-condition `agent.labels.team == 'finance'` of contract small-payments is false",
      ]);
    } finally {
      await kernel.shutdown();
    }
  });

  it('a failed post-condition sends the contract’s signal (SIGPOLICY) after the call, recorded; so does a broken invariant', async () => {
    const kernel = kernelWith(CONTRACTS);
    try {
      const bounced = await run(kernel, `${pay(10, 'nobody')} console.log('after');`);
      expect([bounced.signal, bounced.out]).toEqual(['SIGPOLICY', '']);
      const broken = records(kernel).filter((r) => r.type === 'contract');
      expect(broken.map((r) => ('detail' in r ? r.detail : ''))).toEqual([expect.stringMatching(/^contract:small-payments broken after SYS_EXEC \(record \d+\): post-condition `result\.value\.output\.status == 'sent'` of contract small-payments is false; SIGPOLICY$/)]);
      // counters.calls counts this agent's calls of the contract that ran: the one above, then two, then the fourth breaks the invariant.
      const many = await run(kernel, `${pay(1)} ${pay(2)} ${pay(3)} console.log('not reached');`);
      expect([many.signal, many.out]).toEqual(['SIGPOLICY', 'sent\nsent']);
      expect(records(kernel).filter((r) => r.type === 'contract').at(-1)).toMatchObject({ detail: expect.stringContaining('invariant `counters.calls <= 3` of contract small-payments is false') });
      // The agent's trust paid for both breaches.
      expect(kernel.trust.score('payer')).toBeLessThan(1000);
    } finally {
      await kernel.shutdown();
    }
  });

  it('an expression that errors (a missing key, a type mismatch) is a deny, never an allow', async () => {
    const kernel = kernelWith(`version: 1
contracts:
  - { id: needs-memo, tools: [payment.send], pre: ["request.args.memo.size() > 0"] }
  - { id: typed, syscalls: [SYS_GETPID], pre: ["request.args.nothing > 'x'"] }
${RULES}`);
    try {
      expect((await run(kernel, `${pay(1)} try { sys.getpid(); console.log('pid'); } catch (e) { console.log(e.errno); }`)).out).toBe('EACCES\nEACCES');
      const reasons = records(kernel).filter((r) => r.type === 'syscall' && r.effect === 'deny').map((r) => (r.type === 'syscall' ? r.reason : ''));
      expect(reasons).toEqual([expect.stringMatching(/^pre-condition `request\.args\.memo\.size\(\) > 0` of contract needs-memo could not be evaluated \(.*memo.*\): failed closed$/), expect.stringMatching(/contract typed could not be evaluated .*failed closed$/)]);
    } finally {
      await kernel.shutdown();
    }
  });

  it('arguments too large to walk fail the pre-condition (fail closed) instead of costing ring 0 their size', async () => {
    const kernel = kernelWith(CONTRACTS);
    try {
      const out = (await run(kernel, `try { sys.exec('payment.send', { amount: 1, to: 'bob', extra: Array.from({ length: 100 }, () => Array.from({ length: 200 }, (_, i) => i)) }); console.log('ran'); } catch (e) { console.log(e.errno + ' ' + e.message); }`)).out;
      expect(out).toMatch(/^EACCES .*not evaluated: the call's arguments are too large to check \(they hold more than 10000 values\): failed closed$/);
    } finally {
      await kernel.shutdown();
    }
  });

  it('a long string is not read either: a comprehension calling contains on it would cost its length times the list (found by the attacker pass)', async () => {
    const kernel = kernelWith(`version: 1
contracts:
  - { id: no-leaks, tools: [payment.send], pre: ["request.args.words.all(w, !request.args.to.contains(w))"] }
${RULES}`);
    try {
      const out = (await run(kernel, `try { sys.exec('payment.send', { amount: 1, to: 'x'.repeat(60000), words: Array.from({ length: 250 }, (_, i) => 'y' + i) }); console.log('ran'); } catch (e) { console.log(e.errno + ' ' + e.message); }`)).out;
      expect(out).toMatch(/^EACCES .*not evaluated: the call's arguments are too large to check \(a string in them is longer than 8192 characters\): failed closed$/);
    } finally {
      await kernel.shutdown();
    }
  });

  it('a comparison across types is false, not an error: a contract that checks the type holds whatever shape the agent sends', async () => {
    const kernel = kernelWith(`version: 1
contracts:
  - { id: no-eve, tools: [payment.send], pre: ["type(request.args.to) == string && request.args.to != 'eve'"] }
${RULES}`);
    try {
      expect((await run(kernel, `${pay(1, 'bob')} for (const to of ['eve', ['eve'], { 0: 'eve' }]) { try { sys.exec('payment.send', { amount: 1, to }); console.log('ran'); } catch (e) { console.log(e.errno); } }`)).out).toBe('sent\nEACCES\nEACCES\nEACCES');
    } finally {
      await kernel.shutdown();
    }
  });

  it('defaults.escalate_risk: an allow by a rule at that risk or above becomes a question (rule kernel.risk-escalation); below it stays an allow', async () => {
    const asked: PendingApproval[] = [];
    const policy = `version: 1\ndefaults: { escalate_risk: high }\n${RULES.replace('tools: [payment.send] }', 'tools: [payment.send], risk: critical }')}`;
    const kernel = kernelWith(policy, async (q) => {
      asked.push(q);
      return { approved: true, approver: 'test', reason: 'fine' };
    });
    try {
      expect((await run(kernel, pay(5))).out).toBe('sent');
      expect(asked.map((q) => [q.rule, q.reason])).toEqual([['kernel.risk-escalation', 'rule payments allows it at risk critical; the policy asks a human from risk high (defaults.escalate_risk)']]);
      const low = kernelWith(policy.replace('risk: critical', 'risk: medium'), async (q) => {
        asked.push(q);
        return { approved: false, approver: 'test', reason: 'no' };
      });
      expect((await run(low, pay(5))).out).toBe('sent');
      expect(asked).toHaveLength(1);
      await low.shutdown();
    } finally {
      await kernel.shutdown();
    }
  });
});

describe('contracts that do not load', () => {
  const refused: Record<string, { expr: string; says: RegExp }> = {
    'a syntax error': { expr: 'request.args.amount <=', says: /is not a CEL expression the kernel accepts/ },
    'not a bool': { expr: 'request.args.amount + 1', says: /must come to a bool, not/ },
    'an unknown variable': { expr: 'secrets.key == 1', says: /is not a CEL expression the kernel accepts|does not type-check/ },
    'deep nesting': { expr: `${'('.repeat(60)}true${')'.repeat(60)}`, says: /is not a CEL expression the kernel accepts/ },
    'a huge list literal': { expr: `request.args.amount in [${Array.from({ length: 200 }, (_, i) => i).join(', ')}]`, says: /is not a CEL expression the kernel accepts/ },
    'a comprehension in a comprehension': { expr: 'request.args.list.all(x, request.args.list.exists(y, x == y))', says: /comprehension \(exists\) inside another .* refused/ },
    'a JavaScript regex': { expr: "request.args.to.matches('^(a+)+$')", says: /`matches` is a JavaScript regex here, not RE2/ },
    'cel.bind, which can double a value at each level (found by the attacker pass)': { expr: "cel.bind(a, request.args.to + request.args.to, cel.bind(b, a + a, b.size() > 0))", says: /`cel\.bind` lets each level reuse what the last one built/ },
  };
  for (const [name, { expr, says }] of Object.entries(refused)) {
    it(`refuses ${name}, naming file, line and field`, () => {
      const text = `version: 1\ncontracts:\n  - id: c\n    tools: [payment.send]\n    pre:\n      - ${JSON.stringify(expr)}\n${RULES}`;
      let error: unknown;
      try {
        parsePolicy(text, 'hostile.yaml');
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(PolicyError);
      expect(String((error as Error).message)).toMatch(/^hostile\.yaml:6:\d+: contracts\[0\]\.pre\[0\]: /);
      expect(String((error as Error).message)).toMatch(says);
    });
  }

  it('refuses an expression longer than 2,048 characters and a duplicate contract id', () => {
    const long = `request.args.to == '${'x'.repeat(2100)}'`;
    expect(() => parsePolicy(`version: 1\ncontracts:\n  - { id: c, pre: [${JSON.stringify(long)}] }\n${RULES}`, 'long.yaml')).toThrow(/long\.yaml:3:\d+: contracts\[0\]\.pre\[0\]/);
    expect(() => parsePolicy(`version: 1\ncontracts:\n  - { id: c, pre: ['true'] }\n  - { id: c, pre: ['true'] }\n${RULES}`, 'dup.yaml')).toThrow(/dup\.yaml:4:\d+: contracts\[1\]\.id: duplicate contract id 'c'/);
  });
});

describe('which contracts cover a call', () => {
  it('by syscall and tool, literal or glob, in document order, the same however many calls and whatever tool names agents choose', () => {
    const set = parsePolicy(
      `version: 1
contracts:
  - { id: pay, tools: [payment.send], pre: ['true'] }
  - { id: any-pay, tools: ['pay*'], pre: ['true'] }
  - { id: exec-all, syscalls: [SYS_EXEC], pre: ['true'] }
  - { id: everything, pre: ['true'] }
${RULES}`,
      'covering.yaml',
    ).compiled.contracts;
    const ids = (syscall: string, tool?: string) => set.covering(syscall, tool).map((c) => c.id);
    for (let round = 0; round < 3; round++) {
      expect(ids('SYS_EXEC', 'payment.send')).toEqual(['pay', 'any-pay', 'exec-all', 'everything']);
      expect(ids('SYS_EXEC', 'payroll')).toEqual(['any-pay', 'exec-all', 'everything']);
      expect(ids('SYS_EXEC', `made-up-${round}`)).toEqual(['exec-all', 'everything']);
      expect(ids('SYS_OPEN')).toEqual(['everything']);
      expect(ids('payment.send', 'payment.send')).toEqual(['pay', 'any-pay', 'everything']);
    }
  });
});
