/**
 * Approval gates: require_approval blocks only the calling agent until an
 * operator answers (or the timeout denies); the answer is recorded with its
 * approver; no agent can approve its own request, through any syscall or by
 * naming itself; `agentctl run --approve=…` answers as documented.
 */
import { firstValueFrom } from 'rxjs';
import { filter } from 'rxjs/operators';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryDecisionLog } from '../../kernel/decision-log.ts';
import { Kernel } from '../../kernel/kernel.ts';
import { defaultPolicy } from '../../kernel/policy/default.ts';
import { parsePolicy } from '../../kernel/policy/load.ts';
import { programFromSource } from '../../kernel/program.ts';
import { ApprovalGate, KEEP_ANSWERED_PER_AGENT, MAX_PENDING_PER_AGENT, type ApprovalEvent, type PendingApproval } from '../../kernel/approvals.ts';
import { chainApprover, MAX_RUNNING, type ChainStep } from '../../kernel/service/approvers/chain.ts';
import { SYSCALL_TABLE } from '../../syscalls/table.ts';
import { capture } from '../helpers.ts';
import { agentctl, scratch } from './helpers.ts';

const files = scratch();
afterAll(() => files.remove());

/** The default policy plus one rule: deleting memory needs an operator. */
const APPROVAL_RULE = `  - id: deletes-need-approval
    effect: require_approval
    syscalls: [SYS_UNLINK]
    paths: ["/agent/\${agent}/mem/**"]
    reason: deleting memory needs an operator
`;
function policyWith(timeoutMs: number) {
  const base = defaultPolicy().source.replace('rules:\n', `defaults: { approval_timeout_ms: ${timeoutMs} }\nrules:\n${APPROVAL_RULE}`);
  return parsePolicy(base, 'approvals.yaml');
}
const POLICY = policyWith(60_000);

const ASKER = `
sys.writeFile('mem/x', 'keep me?');
let outcome;
try { sys.unlink('mem/x'); outcome = 'deleted'; } catch (e) { outcome = e.errno + ': ' + e.message; }
console.log(outcome);
`;

/** nextQuestion resolves with the next approval the gate is asked for. */
function nextQuestion(kernel: Kernel): Promise<PendingApproval> {
  return firstValueFrom(kernel.approvals.events.pipe(filter((e): e is Extract<ApprovalEvent, { kind: 'asked' }> => e.kind === 'asked'))).then((e) => e.approval);
}

/** start spawns ASKER as agent `a` and resolves once its unlink waits for an answer. */
async function start(kernel: Kernel) {
  const out = capture();
  const question = nextQuestion(kernel);
  const proc = kernel.spawn(programFromSource('asker.js', ASKER), { agentId: 'a', stdout: out.sink });
  const approval = await question;
  return { proc, out, approval, exit: () => kernel.wait(proc.pid) };
}

function approvalRecords(kernel: Kernel): string[] {
  return (kernel.recorder as MemoryDecisionLog).list().flatMap((r) => (r.type === 'approval' ? [r.detail] : []));
}

