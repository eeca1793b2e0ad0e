import { MemoryDecisionLog } from '../../kernel/decision-log.ts';
import { describe, expect, it } from 'vitest';
import { parsePolicy } from '../../kernel/policy/load.ts';
import { programFromSource } from '../../kernel/program.ts';
import { IDLE, kernelFor } from '../live-agents.ts';
import { report, run, syscallRecords } from './harness.ts';

const PROGRAMS = { idle: programFromSource('idle.js', IDLE), quick: programFromSource('quick.js', 'sys.getpid();') };

/** A kernel with an `idle` and a `quick` program to spawn, shut down after the test. */
const kernel = (options: Parameters<typeof kernelFor>[0] = {}) => kernelFor({ programs: PROGRAMS, ...options });

describe('SYS_SIGNAL', () => {
  it("returns the outcome for the caller's child: terminated, and wait sees the signal", async () => {
    const { value } = await report(`
      const child = sys.spawn('idle');
      report({ sent: raw(SYS.SYS_SIGNAL, child, 'SIGKILL'), waited: sys.wait(child) });
    `, { kernel: kernel() });
    expect(value).toEqual({ sent: { v: 'terminated' }, waited: { pid: 2, status: 132, signal: 'SIGKILL' } });
  });

  it('accepts SIGNAME, NAME, lower case and the number', async () => {
    const { value } = await report(`
      const child = sys.spawn('idle');
      const outcomes = ['SIGSTOP', 'cont', 'STOP', '2', 'sigcont', 'Stop', 'SIGCONT'].map((s) => sys.kill(child, s));
      sys.kill(child, 4);
      report({ outcomes, waited: sys.wait(child).signal });
    `, { kernel: kernel() });
    expect(value).toEqual({ outcomes: ['stopped', 'continued', 'stopped', 'continued', 'ignored', 'stopped', 'continued'], waited: 'SIGKILL' });
  });

  // Found by an attacker pass: a parent's SIGPOLICY (or 9, SIGTRUST) killed its child with what read as a policy kill.
  it("EPERM for the kernel's own signals, SIGPOLICY and SIGTRUST (by name or number), even to the caller's child; the child goes on; the log says deny", async () => {
    const log = new MemoryDecisionLog();
    const { value } = await report(`
      const child = sys.spawn('idle');
      report({ sent: ['SIGPOLICY', 'TRUST', '8', '9'].map((s) => raw(SYS.SYS_SIGNAL, child, s).errno), killed: sys.kill(child, 'SIGKILL'), waited: sys.wait(child).signal });
    `, { kernel: kernel({ recorder: log }) });
    expect(value).toEqual({ sent: ['EPERM', 'EPERM', 'EPERM', 'EPERM'], killed: 'terminated', waited: 'SIGKILL' });
    const denied = log.list().filter((r) => r.type === 'syscall' && r.syscall === 'SYS_SIGNAL' && r.effect === 'deny');
    expect(denied.map((r) => (r.type === 'syscall' ? r.reason : ''))).toEqual([
      'SIGPOLICY is sent by the kernel and by operators, not by processes',
      'SIGTRUST is sent by the kernel and by operators, not by processes',
      'SIGPOLICY is sent by the kernel and by operators, not by processes',
      'SIGTRUST is sent by the kernel and by operators, not by processes',
    ]);
  });

  it('a process may signal itself: SIGUSR1 checkpoints and it goes on; SIGTERM ends it with 133', async () => {
    const result = await run(`
      sys.writeFile('mem/note', 'x');
      console.log(sys.kill(sys.pid, 'SIGUSR1'));
      console.log(JSON.stringify(sys.readdir('state/checkpoints').map((e) => e.name)));
      sys.kill(sys.pid, 'SIGTERM');
      console.log('not reached');
    `, { kernel: kernel() });
    expect(result.stdout).toBe('checkpointed\n["1"]\n');
    expect(result.exit).toMatchObject({ status: 133, reason: { kind: 'signal', signal: 'SIGTERM', why: `SIGTERM from pid ${result.exit.pid}` } });
  });

  it('EPERM for a process that is not a child: a sibling, the parent, a grandchild; the log says deny, as the caller saw', async () => {
    const middle = programFromSource('middle.js', `
      const grandchild = sys.spawn('idle');
      const toParent = (() => { try { return sys.kill(Number(sys.args[0]), 'SIGTERM'); } catch (e) { return e.errno; } })();
      console.log(JSON.stringify({ grandchild, toParent }));
      ${IDLE}`);
    const k = kernel({ programs: { ...PROGRAMS, middle } });
    const sibling = k.spawn(PROGRAMS.idle, { agentId: 'sibling', stdout: () => {} });
    const { value } = await report(`
      const [r, w] = sys.pipe();
      const child = sys.spawn('middle', [String(sys.pid)], { stdout: w });
      const heard = JSON.parse(sys.decodeUtf8(sys.read(r)));
      report({
        heard,
        sibling: raw(SYS.SYS_SIGNAL, ${sibling.pid}, 'SIGTERM'),
        grandchild: raw(SYS.SYS_SIGNAL, heard.grandchild, 'SIGKILL'),
        message: syscall(SYS.SYS_SIGNAL, ${sibling.pid}, 'SIGKILL').message,
        child: sys.kill(child, 'SIGKILL'),
      });
    `, { kernel: k, agentId: 'p' });
    expect(value).toEqual({
      heard: { grandchild: 4, toParent: 'EPERM' },
      sibling: { errno: 'EPERM' },
      grandchild: { errno: 'EPERM' },
      message: 'SYS_SIGNAL denied by capability: pid 1 is not a child of pid 2: no capability signal:any',
      child: 'terminated',
    });
    // Whom a signal goes to is decided with the call: the record of each refused one is a deny, none an allow.
    const signals = (k.recorder as MemoryDecisionLog).list().filter((r) => r.type === 'syscall' && r.syscall === 'SYS_SIGNAL');
    expect(signals.map((r) => [r.type === 'syscall' && r.effect, r.type === 'syscall' && r.rule])).toEqual([
      ['deny', 'capability'],
      ['deny', 'capability'],
      ['deny', 'capability'],
      ['deny', 'capability'],
      ['allow', expect.any(String)],
    ]);
    expect(sibling.exit).toBeUndefined();
    expect(k.get(4)?.exit).toBeUndefined();
  });

  it('with the signal:any capability any process may be signalled', async () => {
    const k = kernel();
    const victim = k.spawn(PROGRAMS.idle, { agentId: 'victim', stdout: () => {} });
    const { value } = await report(`report(sys.kill(${victim.pid}, 'SIGTERM'));`, { kernel: k, manifest: { capabilities: ['signal:any'] } });
    expect(value).toBe('terminated');
    expect((await victim.exited).status).toBe(133);
  });

  it('ESRCH for no such process and for a reaped child', async () => {
    const { value } = await report(`
      const child = sys.spawn('quick');
      sys.wait(child);
      report({ reaped: raw(SYS.SYS_SIGNAL, child, 'SIGKILL'), unknown: raw(SYS.SYS_SIGNAL, 12345, 'SIGKILL'), max: raw(SYS.SYS_SIGNAL, 2 ** 31 - 1, 'SIGINT') });
    `, { kernel: kernel() });
    expect(value).toEqual({ reaped: { errno: 'ESRCH' }, unknown: { errno: 'ESRCH' }, max: { errno: 'ESRCH' } });
  });

  it('EINVAL for a signal that is not in the table', async () => {
    const { value } = await report(`
      const child = sys.spawn('idle');
      report(['SIGNOPE', '7', '0', '', 'SIGHUP', 'SIG', '04x'].map((s) => raw(SYS.SYS_SIGNAL, child, s)).concat([sys.kill(child, 'SIGKILL')]));
    `, { kernel: kernel() });
    expect(value).toEqual([...Array.from({ length: 7 }, () => ({ errno: 'EINVAL' })), 'terminated']);
  });

  it('EINVAL before any check for malformed arguments, since decoding comes first', async () => {
    const { value } = await report(`
      report([
        raw(SYS.SYS_SIGNAL, 0, 'SIGTERM'),
        raw(SYS.SYS_SIGNAL, -1, 'SIGTERM'),
        raw(SYS.SYS_SIGNAL, 1.5, 'SIGTERM'),
        raw(SYS.SYS_SIGNAL, '1', 'SIGTERM'),
        raw(SYS.SYS_SIGNAL, 2 ** 31, 'SIGTERM'),
        raw(SYS.SYS_SIGNAL, { pid: 1 }, 'SIGTERM'),
        raw(SYS.SYS_SIGNAL, 1, 9),
        raw(SYS.SYS_SIGNAL, 1, { signal: 'SIGTERM' }),
        raw(SYS.SYS_SIGNAL, 1, 'SIG\\0TERM'),
        raw(SYS.SYS_SIGNAL, 1),
        raw(SYS.SYS_SIGNAL),
        raw(SYS.SYS_SIGNAL, 1, 'SIGTERM', 'extra'),
      ]);
    `);
    expect(value).toEqual(Array.from({ length: 12 }, () => ({ errno: 'EINVAL' })));
  });

  it('ENAMETOOLONG for a signal name over 32 characters', async () => {
    const { value } = await report("report(raw(SYS.SYS_SIGNAL, 1, 'S'.repeat(33)));");
    expect(value).toEqual({ errno: 'ENAMETOOLONG' });
  });

  it('EACCES under a policy with no rule for SYS_SIGNAL, and the child lives', async () => {
    const policy = parsePolicy('version: 1\nrules:\n  - id: spawn-only\n    effect: allow\n    syscalls: [SYS_SPAWN, SYS_WRITE]\n', 'spawn-only.yaml');
    const k = kernel({ policy });
    const { value, result } = await report("const child = sys.spawn('idle'); report({ child, r: raw(SYS.SYS_SIGNAL, child, 'SIGKILL'), message: syscall(SYS.SYS_SIGNAL, child, 'SIGKILL').message });", { kernel: k });
    expect(value).toEqual({ child: 2, r: { errno: 'EACCES' }, message: 'SYS_SIGNAL denied by default-deny: no rule matches' });
    expect(result.kernel.get(2)?.exit).toBeUndefined();
  });

  it("records each signal as a decision allowed by the default policy's own-processes rule", async () => {
    const { result } = await report("const c = sys.spawn('idle'); sys.kill(c, 'SIGKILL'); raw(SYS.SYS_SIGNAL, 0, 'SIGTERM'); report(0);", { agentId: 'sender', kernel: kernel() });
    expect(syscallRecords(result.kernel, 'SYS_SIGNAL').map((r) => [r.effect, r.rule, r.agentId, r.pid])).toEqual([['allow', 'own-processes', 'sender', result.exit.pid]]);
  });
});
