import { describe, expect, it } from 'vitest';
import { Kernel } from '../../kernel/kernel.ts';
import { programFromSource } from '../../kernel/program.ts';
import { until } from '../until.ts';
import { report, run, syscallRecords } from './harness.ts';

describe('SYS_TIMER', () => {
  it('completes after ms: the blocking form sleeps, the asynchronous one resolves later while the program goes on', async () => {
    const { value } = await report(`
      const t0 = Date.now(); sys.sleep(30); const slept = Date.now() - t0;
      const order = []; const t1 = Date.now();
      const done = sys.async.sleep(40).then(() => order.push('timer'));
      order.push('after call');
      await done;
      report({ slept: slept >= 29, waited: Date.now() - t1 >= 39, order });`);
    expect(value).toEqual({ slept: true, waited: true, order: ['after call', 'timer'] });
  });

  it('EINVAL for a negative, fractional or missing ms', async () => {
    const { value } = await report('report([raw(SYS.SYS_TIMER, -1), raw(SYS.SYS_TIMER, 1.5), raw(SYS.SYS_TIMER), raw(SYS.SYS_TIMER, 2 ** 31)]);');
    expect(value).toEqual(Array.from({ length: 4 }, () => ({ errno: 'EINVAL' })));
  });

  it('is a recorded decision, denied by a policy that leaves it out (setTimeout then fails like any denied call)', async () => {
    const { result } = await report('sys.sleep(0); report(0);');
    expect(syscallRecords(result.kernel, 'SYS_TIMER').map((r) => [r.effect, r.rule])).toEqual([['allow', 'event-loop']]);
    const strict = new Kernel({ policy: (await import('../../kernel/policy/load.ts')).parsePolicy('version: 1\nrules:\n  - { id: out, effect: allow, syscalls: [SYS_WRITE] }\n', 'strict.yaml') });
    const denied = await run("setTimeout(() => console.log('never'), 0);", { kernel: strict });
    expect(denied.exit.status).toBe(1);
    expect(denied.exit.reason).toMatchObject({ kind: 'error', error: expect.stringContaining('SYS_TIMER denied by default-deny') });
  });

  it('a timer past the tree\'s syscall rate waits for the next second instead of failing', async () => {
    const kernel = new Kernel({ limits: { syscallsPerSecond: 20 } });
    const { value } = await report(`
      const t0 = Date.now(); let n = 0;
      for (let i = 0; i < 30; i++) await new Promise((r) => setTimeout(r, 0)), n++;
      report({ n, waited: Date.now() - t0 >= 500 });`, { kernel });
    expect(value).toEqual({ n: 30, waited: true });
  });

  it('never outlives its process: a pending timer is cleared when the process is killed', async () => {
    const kernel = new Kernel();
    const proc = kernel.spawn(programFromSource('sleeper.js', 'await sys.async.sleep(60_000);'));
    await until(() => proc.state === 'blocked', 'the sleeper to wait on its timer');
    const handles = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    kernel.kill(proc.pid, 'SIGKILL');
    expect((await kernel.wait(proc.pid)).status).toBe(132);
    expect(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length).toBeLessThan(handles);
  });
});