describe('require_approval blocks the caller until answered', () => {
  it('only the caller waits: another agent runs to completion meanwhile; approving runs the call', async () => {
    const kernel = new Kernel({ policy: POLICY });
    const { proc, out, approval, exit } = await start(kernel);
    expect(approval).toMatchObject({ pid: proc.pid, agentId: 'a', syscall: 'SYS_UNLINK', path: '/agent/a/mem/x', rule: 'deletes-need-approval', reason: 'deleting memory needs an operator' });
    const busy = capture();
    const other = kernel.spawn(programFromSource('busy.js', "for (let i = 0; i < 200; i++) sys.writeFile('mem/f' + i, 'x'); console.log('done');"), { agentId: 'b', stdout: busy.sink });
    expect((await kernel.wait(other.pid)).status).toBe(0);
    expect(busy.text).toBe('done\n');
    expect([proc.exit, kernel.approvals.list().map((p) => p.id), (await kernel.vfs('a').stat('/agent/a/mem/x')).type]).toEqual([undefined, [approval.id], 'file']);
    kernel.approvals.answer(approval.id, true, 'operator:alice', 'looks fine');
    expect((await exit()).status).toBe(0);
    expect(out.text).toBe('deleted\n');
    expect(() => kernel.vfs('a').stat('/agent/a/mem/x')).toThrow(expect.objectContaining({ errno: 'ENOENT' }));
    expect(kernel.approvals.list()).toEqual([]);
  });

  it('a denial is EACCES naming the approver and reason; nothing is deleted', async () => {
    const kernel = new Kernel({ policy: POLICY });
    const { out, approval, exit } = await start(kernel);
    kernel.approvals.answer(approval.id, false, 'operator:bob', 'not today');
    await exit();
    expect(out.text).toBe('EACCES: SYS_UNLINK not approved by operator:bob: not today\n');
    expect((await kernel.vfs('a').stat('/agent/a/mem/x')).type).toBe('file');
  });

  it('no answer within approval_timeout_ms is a deny by the approver "timeout"', async () => {
    const kernel = new Kernel({ policy: policyWith(30) });
    const { out, exit } = await start(kernel);
    await exit();
    expect(out.text).toBe('EACCES: SYS_UNLINK not approved by timeout: no answer within 30 ms\n');
    expect(approvalRecords(kernel)).toEqual(['denied SYS_UNLINK /agent/a/mem/x by timeout: no answer within 30 ms']);
  });

  it('the decision and then the answer are on the record, with approver, reason and policy version', async () => {
    const kernel = new Kernel({ policy: POLICY });
    const { approval, exit } = await start(kernel);
    kernel.approvals.answer(approval.id, true, 'operator:alice', 'looks fine');
    await exit();
    const records = (kernel.recorder as MemoryDecisionLog).list();
    const asked = records.findIndex((r) => r.type === 'syscall' && r.syscall === 'SYS_UNLINK');
    const answered = records.findIndex((r) => r.type === 'approval');
    expect(records[asked]).toMatchObject({ effect: 'require_approval', rule: 'deletes-need-approval', path: '/agent/a/mem/x', policyVersion: POLICY.version });
    expect(records[answered]).toMatchObject({ agentId: 'a', detail: 'granted SYS_UNLINK /agent/a/mem/x by operator:alice: looks fine', policyVersion: POLICY.version });
    expect(answered).toBeGreaterThan(asked);
  });

  it('answering an unknown id is ESRCH; an already answered one EEXIST naming the answer (it was ESRCH, while the webhook callback said 409 EEXIST)', async () => {
    const kernel = new Kernel({ policy: POLICY });
    const { approval, exit } = await start(kernel);
    expect(() => kernel.approvals.answer('ap-999', true, 'operator')).toThrow(expect.objectContaining({ errno: 'ESRCH' }));
    kernel.approvals.answer(approval.id, false, 'operator');
    await exit();
    expect(() => kernel.approvals.answer(approval.id, true, 'operator')).toThrow(expect.objectContaining({ errno: 'EEXIST', message: `approval ${approval.id} was already answered (denied by operator)` }));
  });
});

