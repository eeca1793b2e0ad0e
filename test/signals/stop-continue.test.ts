/**
 * SIGSTOP and SIGCONT. A stopped agent's next syscall waits for SIGCONT:
 * an agent blocked (awaiting, or in a pipe read) stays put even when what it
 * waits for arrives; an agent busy with syscalls makes none while stopped.
 * SIGKILL still ends a stopped agent. An agent in a pure CPU loop is only
 * parked at its next syscall: stopping cannot interrupt JavaScript. What an
 * operator stopped, only an operator resumes.
 */
import { describe, expect, it } from 'vitest';
import { sendSignal } from '../../kernel/process-signals.ts';
import type { MemoryDecisionLog } from '../../kernel/decision-log.ts';
import { programFromSource } from '../../kernel/program.ts';
import { exited, hostPipe, IDLE, idle, kernelFor, parked, printed, start } from '../live-agents.ts';
import { until } from '../until.ts';

describe('SIGSTOP / SIGCONT', () => {
  it('an idle agent: a handled signal sent while it is stopped runs only after SIGCONT', async () => {
    const kernel = kernelFor();
    const agent = start(kernel, `sys.signal.on('SIGINT', () => console.log('handled')); ${IDLE}`);
    await idle(agent);
    expect(kernel.kill(agent.pid, 'SIGSTOP')).toBe('stopped');
    expect(kernel.kill(agent.pid, 'SIGINT')).toBe('delivered');
    // Held for SIGCONT, not handed to the isolate: nothing can run it while the agent is stopped.
    expect(agent.proc.handlerQueue).toEqual(['SIGINT']);
    expect(agent.stdout()).toBe('');
    expect(agent.proc.state).toBe('stopped');
    expect(kernel.kill(agent.pid, 'SIGCONT')).toBe('continued');
    await printed(agent, 'handled');
    expect(agent.proc.exit).toBeUndefined();
  });

  it('a handled signal sent many times while it waits is delivered once, as POSIX keeps a standard signal pending (found by an attacker pass: 100,000 SIGUSR1s queued for a busy child)', async () => {
    const kernel = kernelFor();
    const agent = start(kernel, `let n = 0; sys.signal.on('SIGINT', () => console.log('handled ' + ++n)); sys.signal.on('SIGUSR1', () => console.log('usr1')); ${IDLE}`);
    await idle(agent);
    expect(kernel.kill(agent.pid, 'SIGSTOP')).toBe('stopped');
    for (let i = 0; i < 1000; i++) expect(kernel.kill(agent.pid, i % 2 === 0 ? 'SIGINT' : 'SIGUSR1')).toBe('delivered');
    expect(agent.proc.handlerQueue).toEqual(['SIGINT', 'SIGUSR1']);
    expect(kernel.kill(agent.pid, 'SIGCONT')).toBe('continued');
    await printed(agent, 'usr1');
    expect(agent.stdout()).toBe('handled 1\nusr1\n');
  });

  it('an agent blocked in a pipe read stays stopped when its data arrives, and reads it after SIGCONT', async () => {
    const kernel = kernelFor();
    const reader = "for (;;) { const c = sys.read(0); if (c.length === 0) break; console.log('got ' + sys.decodeUtf8(c)); }";
    const input = hostPipe();
    const agent = start(kernel, reader, { fds: { stdin: input.stdin } });
    // A twin that is not stopped: once it has printed its data, given after the agent's, the agent's read has its data too.
    const twinInput = hostPipe();
    const twin = start(kernel, reader, { fds: { stdin: twinInput.stdin } });
    await parked(agent);
    await parked(twin);
    expect(agent.proc.state).toBe('blocked');
    kernel.kill(agent.pid, 'SIGSTOP');
    expect(agent.proc.state).toBe('stopped');
    await input.send('one');
    await twinInput.send('one');
    await printed(twin, 'got one\n');
    expect(agent.stdout()).toBe('');
    expect(agent.proc.state).toBe('stopped');
    expect(agent.proc.sandbox?.blockedInSyscall).toBe(true);
    twinInput.close();
    kernel.kill(agent.pid, 'SIGCONT');
    await printed(agent, 'got one\n');
    input.close();
    expect(await exited(agent)).toMatchObject({ status: 0 });
  });

  it('a busy agent making syscalls makes none while stopped, and carries on after SIGCONT', async () => {
    const kernel = kernelFor();
    const busy = "console.log('ready'); for (;;) sys.getpid();";
    const agent = start(kernel, busy);
    // A twin that is not stopped: while it makes a hundred syscalls, the stopped agent makes none.
    const twin = start(kernel, busy);
    await printed(agent, 'ready');
    await printed(twin, 'ready');
    expect(kernel.kill(agent.pid, 'SIGSTOP')).toBe('stopped');
    await parked(agent);
    const stoppedAt = agent.proc.syscalls;
    const twinAt = twin.proc.syscalls;
    await until(() => twin.proc.syscalls > twinAt + 100, 'the twin to make a hundred syscalls');
    expect(agent.proc.syscalls).toBe(stoppedAt);
    expect(agent.proc.state).toBe('stopped');
    expect(kernel.kill(agent.pid, 'SIGCONT')).toBe('continued');
    await until(() => agent.proc.syscalls > stoppedAt + 100, 'the syscall count to grow again');
    expect(agent.proc.state).not.toBe('stopped');
  });

  it('SIGKILL ends a stopped idle agent', async () => {
    const kernel = kernelFor();
    const agent = start(kernel, IDLE);
    await idle(agent);
    kernel.kill(agent.pid, 'SIGSTOP');
    expect(kernel.kill(agent.pid, 'SIGKILL')).toBe('terminated');
    expect(await exited(agent)).toMatchObject({ status: 132, reason: { kind: 'signal', signal: 'SIGKILL' } });
  });

  it('SIGKILL ends an agent parked at a syscall by SIGSTOP, and the parked call never runs', async () => {
    const kernel = kernelFor();
    const agent = start(kernel, "console.log('ready'); for (;;) sys.writeFile('mem/working/tick', 'x');", { agentId: 'ticker' });
    await printed(agent, 'ready');
    kernel.kill(agent.pid, 'SIGSTOP');
    await parked(agent);
    const log = kernel.recorder as MemoryDecisionLog;
    const records = log.list().length;
    kernel.kill(agent.pid, 'SIGKILL');
    expect(await exited(agent)).toMatchObject({ status: 132 });
    // A later agent's syscall is recorded after anything the parked call could have added.
    const later = start(kernel, 'sys.getpid();');
    await exited(later);
    const added = log.list().slice(records);
    expect(added.filter((r) => r.pid === later.pid && r.type === 'syscall').map((r) => 'syscall' in r && r.syscall)).toContain('SYS_GETPID');
    // Nothing but the signal and exit records was added for the agent: the parked call was never decided or run.
    expect(added.filter((r) => r.pid === agent.pid).map((r) => r.type)).toEqual(['signal', 'exit']);
  });

  it('SIGTERM with the default action ends a stopped agent at once (as Linux does for fatal signals)', async () => {
    const kernel = kernelFor();
    const agent = start(kernel, IDLE);
    await idle(agent);
    kernel.kill(agent.pid, 'SIGSTOP');
    expect(kernel.kill(agent.pid, 'SIGTERM')).toBe('terminated');
    expect(agent.proc.exit?.status).toBe(133);
  });

  it('SIGSTOP twice needs one SIGCONT; a SIGCONT clears a SIGSTOP (from another process) still pending under the mask', async () => {
    const kernel = kernelFor();
    const input = hostPipe();
    const agent = start(kernel, "sys.signal.mask(['SIGSTOP']); sys.read(0); sys.signal.unmask(['SIGSTOP']); console.log('not stopped');", { fds: { stdin: input.stdin } });
    await parked(agent);
    expect(sendSignal(kernel, agent.proc, 'SIGSTOP', 4242)).toBe('pending');
    expect(sendSignal(kernel, agent.proc, 'SIGSTOP', 4242)).toBe('pending');
    expect(kernel.kill(agent.pid, 'SIGCONT')).toBe('ignored');
    expect(kernel.ps().find((p) => p.pid === agent.pid)?.pendingSignals).toEqual([]);
    await input.send('go');
    expect(await exited(agent)).toMatchObject({ status: 0 });
    expect(agent.stdout()).toBe('not stopped\n');

    const second = start(kernel, IDLE);
    await idle(second);
    expect([kernel.kill(second.pid, 'SIGSTOP'), kernel.kill(second.pid, 'SIGSTOP')]).toEqual(['stopped', 'stopped']);
    expect(kernel.kill(second.pid, 'SIGCONT')).toBe('continued');
    expect(second.proc.stopped).toBe(false);
  });

  it('an agent in a pure CPU loop keeps running while stopped until its next syscall, where it parks', async () => {
    const kernel = kernelFor();
    // The loop is long enough (hundreds of ms) that SIGSTOP arrives well inside it.
    const agent = start(kernel, "console.log('loop start'); let x = 0; for (let i = 0; i < 3e8; i++) x = (x + i) | 0; console.log('loop done ' + (x !== 1));");
    await printed(agent, 'loop start');
    expect(kernel.kill(agent.pid, 'SIGSTOP')).toBe('stopped');
    const cpuAtStop = agent.proc.sandbox!.cpuTimeNs;
    await parked(agent);
    // It ran on after SIGSTOP — CPU time grew — and was parked only at the console.log after the loop.
    expect(agent.proc.sandbox!.cpuTimeNs).toBeGreaterThan(cpuAtStop);
    expect(agent.stdout()).toBe('loop start\n');
    expect(agent.proc.state).toBe('stopped');
    kernel.kill(agent.pid, 'SIGCONT');
    expect(await exited(agent)).toMatchObject({ status: 0 });
    expect(agent.stdout()).toBe('loop start\nloop done true\n');
  });

  it("what an operator stopped, only an operator resumes: a parent's SIGCONT to its child is ignored (found by the attacker pass)", async () => {
    const kernel = kernelFor({ programs: { idle: programFromSource('idle.js', IDLE) } });
    const input = hostPipe();
    const parent = start(
      kernel,
      `const child = sys.spawn('idle'); console.log('child', child);
       sys.read(0); console.log('after operator stop:', sys.kill(child, 'SIGCONT'));
       sys.read(0); console.log('own stop:', sys.kill(child, 'SIGSTOP'), sys.kill(child, 'SIGCONT'));
       sys.kill(child, 'SIGKILL'); sys.wait(child);`,
      { fds: { stdin: input.stdin } },
    );
    await until(() => parent.stdout().startsWith('child '), 'the child to start');
    const child = Number(parent.stdout().split(' ')[1]);
    expect(kernel.kill(child, 'SIGSTOP')).toBe('stopped');
    await input.send('a');
    await until(() => parent.stdout().includes('after operator stop'), 'the parent to try SIGCONT');
    expect(parent.stdout()).toContain('after operator stop: ignored');
    expect(kernel.get(child)?.state).toBe('stopped');
    expect(kernel.kill(child, 'SIGCONT')).toBe('continued');
    await input.send('b');
    expect(await exited(parent)).toMatchObject({ status: 0 });
    // A stop the parent sent itself, the parent may end.
    expect(parent.stdout()).toContain('own stop: stopped continued');
  });
});
