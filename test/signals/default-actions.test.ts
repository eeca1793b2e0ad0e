/**
 * Every signal's default action, sent by an operator (kernel.kill) to an idle
 * agent (awaiting a promise that never settles) and to a busy one (a
 * `for (;;) {}` that never makes a syscall). Death by signal N is status
 * 128 + N and the exit record names the signal and why.
 */
import { describe, expect, it } from 'vitest';
import type { LoggedDecision } from '../../kernel/decision-log.ts';
import { MemoryDecisionLog } from '../../kernel/decision-log.ts';
import type { Kernel } from '../../kernel/kernel.ts';
import { exitStatusForSignal, SIGNALS, type SignalName } from '../../signals/signal-table.ts';
import { checkpointed, exited, hostPipe, IDLE, idle, kernelFor, listTree, parked, printed, readTree, SPIN, start } from '../live-agents.ts';
import { until } from '../until.ts';

/** The statuses written out by hand, so a change to the numbers fails here. */
const FATAL: readonly (readonly [SignalName, number])[] = [
  ['SIGINT', 131],
  ['SIGKILL', 132],
  ['SIGTERM', 133],
  ['SIGPOLICY', 136],
  ['SIGTRUST', 137],
];

function signalRecords(kernel: Kernel): LoggedDecision[] {
  return (kernel.recorder as MemoryDecisionLog).list().filter((r) => r.type === 'signal');
}

describe('the seed signal table', () => {
  it('has the numbers, default actions and maskability of ARCHITECTURE.md', () => {
    expect(Object.fromEntries(Object.entries(SIGNALS).map(([name, s]) => [name, [s.nr, s.action, s.maskable]]))).toEqual({
      SIGSTOP: [1, 'stop', true],
      SIGCONT: [2, 'continue', true],
      SIGINT: [3, 'terminate', true],
      SIGKILL: [4, 'terminate', false],
      SIGTERM: [5, 'terminate', true],
      SIGUSR1: [6, 'checkpoint', true],
      SIGPOLICY: [8, 'terminate', false],
      SIGTRUST: [9, 'terminate', false],
    });
  });

  it.each(FATAL)('death by %s is status %i', (signal, status) => {
    expect(exitStatusForSignal(signal)).toBe(status);
  });
});

describe('terminating signals, default action', () => {
  it.each(FATAL)('%s ends an idle agent with %i, naming the signal and the sender', async (signal, status) => {
    const kernel = kernelFor();
    const agent = start(kernel, IDLE, { agentId: 'idler' });
    await idle(agent);
    expect(kernel.kill(agent.pid, signal)).toBe('terminated');
    const exit = await exited(agent);
    expect(exit.status).toBe(status);
    expect(exit.reason).toEqual({ kind: 'signal', signal, why: `${signal} from operator` });
    expect(kernel.liveIsolates()).toBe(0);
    expect(signalRecords(kernel).map((r) => [r.pid, r.agentId, 'detail' in r ? r.detail : undefined])).toEqual([[agent.pid, 'idler', `${signal}: ${signal} from operator`]]);
  });

  it.each(FATAL)('%s ends an agent mid busy loop (no syscall needed) with %i', async (signal, status) => {
    const kernel = kernelFor();
    const agent = start(kernel, `console.log('spinning'); ${SPIN}`);
    await printed(agent, 'spinning');
    expect(agent.proc.state).toBe('running');
    const sandbox = agent.proc.sandbox!;
    expect(kernel.kill(agent.pid, signal, 'ops')).toBe('terminated');
    const exit = await exited(agent);
    expect(exit.status).toBe(status);
    expect(exit.reason).toEqual({ kind: 'signal', signal, why: `${signal} from ops` });
    expect(sandbox.disposed).toBe(true);
    expect(agent.proc.sandbox).toBeUndefined();
  });

  it.each(FATAL)('%s ends an agent blocked in a pipe read with %i', async (signal, status) => {
    const kernel = kernelFor();
    const input = hostPipe();
    const agent = start(kernel, "sys.read(0); console.log('read returned');", { fds: { stdin: input.stdin } });
    await parked(agent);
    kernel.kill(agent.pid, signal);
    expect((await exited(agent)).status).toBe(status);
    // Its read end closed with it: writing now finds no reader.
    await expect(input.send('too late')).rejects.toMatchObject({ errno: 'EPIPE' });
    expect(agent.stdout()).toBe('');
  });

  it('a signal sent by a parent names the parent pid as the sender', async () => {
    const kernel = kernelFor({ programs: { idle: { filename: 'idle.js', source: IDLE } } });
    const parent = start(kernel, "const pid = sys.spawn('idle'); console.log(sys.kill(pid, 'SIGINT')); console.log(JSON.stringify(sys.wait(pid)));");
    const exit = await exited(parent);
    expect(exit.status).toBe(0);
    const [outcome, waited] = parent.stdout().trim().split('\n');
    expect(outcome).toBe('terminated');
    expect(JSON.parse(waited ?? '')).toEqual({ pid: parent.pid + 1, status: 131, signal: 'SIGINT' });
    expect(signalRecords(kernel).map((r) => ('detail' in r ? r.detail : ''))).toEqual([`SIGINT: SIGINT from pid ${parent.pid}`]);
  });

  it('a signal to an exited process is ESRCH for the operator', async () => {
    const kernel = kernelFor();
    const agent = start(kernel, 'sys.getpid();');
    await exited(agent);
    expect(() => kernel.kill(agent.pid, 'SIGKILL')).toThrow(expect.objectContaining({ errno: 'ESRCH' }));
    expect(() => kernel.kill(9999, 'SIGKILL')).toThrow(expect.objectContaining({ errno: 'ESRCH' }));
  });
});

