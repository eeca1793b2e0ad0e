/**
 * Masks, dispositions and handlers. A masked signal is state: it stays in the
 * pending set (ps shows it, the sender gets 'pending') until the agent
 * unmasks it. SIGKILL, SIGPOLICY and SIGTRUST can be neither masked, caught
 * nor ignored, whatever the agent tries. Handlers run at once in an idle
 * agent and at the next syscall boundary in a busy one. Every outcome is
 * published on the kernel bus and the process's own stream.
 */
import { describe, expect, it } from 'vitest';
import { sendSignal } from '../../kernel/process-signals.ts';
import type { SignalEvent } from '../../signals/signal-state.ts';
import type { SignalName } from '../../signals/signal-table.ts';
import { checkpointed, exited, hostPipe, IDLE, idle, kernelFor, listTree, parked, printed, SPIN, start, type LiveAgent } from '../live-agents.ts';
import { until } from '../until.ts';

const UNBLOCKABLE: readonly (readonly [SignalName, number])[] = [
  ['SIGKILL', 132],
  ['SIGPOLICY', 136],
  ['SIGTRUST', 137],
];

/**
 * maskedAgent masks `signal`, prints the mask, then waits for a line on
 * stdin before unmasking it and printing 'after unmask'.
 */
function maskedAgent(signal: SignalName, agentId = 'masker') {
  const kernel = kernelFor({ termGraceMs: 60_000 });
  const input = hostPipe();
  const agent = start(
    kernel,
    `
      console.log('mask ' + JSON.stringify(sys.signal.mask(['${signal}'])));
      sys.read(0);
      console.log('unmask ' + JSON.stringify(sys.signal.unmask(['${signal}'])));
      console.log('after unmask');
    `,
    { agentId, fds: { stdin: input.stdin } },
  );
  return { kernel, input, agent };
}

const shape = (e: SignalEvent) => [e.sender, e.target, e.signal, e.outcome];

function pending(agent: LiveAgent): readonly string[] {
  return agent.kernel.ps().find((p) => p.pid === agent.pid)?.pendingSignals ?? [];
}