describe('an agent can never approve its own request', () => {
  const maxNr = Math.max(20, ...SYSCALL_TABLE.map((r) => r.nr + 2));
  const ATTACKER = `
    const [askerPid, id] = sys.args;
    const attempts = [[], [id], [id, true], [id, true, 'operator'], [{ id, approved: true, approver: 'operator' }], ['approve', id],
      [Number(askerPid), 'SIGCONT'], [Number(askerPid), 'SIGKILL'], ['SYS_UNLINK', ['mem/x']], ['policy/approvals', 'w'], ['mem/x'], ['operator', { approved: true }]];
    const seen = [];
    for (let nr = 0; nr <= ${maxNr}; nr++) {
      for (const args of attempts) {
        if (nr === SYS.SYS_EXIT && typeof args[0] === 'number') continue;
        const r = syscall(nr, ...args);
        seen.push(r && 'errno' in r ? r.errno : 'ok');
      }
    }
    const writes = ['policy/approvals', 'policy/policy.yaml', 'policy/VERSION', '/agent/a/policy/' + id].map((p) => {
      try { sys.writeFile(p, 'approved ' + id); return 'ok'; } catch (e) { return e.errno; }
    });
    const check = sys.checkPolicy('SYS_UNLINK', ['mem/x']);
    console.log('\\n' + JSON.stringify({ tried: seen.length, writes, check: check.effect }));
  `;

  it('through every syscall number, SYS_CHECKPOLICY and the policy mount: the approval stays pending', async () => {
    const kernel = new Kernel({ policy: POLICY });
    const { proc, out, approval, exit } = await start(kernel);
    const attackerOut = capture();
    // The attacker's own require_approval calls (its unlink of mem/x) wait like any other: the operator denies them.
    const own = kernel.approvals.events.subscribe((e) => {
      if (e.kind === 'asked' && e.approval.pid === attacker.pid) kernel.approvals.answer(e.approval.id, false, 'operator', 'attacker');
    });
    const attacker = kernel.spawn(programFromSource('attacker.js', ATTACKER), { agentId: 'a', argv: [String(proc.pid), approval.id], stdout: attackerOut.sink });
    const ended = await kernel.wait(attacker.pid);
    own.unsubscribe();
    expect(ended.status, JSON.stringify(ended.reason)).toBe(0);
    const result = JSON.parse(attackerOut.text.trim().split('\n').at(-1)!) as { tried: number; writes: string[]; check: string };
    expect(result.tried).toBeGreaterThan(20 * 11);
    expect(result.writes).toEqual(['EROFS', 'EROFS', 'EROFS', 'EROFS']);
    expect(result.check).toBe('require_approval');
    // Still pending, and the asker still waits.
    expect(kernel.approvals.list()).toEqual([approval]);
    expect(proc.exit).toBeUndefined();
    expect(approvalRecords(kernel).filter((d) => !d.endsWith('by operator: attacker'))).toEqual([]);
    kernel.approvals.answer(approval.id, false, 'operator', 'test over');
    await exit();
    expect(out.text).toBe('EACCES: SYS_UNLINK not approved by operator: test over\n');
  });

  it('answer() naming the agent itself, as "agent:<id>" or the bare id, is EPERM', async () => {
    const kernel = new Kernel({ policy: POLICY });
    const { approval, exit } = await start(kernel);
    for (const self of ['a', 'agent:a']) expect(() => kernel.approvals.answer(approval.id, true, self, 'me')).toThrow(expect.objectContaining({ errno: 'EPERM' }));
    expect(kernel.approvals.list()).toEqual([approval]);
    kernel.approvals.answer(approval.id, true, 'agent:b', 'a peer may approve');
    await exit();
    expect(approvalRecords(kernel)).toEqual(['granted SYS_UNLINK /agent/a/mem/x by agent:b: a peer may approve']);
  });
});

describe('agentctl run --approve', () => {
  const policy = files.write('approve.yaml', POLICY.source);
  const program = files.write('deleter.ts', `
for (const name of ['a', 'b']) sys.writeFile('mem/' + name, name);
for (const name of ['a', 'b']) {
  try { sys.unlink('mem/' + name); console.log(name + ': deleted'); } catch (err) { console.log(name + ': ' + (err as SyscallError).message); }
}
`);
  const run = (approve: string, input?: string) => agentctl(['run', program, '--policy', policy, '--agent', 'n', `--approve=${approve}`], { input });
  const PROMPT = '⚠  agent n (pid 1) asks for SYS_UNLINK on /agent/n/mem/';

  it('allow and deny answer every question without a prompt', async () => {
    const [allow, deny] = await Promise.all([run('allow'), run('deny')]);
    expect([allow.status, allow.stdout, allow.stderr]).toEqual([0, 'a: deleted\nb: deleted\n', '']);
    expect([deny.status, deny.stderr]).toEqual([0, '']);
    expect(deny.stdout).toBe('a: SYS_UNLINK not approved by auto:deny: --approve=deny\nb: SYS_UNLINK not approved by auto:deny: --approve=deny\n');
  });

  it('prompt: y allows once, n denies, each question asked on stderr', async () => {
    const r = await run('prompt', 'y\nn\n');
    expect([r.status, r.stdout]).toEqual([0, 'a: deleted\nb: SYS_UNLINK not approved by operator: denied at the prompt\n']);
    expect(r.stderr.split(PROMPT).length - 1).toBe(2);
    expect(r.stderr).toContain('rule deletes-need-approval: deleting memory needs an operator');
  });

  it('prompt: A allows the rule for the rest of the run, asking once', async () => {
    const r = await run('prompt', 'A\n');
    expect([r.status, r.stdout]).toEqual([0, 'a: deleted\nb: deleted\n']);
    expect(r.stderr.split(PROMPT).length - 1).toBe(1);
  });

  it('prompt: an unknown answer is asked again; end of input denies', async () => {
    const [again, eof] = await Promise.all([run('prompt', 'maybe\ny\n\n'), run('prompt', '')]);
    expect([again.status, again.stdout]).toEqual([0, 'a: deleted\nb: SYS_UNLINK not approved by operator: denied at the prompt\n']);
    expect(again.stderr).toContain('please answer y, n or A');
    expect(eof.stdout).toBe('a: SYS_UNLINK not approved by operator: no answer (end of input)\nb: SYS_UNLINK not approved by operator: no answer (end of input)\n');
  });

  it('an unknown mode is a usage error', async () => {
    const r = await run('maybe');
    expect([r.status, r.stdout, r.stderr]).toEqual([2, '', 'agentctl: --approve must be deny, allow or prompt\n']);
  });
});

