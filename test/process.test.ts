/**
 * The process table as an operator sees it: pids, ps states, wait and reaping,
 * kill, shutdown, many agents at once, bad agent ids, uncaught errors and exit
 * from deep inside a program — real kernel, real isolates, no mocks.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { Kernel } from '../kernel/kernel.ts';
import type { Process } from '../kernel/process.ts';
import { programFromSource } from '../kernel/program.ts';
import { KernelError } from '../abi/errno.ts';
import { capture, runAgent } from './helpers.ts';
import { until } from './until.ts';

const BUSY = "console.log('spinning'); while (true) {}";
const IDLE = "console.log('waiting'); await new Promise(() => {});";

let resourcesBefore: string[] = [];
beforeAll(() => {
  resourcesBefore = process.getActiveResourcesInfo();
});

/** start spawns `source` in `kernel` with captured output. */
function start(kernel: Kernel, source: string, options: { agentId?: string; filename?: string } = {}): { proc: Process; out: ReturnType<typeof capture> } {
  const out = capture();
  const proc = kernel.spawn(programFromSource(options.filename ?? 'agent.js', source), { agentId: options.agentId, stdout: out.sink, stderr: out.sink });
  return { proc, out };
}

function stateOf(kernel: Kernel, pid: number) {
  return kernel.ps().find((p) => p.pid === pid);
}