describe('a masked signal stays pending until unmasked', () => {
  it.each([
    ['SIGINT', 131],
    ['SIGTERM', 133],
  ] as const)('%s: pending while masked, ends the agent (%i) inside the unmask call', async (signal, status) => {
    const { kernel, input, agent } = maskedAgent(signal);
    await parked(agent);
    expect(agent.stdout()).toBe(`mask ["${signal}"]\n`);
    expect(kernel.kill(agent.pid, signal)).toBe('pending');
    expect(pending(agent)).toEqual([signal]);
    expect(agent.proc.exit).toBeUndefined();
    await input.send('go');
    const exit = await exited(agent);
    expect(exit.status).toBe(status);
    expect(exit.reason).toMatchObject({ kind: 'signal', signal });
    expect(agent.stdout()).not.toContain('unmask');
  });

  it('SIGUSR1: no checkpoint while masked; unmasking checkpoints and the agent goes on', async () => {
    const { kernel, input, agent } = maskedAgent('SIGUSR1', 'usr');
    await parked(agent);
    expect(kernel.kill(agent.pid, 'SIGUSR1')).toBe('pending');
    expect(pending(agent)).toEqual(['SIGUSR1']);
    expect(await listTree(kernel, 'usr', 'state/checkpoints')).toEqual([]);
    await input.send('go');
    expect(await exited(agent)).toMatchObject({ status: 0 });
    expect(agent.stdout()).toContain('unmask []\nafter unmask\n');
    await checkpointed(kernel, 'usr', 1);
    expect(await listTree(kernel, 'usr', 'state/checkpoints')).toEqual(['1']);
  });

  it('SIGSTOP from another process: not stopped while masked; unmasking stops the agent at its next syscall until SIGCONT', async () => {
    const { kernel, input, agent } = maskedAgent('SIGSTOP');
    await parked(agent);
    expect(sendSignal(kernel, agent.proc, 'SIGSTOP', 4242)).toBe('pending');
    expect(pending(agent)).toEqual(['SIGSTOP']);
    expect(agent.proc.state).toBe('blocked');
    await input.send('go');
    await until(() => agent.proc.state === 'stopped', 'the unmasked SIGSTOP to stop the agent');
    await parked(agent);
    expect(pending(agent)).toEqual([]);
    expect(agent.stdout()).not.toContain('after unmask');
    expect(kernel.kill(agent.pid, 'SIGCONT')).toBe('continued');
    expect(await exited(agent)).toMatchObject({ status: 0 });
    expect(agent.stdout()).toContain('after unmask');
  });

  it("an operator's SIGSTOP is never held by the mask: the agent stops at its next syscall", async () => {
    const { kernel, input, agent } = maskedAgent('SIGSTOP');
    await parked(agent);
    expect(kernel.kill(agent.pid, 'SIGSTOP')).toBe('stopped');
    expect(pending(agent)).toEqual([]);
    await input.send('go');
    await until(() => agent.proc.state === 'stopped', 'the operator\'s SIGSTOP to hold the agent');
    expect(agent.stdout()).not.toContain('after unmask');
    expect(kernel.kill(agent.pid, 'SIGCONT')).toBe('continued');
    expect(await exited(agent)).toMatchObject({ status: 0 });
    expect(agent.stdout()).toContain('after unmask');
  });

  it('SIGCONT continues a stopped agent even when masked, as in POSIX: it is never held pending', async () => {
    const kernel = kernelFor();
    const input = hostPipe();
    const agent = start(kernel, "sys.signal.mask(['SIGCONT']); sys.read(0); console.log('done');", { fds: { stdin: input.stdin } });
    await parked(agent);
    expect(kernel.kill(agent.pid, 'SIGSTOP')).toBe('stopped');
    expect(kernel.kill(agent.pid, 'SIGCONT')).toBe('continued');
    expect(pending(agent)).toEqual([]);
    await input.send('x');
    expect(await exited(agent)).toMatchObject({ status: 0 });
  });

  it('several pending signals are delivered lowest number first when the mask is lifted', async () => {
    const kernel = kernelFor({ termGraceMs: 60_000 });
    const input = hostPipe();
    const agent = start(
      kernel,
      `
        const seen = [];
        sys.signal.on('SIGINT', (s) => seen.push(s));
        sys.signal.on('SIGTERM', (s) => seen.push(s));
        sys.signal.on('SIGUSR1', (s) => seen.push(s));
        sys.signal.setMask(['SIGINT', 'SIGTERM', 'SIGUSR1']);
        sys.read(0);
        sys.signal.setMask([]);
        console.log(JSON.stringify(seen));
      `,
      { fds: { stdin: input.stdin } },
    );
    await parked(agent);
    expect(['SIGUSR1', 'SIGTERM', 'SIGINT'].map((s) => kernel.kill(agent.pid, s as SignalName))).toEqual(['pending', 'pending', 'pending']);
    expect(pending(agent)).toEqual(['SIGINT', 'SIGTERM', 'SIGUSR1']);
    await input.send('go');
    expect(await exited(agent)).toMatchObject({ status: 0 });
    expect(agent.stdout()).toBe('["SIGINT","SIGTERM","SIGUSR1"]\n');
    expect(pending(agent)).toEqual([]);
  });

  it('a pending signal is sent once however often it was sent (a set, not a queue)', async () => {
    const kernel = kernelFor({ termGraceMs: 60_000 });
    const input = hostPipe();
    const agent = start(
      kernel,
      `let n = 0; sys.signal.on('SIGINT', () => n++); sys.signal.mask(['SIGINT']); sys.read(0); sys.signal.unmask(['SIGINT']); console.log(n);`,
      { fds: { stdin: input.stdin } },
    );
    await parked(agent);
    for (let i = 0; i < 3; i++) expect(kernel.kill(agent.pid, 'SIGINT')).toBe('pending');
    await input.send('go');
    await exited(agent);
    expect(agent.stdout()).toBe('1\n');
  });
});