/** ticket is an outside agent's question number `i`. */
const ticket = (agentId: string, i: number) => ({ pid: 0, agentId, syscall: 'payment.send', rule: 'r', reason: `call ${i}`, timeoutMs: 60_000 });

describe('questions cost whoever answers them (found by the attacker pass)', () => {
  it('one agent has at most MAX_PENDING_PER_AGENT questions waiting: the next is denied at once, asking no one; another agent is not held back', async () => {
    let asked = 0;
    const gate = new ApprovalGate({ approver: () => void asked++ });
    const answers = Array.from({ length: MAX_PENDING_PER_AGENT + 6 }, (_, i) => gate.open(ticket('flood', i)).answer);
    const denied = await Promise.race([Promise.all(answers.slice(MAX_PENDING_PER_AGENT)), new Promise((r) => setTimeout(r, 1000, 'not answered'))]);
    expect(denied).toEqual(Array.from({ length: 6 }, () => ({ approved: false, approver: 'kernel', reason: `agent flood has ${MAX_PENDING_PER_AGENT} questions waiting: no more until some are answered` })));
    expect(gate.list()).toHaveLength(MAX_PENDING_PER_AGENT);
    gate.open(ticket('neighbour', 0));
    expect(gate.list()).toHaveLength(MAX_PENDING_PER_AGENT + 1);
    await new Promise((r) => setImmediate(r));
    expect(asked).toBe(MAX_PENDING_PER_AGENT + 1);
    // An answer makes room again.
    gate.answer(gate.list()[0]!.id, false, 'operator');
    gate.open(ticket('flood', 99));
    expect(gate.list().filter((q) => q.agentId === 'flood')).toHaveLength(MAX_PENDING_PER_AGENT);
    gate.close();
  });

  it("an agent's questions push out only its own answered ones (found by an attacker pass: 1,100 refused at once pushed out another agent's approval, and its grant could not be redeemed)", async () => {
    const gate = new ApprovalGate();
    const victim = gate.open(ticket('victim', 0));
    gate.answer(victim.id, true, 'operator');
    // The flood: MAX_PENDING_PER_AGENT wait, every other is denied at once, and each answered one is kept for a while.
    const flood = Array.from({ length: 2_000 }, (_, i) => gate.open(ticket('flood', i)).id);
    expect(gate.status(victim.id)).toMatchObject({ status: 'approved', answer: { approver: 'operator' } });
    const kept = flood.filter((id) => gate.status(id)?.status === 'denied');
    expect(kept).toHaveLength(KEEP_ANSWERED_PER_AGENT);
    // The flood's newest answers are the ones kept.
    expect(kept).toEqual(flood.slice(-KEEP_ANSWERED_PER_AGENT));
    gate.close();
  });

  it('a chain runs at most MAX_RUNNING questions at once; the rest wait their turn and are all answered', async () => {
    let now = 0;
    let most = 0;
    const slow: ChainStep = {
      name: 'command:slow',
      async ask() {
        most = Math.max(most, ++now);
        await new Promise((r) => setTimeout(r, 5));
        now--;
        return { verdict: 'deny', reason: 'no' };
      },
    };
    const approver = chainApprover([slow], () => {});
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => approver({ ...ticket('a', i), id: `q${i}`, requestedAt: 0, deadline: 60_000 })));
    expect(answers.every((a) => a?.approved === false && a.approver === 'command:slow')).toBe(true);
    expect(most).toBe(MAX_RUNNING);
  });
});
