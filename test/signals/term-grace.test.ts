/**
 * SIGTERM escalates: unless the agent ignores it, a SIGKILL follows after
 * the kernel's grace period (termGraceMs) if the agent is still alive — when
 * it handles SIGTERM and carries on, when it masks it, or when it spins where
 * no handler can run. A small grace period keeps these tests quick.
 */
import { describe, expect, it } from 'vitest';
import type { SignalEvent } from '../../signals/signal-state.ts';
import { exited, hostPipe, IDLE, idle, kernelFor, parked, printed, SPIN, start } from '../live-agents.ts';

const GRACE_MS = 100;
const GRACE_WHY = `SIGKILL from SIGTERM grace period (${GRACE_MS} ms)`;

describe('SIGTERM grace period', () => {
  it('an agent that handles SIGTERM and does not exit is killed after the grace period', async () => {
    const kernel = kernelFor({ termGraceMs: GRACE_MS });
    const bus: SignalEvent[] = [];
    kernel.bus.subscribe((e) => bus.push(e));
    const agent = start(kernel, `sys.signal.on('SIGTERM', () => console.log('noted, carrying on')); ${IDLE}`);
    await idle(agent);
    expect(kernel.kill(agent.pid, 'SIGTERM')).toBe('delivered');
    await printed(agent, 'noted, carrying on');
    expect(agent.proc.exit).toBeUndefined();
    const exit = await exited(agent);
    expect(exit.status).toBe(132);
    expect(exit.reason).toEqual({ kind: 'signal', signal: 'SIGKILL', why: GRACE_WHY });
    expect(bus.map((e) => [e.sender, e.signal, e.outcome])).toEqual([
      ['operator', 'SIGTERM', 'delivered'],
      [`SIGTERM grace period (${GRACE_MS} ms)`, 'SIGKILL', 'terminated'],
    ]);
  });

  it('a masked SIGTERM stays pending, and the agent is still killed after the grace period', async () => {
    const kernel = kernelFor({ termGraceMs: GRACE_MS });
    const agent = start(kernel, `sys.signal.mask(['SIGTERM']); console.log('masked'); ${IDLE}`);
    await idle(agent);
    expect(kernel.kill(agent.pid, 'SIGTERM')).toBe('pending');
    expect(kernel.ps().find((p) => p.pid === agent.pid)?.pendingSignals).toEqual(['SIGTERM']);
    expect(await exited(agent)).toMatchObject({ status: 132, reason: { kind: 'signal', signal: 'SIGKILL', why: GRACE_WHY } });
  });

  it('an agent that handles SIGTERM but spins without syscalls never runs its handler and is killed after the grace period', async () => {
    const kernel = kernelFor({ termGraceMs: GRACE_MS });
    const agent = start(kernel, `sys.signal.on('SIGTERM', () => sys.exit(0)); console.log('spinning'); ${SPIN}`);
    await printed(agent, 'spinning');
    expect(kernel.kill(agent.pid, 'SIGTERM')).toBe('delivered');
    expect(await exited(agent)).toMatchObject({ status: 132, reason: { kind: 'signal', signal: 'SIGKILL', why: GRACE_WHY } });
  });

  it('an agent stopped after SIGTERM is still killed after the grace period', async () => {
    const kernel = kernelFor({ termGraceMs: GRACE_MS });
    const agent = start(kernel, `sys.signal.on('SIGTERM', () => {}); ${IDLE}`);
    await idle(agent);
    kernel.kill(agent.pid, 'SIGTERM');
    kernel.kill(agent.pid, 'SIGSTOP');
    expect(await exited(agent)).toMatchObject({ status: 132, reason: { why: GRACE_WHY } });
  });

  it('an ignored SIGTERM is not escalated: the agent outlives the grace period', async () => {
    const kernel = kernelFor({ termGraceMs: GRACE_MS });
    const input = hostPipe();
    const agent = start(kernel, "sys.signal.ignore('SIGTERM'); sys.read(0); console.log('still here');", { fds: { stdin: input.stdin } });
    // A witness that handles SIGTERM and carries on: its grace period, started after the agent's SIGTERM, ends after the agent's would.
    const witness = start(kernel, `sys.signal.on('SIGTERM', () => {}); ${IDLE}`);
    await parked(agent);
    await idle(witness);
    expect(kernel.kill(agent.pid, 'SIGTERM')).toBe('ignored');
    expect(agent.proc.timers.size).toBe(0);
    expect(kernel.kill(witness.pid, 'SIGTERM')).toBe('delivered');
    expect(await exited(witness)).toMatchObject({ status: 132, reason: { why: GRACE_WHY } });
    expect(agent.proc.exit).toBeUndefined();
    await input.send('go');
    expect(await exited(agent)).toMatchObject({ status: 0, reason: { kind: 'exit' } });
    expect(agent.stdout()).toBe('still here\n');
  });

  it('an agent that exits from its SIGTERM handler within the grace period ends with its own status', async () => {
    const kernel = kernelFor({ termGraceMs: 60_000 });
    const agent = start(kernel, `sys.signal.on('SIGTERM', () => { sys.writeFile('mem/working/saved', 'ok'); sys.exit(0); }); ${IDLE}`);
    await idle(agent);
    kernel.kill(agent.pid, 'SIGTERM');
    expect(await exited(agent)).toMatchObject({ status: 0, reason: { kind: 'exit' } });
    expect(agent.proc.timers.size).toBe(0);
  });

  it('SIGTERM without a handler ends the agent at once with 133, not after the grace period with 132', async () => {
    const kernel = kernelFor({ termGraceMs: 60_000 });
    const agent = start(kernel, IDLE);
    await idle(agent);
    expect(kernel.kill(agent.pid, 'SIGTERM')).toBe('terminated');
    expect(agent.proc.exit).toMatchObject({ status: 133, reason: { kind: 'signal', signal: 'SIGTERM', why: 'SIGTERM from operator' } });
  });

  it('the default grace period is 5000 ms', () => {
    expect(kernelFor().termGraceMs).toBe(5000);
  });
});