describe('SIGKILL, SIGPOLICY and SIGTRUST stay unmaskable whatever the agent tries', () => {
  const ATTEMPTS = `
    const tries = {};
    tries.mask = sys.signal.mask(['SIGKILL', 'SIGPOLICY', 'SIGTRUST']);
    tries.setMask = sys.signal.setMask(['SIGKILL', 'SIGTERM', 'SIGPOLICY', 'SIGTRUST']);
    tries.byNumberAndAlias = raw(SYS.SYS_SIGPROCMASK, 'block', ['4', '8', '9', 'kill', 'sigpolicy', 'Trust']);
    tries.unmaskAll = sys.signal.unmask(['SIGTERM']);
    tries.handle = ['SIGKILL', 'SIGPOLICY', 'SIGTRUST'].map((s) => errnoOf(() => sys.signal.on(s, () => {})));
    tries.ignore = ['SIGKILL', 'SIGPOLICY', 'SIGTRUST'].map((s) => errnoOf(() => sys.signal.ignore(s)));
    tries.rawHandle = raw(SYS.SYS_SIGACTION, '4', 'handle');
    tries.reset = ['SIGKILL', 'SIGPOLICY', 'SIGTRUST'].map((s) => errnoOf(() => sys.signal.reset(s)));
    console.log(JSON.stringify(tries));
  `;
  const PRELUDE = `
    const raw = (nr, ...args) => { const r = syscall(nr, ...args); return 'errno' in r ? { errno: r.errno } : { v: r.v }; };
    const errnoOf = (fn) => { try { fn(); return 'ok'; } catch (e) { return e.errno ?? String(e); } };
  `;

  it.each(UNBLOCKABLE)('the mask never holds them, sigaction refuses them, and %s still ends the agent with %i', async (signal, status) => {
    const kernel = kernelFor();
    const agent = start(kernel, `${PRELUDE}${ATTEMPTS}${IDLE}`);
    await idle(agent);
    expect(JSON.parse(agent.stdout())).toEqual({
      mask: [],
      setMask: ['SIGTERM'],
      byNumberAndAlias: { v: ['SIGTERM'] },
      unmaskAll: [],
      handle: ['EINVAL', 'EINVAL', 'EINVAL'],
      ignore: ['EINVAL', 'EINVAL', 'EINVAL'],
      rawHandle: { errno: 'EINVAL' },
      reset: ['ok', 'ok', 'ok'],
    });
    expect(agent.proc.signals.mask).toBe(0);
    expect(kernel.kill(agent.pid, signal)).toBe('terminated');
    expect(await exited(agent)).toMatchObject({ status, reason: { kind: 'signal', signal } });
  });

  it.each(UNBLOCKABLE)('%s ends an agent that masked everything it could and spins (%i)', async (signal, status) => {
    const kernel = kernelFor({ termGraceMs: 60_000 });
    const agent = start(kernel, `sys.signal.setMask(['SIGSTOP', 'SIGCONT', 'SIGINT', 'SIGKILL', 'SIGTERM', 'SIGUSR1', 'SIGPOLICY', 'SIGTRUST']); console.log('ready'); ${SPIN}`);
    await printed(agent, 'ready');
    expect(kernel.kill(agent.pid, 'SIGTERM')).toBe('pending');
    expect(kernel.kill(agent.pid, signal)).toBe('terminated');
    expect(await exited(agent)).toMatchObject({ status, reason: { kind: 'signal', signal } });
  });

  it('SIGSTOP and SIGCONT can be masked but not caught or ignored', async () => {
    const kernel = kernelFor();
    const agent = start(
      kernel,
      `${PRELUDE}
      console.log(JSON.stringify({
        handle: ['SIGSTOP', 'SIGCONT'].map((s) => errnoOf(() => sys.signal.on(s, () => {}))),
        ignore: ['SIGSTOP', 'SIGCONT'].map((s) => errnoOf(() => sys.signal.ignore(s))),
        mask: sys.signal.mask(['SIGCONT', 'SIGSTOP']),
      }));`,
    );
    expect(await exited(agent)).toMatchObject({ status: 0 });
    expect(JSON.parse(agent.stdout())).toEqual({ handle: ['EINVAL', 'EINVAL'], ignore: ['EINVAL', 'EINVAL'], mask: ['SIGSTOP', 'SIGCONT'] });
  });
});