/** expectKernelError runs `fn` and checks it throws a KernelError with `errno`. */
async function expectKernelError(fn: () => unknown, errno: string): Promise<void> {
  let thrown: unknown;
  try {
    await fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(KernelError);
  expect((thrown as KernelError).errno).toBe(errno);
}

describe('pids', () => {
  it('are unique and increasing, and never reused after a reap', async () => {
    const kernel = new Kernel();
    const pids: number[] = [];
    for (let i = 0; i < 5; i++) pids.push((await runAgent('sys.getpid();', { kernel })).exit.pid);
    const concurrent = Array.from({ length: 5 }, () => start(kernel, 'sys.getpid();').proc.pid);
    const all = [...pids, ...concurrent];
    expect(new Set(all).size).toBe(all.length);
    for (let i = 1; i < all.length; i++) expect(all[i]).toBeGreaterThan(all[i - 1] as number);
    await Promise.all(concurrent.map((pid) => kernel.wait(pid)));
  });
});

describe('ps, wait and kill', () => {
  it('shows running for a busy agent, blocked for an idle one, exited with status until waited for', async () => {
    const kernel = new Kernel();
    const busy = start(kernel, BUSY);
    const idle = start(kernel, IDLE);
    await until(() => busy.out.text === 'spinning\n', 'the busy agent to print');
    await until(() => stateOf(kernel, idle.proc.pid)?.state === 'blocked', 'the idle agent to block');
    expect(idle.out.text).toBe('waiting\n');
    expect(stateOf(kernel, busy.proc.pid)).toMatchObject({ state: 'running', agentId: `agent-${busy.proc.pid}`, program: 'agent.js', syscalls: 1 });
    expect(stateOf(kernel, busy.proc.pid)?.status).toBeUndefined();

    kernel.kill(busy.proc.pid, 'SIGKILL');
    kernel.kill(idle.proc.pid, 'SIGTERM');
    expect(stateOf(kernel, busy.proc.pid)).toMatchObject({ state: 'exited', status: 132 });
    expect(stateOf(kernel, idle.proc.pid)).toMatchObject({ state: 'exited', status: 133 });
    expect(kernel.liveIsolates()).toBe(0);

    const record = await kernel.wait(busy.proc.pid);
    expect(record).toMatchObject({ pid: busy.proc.pid, status: 132, reason: { kind: 'signal', signal: 'SIGKILL' } });
    expect(kernel.ps().map((p) => p.pid)).toEqual([idle.proc.pid]);
    expect((await kernel.wait(idle.proc.pid)).reason).toMatchObject({ kind: 'signal', signal: 'SIGTERM' });
    expect(kernel.ps()).toEqual([]);
  });

  it('wait and kill answer ESRCH for unknown, exited or reaped pids', async () => {
    const kernel = new Kernel();
    await expectKernelError(() => kernel.wait(999), 'ESRCH');
    expect(() => kernel.kill(999, 'SIGKILL')).toThrow(KernelError);
    const { proc } = start(kernel, 'sys.getpid();');
    await proc.exited;
    await expectKernelError(() => kernel.kill(proc.pid, 'SIGKILL'), 'ESRCH');
    expect((await kernel.wait(proc.pid)).status).toBe(0);
    await expectKernelError(() => kernel.wait(proc.pid), 'ESRCH');
    await expectKernelError(() => kernel.kill(proc.pid, 'SIGTERM'), 'ESRCH');
  });

  it('SIGKILL ends a busy while(true) loop with status 132, and the kernel keeps going', async () => {
    const kernel = new Kernel();
    const busy = start(kernel, BUSY);
    await until(() => busy.out.text === 'spinning\n', 'the busy agent to print');
    const sandbox = busy.proc.sandbox!;
    kernel.kill(busy.proc.pid, 'SIGKILL');
    const record = await kernel.wait(busy.proc.pid);
    expect(record.status).toBe(132);
    expect(record.reason).toMatchObject({ kind: 'signal', signal: 'SIGKILL' });
    expect(sandbox.disposed).toBe(true);
    expect(busy.proc.sandbox).toBeUndefined();
    const after = await runAgent("console.log('after', 1 + 1);", { kernel });
    expect(after.exit.status).toBe(0);
    expect(after.stdout).toBe('after 2\n');
  });

  it('shutdown kills idle and busy agents and reaps every process', async () => {
    const kernel = new Kernel();
    const idle = [start(kernel, IDLE), start(kernel, IDLE), start(kernel, BUSY)];
    const done = start(kernel, 'sys.getpid();');
    await done.proc.exited;
    await until(() => idle.slice(0, 2).every(({ proc }) => stateOf(kernel, proc.pid)?.state === 'blocked'), 'the idle agents to block');
    await kernel.shutdown();
    for (const { proc } of idle) expect(proc.exit).toMatchObject({ status: 132, reason: { kind: 'signal', signal: 'SIGKILL', why: expect.stringContaining('kernel shutdown') } });
    expect(done.proc.exit?.status).toBe(0);
    expect(kernel.ps()).toEqual([]);
    expect(kernel.liveIsolates()).toBe(0);
  });
});

describe('many agents', () => {
  it('50 agents spawned at once all exit 0, and no isolate outlives its process', async () => {
    const kernel = new Kernel();
    const agents = Array.from({ length: 50 }, (_, i) =>
      start(kernel, `let n = 0; for (let i = 0; i < 10000; i++) n += i; await null; console.log(sys.getpid(), ${i}, n);`, { agentId: `many-${i}` }),
    );
    await Promise.all(agents.map(({ proc }) => proc.exited));
    expect(kernel.liveIsolates()).toBe(0);
    expect(kernel.ps().filter((p) => p.state === 'exited')).toHaveLength(50);
    const records = await Promise.all(agents.map(({ proc }) => kernel.wait(proc.pid)));
    records.forEach((record, i) => {
      expect(record.status).toBe(0);
      expect(agents[i]?.out.text).toBe(`${record.pid} ${i} 49995000\n`);
    });
    expect(kernel.ps()).toEqual([]);
  });
});

describe('spawn errors and agent failures', () => {
  it.each(['', '../etc', 'a/b', 'x'.repeat(65), '-dash', 'has space', 'nul\0', 'ümlaut'])('agent id %j is refused with EINVAL', async (agentId) => {
    const kernel = new Kernel();
    await expectKernelError(() => kernel.spawn(programFromSource('a.js', 'sys.getpid();'), { agentId }), 'EINVAL');
    expect(kernel.ps()).toEqual([]);
    expect((await runAgent('sys.getpid();', { kernel, agentId: 'fine.id_1-x' })).exit.status).toBe(0);
  });

  it('an uncaught error ends the process with status 1 and the agent-side stack', async () => {
    const source = ['type N = number;', 'function explode(n: N): never {', '  throw new Error(`broken ${n}`);', '}', 'explode(7);'].join('\n');
    const { exit, stderr } = await runAgent(source, { filename: 'worker.ts' });
    expect(exit.status).toBe(1);
    expect(stderr).toBe('');
    if (exit.reason.kind !== 'error') throw new Error(`expected an error exit, got ${JSON.stringify(exit.reason)}`);
    const lines = exit.reason.error.split('\n');
    expect(lines[0]).toBe('Error: broken 7');
    expect(lines[1]).toBe('    at explode (worker.ts:3:9)');
    expect(lines[2]).toMatch(/^ {4}at main \(worker\.ts:5:1\)$/);
    expect(exit.reason.error).not.toMatch(/node:internal|agent-runtime|isolated-vm|\/kernel\//);
  });

  it('an error thrown after an await is reported the same way', async () => {
    const { exit } = await runAgent('await null;\nawait Promise.resolve();\nthrow new TypeError("late");', { filename: 'late.js' });
    expect(exit.status).toBe(1);
    expect(exit.reason).toEqual({ kind: 'error', error: 'TypeError: late\n    at main (late.js:3:7)' });
  });

  it('SYS_EXIT inside nested functions and try/finally ends the process; no finally block runs', async () => {
    const source = `
      function inner() {
        try { console.log('inner'); sys.exit(5); } finally { console.log('FINALLY-INNER'); }
      }
      async function outer() {
        try { await null; inner(); } catch (e) { console.log('CAUGHT', String(e)); } finally { console.log('FINALLY-OUTER'); }
      }
      try { await outer(); } finally { console.log('FINALLY-MAIN'); }
      console.log('AFTER');`;
    const { exit, stdout, stderr } = await runAgent(source, { filename: 'exit.js' });
    expect(exit.status).toBe(5);
    expect(exit.reason).toEqual({ kind: 'exit' });
    expect(stdout).toBe('inner\n');
    expect(stderr).toBe('');
  });

  it('a process still ends when the log cannot take its records (closed, full): from a timer, nothing is thrown where nothing catches it; a spawn it cannot record does not happen', async () => {
    let closed = false;
    const recorded: string[] = [];
    const kernel = new Kernel({
      stdout: () => {},
      recorder: {
        record(entry) {
          if (closed) throw new KernelError('EIO', 'the decision log is closed');
          recorded.push(entry.type);
          return recorded.length;
        },
        beforeAction: () => undefined,
      },
    });
    const proc = kernel.spawn(programFromSource('spin.js', 'for (;;) {}'), { limits: { wallMs: 150 } });
    closed = true;
    const record = await kernel.wait(proc.pid);
    expect(record).toMatchObject({ status: 132, reason: { kind: 'signal', signal: 'SIGKILL', why: 'wall time limit 150 ms' } });
    expect(() => kernel.spawn(programFromSource('x.js', ''))).toThrow('the decision log is closed');
    expect(kernel.ps()).toEqual([]);
    expect(kernel.liveIsolates()).toBe(0);
  });
});

/** count tallies resource kinds. */
const count = (list: readonly string[]) => list.reduce((m, r) => m.set(r, (m.get(r) ?? 0) + 1), new Map<string, number>());

describe('resources', () => {
  it('leaves no more active handles than there were before these tests', async () => {
    // Every handle still open was open before (a timer of the test runner's own may have ended meanwhile); one being closed may take a moment.
    const before = count(resourcesBefore);
    const extra = () => [...count(process.getActiveResourcesInfo())].filter(([kind, n]) => n > (before.get(kind) ?? 0));
    await until(() => extra().length === 0, () => `the handles opened by these tests to close (more than before: ${JSON.stringify(extra())})`);
  });
});