describe('SIGUSR1, default action: checkpoint', () => {
  it('an idle agent gets state/checkpoints/1 with its mem/ and keeps running', async () => {
    const kernel = kernelFor();
    const agent = start(kernel, `sys.writeFile('mem/working/note.txt', 'remember me'); ${IDLE}`, { agentId: 'keeper' });
    await idle(agent);
    expect(await listTree(kernel, 'keeper', 'state/checkpoints')).toEqual([]);
    expect(kernel.kill(agent.pid, 'SIGUSR1')).toBe('checkpointed');
    await checkpointed(kernel, 'keeper', 1);
    expect(await listTree(kernel, 'keeper', 'state/checkpoints')).toEqual(['1']);
    expect(await readTree(kernel, 'keeper', 'state/checkpoints/1/mem/working/note.txt')).toBe('remember me');
    const manifest = JSON.parse(await readTree(kernel, 'keeper', 'state/checkpoints/1/manifest.json') ?? '{}');
    expect(manifest).toMatchObject({ agent: 'keeper', n: 1, files: 1, bytes: 11, policyVersion: kernel.engine.version });
    expect(agent.proc.exit).toBeUndefined();
    expect(agent.proc.state).toBe('blocked');
    expect(kernel.kill(agent.pid, 'SIGUSR1')).toBe('checkpointed');
    await checkpointed(kernel, 'keeper', 2);
    expect(await listTree(kernel, 'keeper', 'state/checkpoints')).toEqual(['1', '2']);
  });

  it('a busy agent is checkpointed mid-loop and keeps running', async () => {
    const kernel = kernelFor();
    const agent = start(kernel, `sys.writeFile('mem/semantic/fact', 'x'); console.log('spinning'); ${SPIN}`, { agentId: 'spinner' });
    await printed(agent, 'spinning');
    expect(kernel.kill(agent.pid, 'SIGUSR1')).toBe('checkpointed');
    await checkpointed(kernel, 'spinner', 1);
    expect(await readTree(kernel, 'spinner', 'state/checkpoints/1/mem/semantic/fact')).toBe('x');
    const before = agent.proc.sandbox!.cpuTimeNs;
    await until(() => agent.proc.sandbox!.cpuTimeNs > before, 'the loop to keep using CPU');
    expect(agent.proc.exit).toBeUndefined();
  });

  it('a running agent that keeps making syscalls goes on after the checkpoint and exits 0', async () => {
    const kernel = kernelFor();
    const input = hostPipe();
    const agent = start(kernel, "sys.writeFile('mem/working/a', '1'); const line = sys.read(0); console.log('then', sys.decodeUtf8(line));", { agentId: 'goes-on', fds: { stdin: input.stdin } });
    await parked(agent);
    expect(kernel.kill(agent.pid, 'SIGUSR1')).toBe('checkpointed');
    await input.send('more');
    const exit = await exited(agent);
    expect(exit.status).toBe(0);
    expect(agent.stdout()).toBe('then more\n');
    await checkpointed(kernel, 'goes-on', 1);
    expect(await listTree(kernel, 'goes-on', 'state/checkpoints')).toEqual(['1']);
  });
});

describe('SIGSTOP and SIGCONT, default actions', () => {
  it("SIGSTOP marks an idle agent 'stopped'; SIGCONT resumes it", async () => {
    const kernel = kernelFor();
    const agent = start(kernel, IDLE);
    await idle(agent);
    expect(kernel.kill(agent.pid, 'SIGSTOP')).toBe('stopped');
    expect(agent.proc.state).toBe('stopped');
    expect(kernel.ps().find((p) => p.pid === agent.pid)?.state).toBe('stopped');
    expect(kernel.kill(agent.pid, 'SIGCONT')).toBe('continued');
    expect(agent.proc.state).toBe('blocked');
    expect(agent.proc.exit).toBeUndefined();
  });

  it('a stopped agent whose input arrives does nothing until SIGCONT, then finishes', async () => {
    const kernel = kernelFor();
    const reader = "const got = sys.decodeUtf8(sys.read(0)); console.log('got', got);";
    const input = hostPipe();
    const agent = start(kernel, reader, { fds: { stdin: input.stdin } });
    // A twin that is not stopped: once it has finished with its input, given after the agent's, the agent's read has its input too.
    const twinInput = hostPipe();
    const twin = start(kernel, reader, { fds: { stdin: twinInput.stdin } });
    await parked(agent);
    await parked(twin);
    expect(kernel.kill(agent.pid, 'SIGSTOP')).toBe('stopped');
    await input.send('hello');
    await twinInput.send('hello');
    expect(await exited(twin)).toMatchObject({ status: 0 });
    expect(twin.stdout()).toBe('got hello\n');
    expect(agent.stdout()).toBe('');
    expect(agent.proc.state).toBe('stopped');
    expect(kernel.kill(agent.pid, 'SIGCONT')).toBe('continued');
    const exit = await exited(agent);
    expect(exit).toMatchObject({ status: 0, reason: { kind: 'exit' } });
    expect(agent.stdout()).toBe('got hello\n');
  });

  it("SIGCONT to an agent that is not stopped is 'ignored' and changes nothing", async () => {
    const kernel = kernelFor();
    const agent = start(kernel, IDLE);
    await idle(agent);
    expect(kernel.kill(agent.pid, 'SIGCONT')).toBe('ignored');
    expect(agent.proc.state).toBe('blocked');
  });
});