describe('handlers and dispositions', () => {
  it('sys.signal.on runs the handler at once in an idle agent, with the signal name, and the agent lives on', async () => {
    const kernel = kernelFor({ termGraceMs: 60_000 });
    const agent = start(kernel, `sys.signal.on('SIGTERM', (s) => console.log('handled ' + s)); ${IDLE}`);
    await idle(agent);
    expect(kernel.kill(agent.pid, 'SIGTERM')).toBe('delivered');
    await printed(agent, 'handled SIGTERM\n');
    expect(agent.proc.exit).toBeUndefined();
    expect(kernel.kill(agent.pid, 'SIGTERM')).toBe('delivered');
    await until(() => agent.stdout() === 'handled SIGTERM\nhandled SIGTERM\n', 'the second delivery');
  });

  it('a handler can settle what the idle main awaits, and main then returns 0', async () => {
    const kernel = kernelFor();
    const agent = start(kernel, "const s = await new Promise((resolve) => sys.signal.on('SIGINT', resolve)); console.log('main saw ' + s);");
    await idle(agent);
    expect(kernel.kill(agent.pid, 'SIGINT')).toBe('delivered');
    expect(await exited(agent)).toMatchObject({ status: 0, reason: { kind: 'exit' } });
    expect(agent.stdout()).toBe('main saw SIGINT\n');
  });

  it('a busy agent that makes syscalls runs the handler at its next syscall boundary', async () => {
    const kernel = kernelFor({ termGraceMs: 60_000 });
    const agent = start(
      kernel,
      `
        let got = null;
        let calls = 0;
        sys.signal.on('SIGTERM', (s) => { got = s; });
        console.log('ready');
        while (got === null) { sys.getpid(); calls++; }
        console.log('handled ' + got + ' after ' + (calls > 0 ? 'some' : 'no') + ' calls');
      `,
    );
    await printed(agent, 'ready');
    expect(kernel.kill(agent.pid, 'SIGTERM')).toBe('delivered');
    expect(await exited(agent)).toMatchObject({ status: 0 });
    expect(agent.stdout()).toBe('ready\nhandled SIGTERM after some calls\n');
  });

  it("ignore: the signal is 'ignored' and does nothing; reset restores the default action", async () => {
    const kernel = kernelFor();
    const input = hostPipe();
    const agent = start(kernel, "sys.signal.ignore('SIGINT'); sys.read(0); sys.signal.reset('SIGINT'); console.log('reset'); sys.read(0);", { fds: { stdin: input.stdin } });
    await parked(agent);
    expect(kernel.kill(agent.pid, 'SIGINT')).toBe('ignored');
    expect(pending(agent)).toEqual([]);
    await input.send('1');
    await printed(agent, 'reset');
    await parked(agent);
    expect(kernel.kill(agent.pid, 'SIGINT')).toBe('terminated');
    expect(await exited(agent)).toMatchObject({ status: 131 });
  });

  it('ignoring a pending signal drops it', async () => {
    const kernel = kernelFor({ termGraceMs: 60_000 });
    const input = hostPipe();
    const agent = start(kernel, "sys.signal.mask(['SIGINT']); sys.read(0); sys.signal.ignore('SIGINT'); sys.signal.unmask(['SIGINT']); console.log('alive');", { fds: { stdin: input.stdin } });
    await parked(agent);
    expect(kernel.kill(agent.pid, 'SIGINT')).toBe('pending');
    await input.send('go');
    expect(await exited(agent)).toMatchObject({ status: 0 });
    expect(agent.stdout()).toBe('alive\n');
  });

  it('a handler that throws ends an idle agent with status 1 and its error', async () => {
    const kernel = kernelFor();
    const agent = start(kernel, `sys.signal.on('SIGINT', () => { throw new Error('handler blew up'); }); ${IDLE}`);
    await idle(agent);
    kernel.kill(agent.pid, 'SIGINT');
    const exit = await exited(agent);
    expect(exit.status).toBe(1);
    expect(exit.reason.kind === 'error' && exit.reason.error).toContain('handler blew up');
  });

  it('a handler that throws at a syscall boundary ends the agent with status 1 before the loop goes on', async () => {
    const kernel = kernelFor();
    const agent = start(kernel, `sys.signal.on('SIGUSR1', () => { throw new Error('boundary boom'); }); console.log('ready'); for (;;) sys.getpid();`);
    await printed(agent, 'ready');
    kernel.kill(agent.pid, 'SIGUSR1');
    const exit = await exited(agent);
    expect(exit.status).toBe(1);
    expect(exit.reason.kind === 'error' && exit.reason.error).toContain('boundary boom');
  });

  it('an async handler that rejects ends the agent with status 1', async () => {
    const kernel = kernelFor();
    const agent = start(kernel, `sys.signal.on('SIGINT', async () => { await null; throw new Error('late failure'); }); ${IDLE}`);
    await idle(agent);
    kernel.kill(agent.pid, 'SIGINT');
    const exit = await exited(agent);
    expect(exit.status).toBe(1);
    expect(exit.reason.kind === 'error' && exit.reason.error).toContain('late failure');
  });

  it('a handler that runs the isolate out of memory ends the agent (132, memory limit)', async () => {
    const kernel = kernelFor({ memoryLimitMib: 16 });
    const agent = start(kernel, `sys.signal.on('SIGINT', () => { const a = []; for (;;) a.push(new Array(1e5).fill(1)); }); ${IDLE}`);
    await idle(agent);
    kernel.kill(agent.pid, 'SIGINT');
    expect(await exited(agent)).toMatchObject({ status: 132, reason: { kind: 'signal', signal: 'SIGKILL', why: 'memory limit exceeded' } });
  });

  it('a handler may call sys.exit', async () => {
    const kernel = kernelFor();
    const agent = start(kernel, `sys.signal.on('SIGTERM', () => { console.log('cleaning up'); sys.exit(7); }); ${IDLE}`);
    await idle(agent);
    kernel.kill(agent.pid, 'SIGTERM');
    expect(await exited(agent)).toMatchObject({ status: 7, reason: { kind: 'exit' } });
    expect(agent.stdout()).toBe('cleaning up\n');
  });
});

describe('RxJS streams', () => {
  it('kernel.bus and proc.signals.events see sender, target, signal and outcome of each signal', async () => {
    const kernel = kernelFor({ termGraceMs: 60_000, programs: { idle: { filename: 'idle.js', source: `sys.signal.on('SIGINT', () => {}); ${IDLE}` } } });
    const bus: SignalEvent[] = [];
    kernel.bus.subscribe((e) => bus.push(e));
    const input = hostPipe();
    const parent = start(
      kernel,
      `
        const child = sys.spawn('idle');
        console.log(child);
        sys.read(0);
        console.log(sys.kill(child, 'SIGINT'));
        console.log(sys.kill(child, 'SIGKILL'));
        sys.wait(child);
      `,
      { fds: { stdin: input.stdin } },
    );
    // SYS_SPAWN blocks while the child's program is prepared: wait for its pid, then for the read.
    await printed(parent, '\n');
    await parked(parent);
    const childPid = Number(parent.stdout().trim());
    const child = kernel.get(childPid)!;
    const own: (SignalEvent | 'complete')[] = [];
    child.signals.events.subscribe({ next: (e) => own.push(e), complete: () => own.push('complete') });
    await until(() => child.sandbox?.idle === true, 'the child to be idle');
    expect(kernel.kill(childPid, 'SIGSTOP', 'alice')).toBe('stopped');
    expect(kernel.kill(childPid, 'SIGCONT', 'alice')).toBe('continued');
    await input.send('go');
    expect(await exited(parent)).toMatchObject({ status: 0 });
    expect(parent.stdout().trim().split('\n').slice(1)).toEqual(['delivered', 'terminated']);
    const expected = [
      ['alice', childPid, 'SIGSTOP', 'stopped'],
      ['alice', childPid, 'SIGCONT', 'continued'],
      [parent.pid, childPid, 'SIGINT', 'delivered'],
      [parent.pid, childPid, 'SIGKILL', 'terminated'],
    ];
    expect(bus.map(shape)).toEqual(expected);
    expect(own.map((e) => (e === 'complete' ? e : shape(e)))).toEqual([...expected, 'complete']);
    for (const e of bus) expect(typeof e.time).toBe('number');
  });

  it('the stream of a process killed by a default action sees that signal, then completes', async () => {
    const kernel = kernelFor();
    const agent = start(kernel, IDLE);
    const own: string[] = [];
    agent.proc.signals.events.subscribe({ next: (e) => own.push(`${e.signal}:${e.outcome}`), complete: () => own.push('complete') });
    await idle(agent);
    kernel.kill(agent.pid, 'SIGTERM');
    await exited(agent);
    expect(own).toEqual(['SIGTERM:terminated', 'complete']);
  });
});
