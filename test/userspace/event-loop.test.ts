/**
 * The ring-3 event loop: when a process ends (Node's rule: main settled and
 * nothing referenced pending), what an unsettled main does, and the one
 * kernel timer the loop keeps armed staying right under bursts. What the
 * kernel holds for one process's calls is in held-calls.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { Kernel } from '../../kernel/kernel.ts';
import { programFromSource } from '../../kernel/program.ts';
import { runAgent } from '../helpers.ts';
import { until } from '../until.ts';

describe('when a process ends', () => {
  it('main settled: it ends once its timers have run, with process.exitCode if set', async () => {
    const t0 = Date.now();
    const { exit, stdout } = await runAgent("setTimeout(() => { console.log('later'); process.exitCode = 3; }, 50); console.log('main done');");
    expect(stdout).toBe('main done\nlater\n');
    expect(exit.status).toBe(3);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(45);
  });

  it('an unref\'d timer does not keep it, a ref\'d interval does until cleared', async () => {
    const { exit, stdout } = await runAgent("setTimeout(() => console.log('never'), 60_000).unref(); let n = 0; const i = setInterval(() => { if (++n === 3) clearInterval(i); }, 1); await new Promise((r) => setTimeout(r, 30)); console.log(n);");
    expect(stdout).toBe('3\n');
    expect(exit.status).toBe(0);
  });

  it('an error thrown in a timer callback ends it with status 1 and the error', async () => {
    const { exit } = await runAgent("setTimeout(() => { throw new Error('from a timer'); }, 0);", { filename: 'boom.js' });
    expect(exit.status).toBe(1);
    expect(exit.reason).toMatchObject({ kind: 'error', error: expect.stringContaining('Error: from a timer') });
  });

  it('a promise left rejected ends it with its own error once the code after it has run, as in Node, also when a runtime layer loads next (it used to say "runtime layer web did not load", then it ended before the next line)', async () => {
    const { exit, stdout } = await runAgent("new Promise(() => { throw new Error('left rejected'); }); console.log(crypto.randomUUID().length);", { filename: 'rejected.js' });
    expect(stdout).toBe('36\n');
    expect(exit.status).toBe(1);
    expect(exit.reason).toMatchObject({ kind: 'error', error: expect.stringMatching(/^Error: left rejected\n\s+at rejected\.js:1:/) });
  });

  it('an uncaught error prints its cause chain, with codes, as Node does (found by a newcomer: a refused fetch said only "fetch failed")', async () => {
    const { exit } = await runAgent("const inner = Object.assign(new Error('the reason'), { code: 'EACCES' }); throw new TypeError('fetch failed', { cause: inner });", { filename: 'cause.js' });
    expect(exit.status).toBe(1);
    expect(exit.reason).toMatchObject({ kind: 'error', error: expect.stringMatching(/^TypeError: fetch failed\n[\s\S]*\n {2}\[cause\] \(EACCES\): Error: the reason/) });
  });

  it('main that never settles, with nothing outstanding, leaves the process idle (blocked) for signals', async () => {
    const kernel = new Kernel({ stdout: () => {}, stderr: () => {} });
    const proc = kernel.spawn(programFromSource('idle.js', 'await new Promise(() => {});'));
    // Once main's synchronous part is done the kernel decides: idle (blocked), or the end of the process.
    await until(() => proc.sandbox?.idle === true || proc.exit !== undefined, 'main to run');
    expect(proc.exit).toBeUndefined();
    expect(kernel.get(proc.pid)?.state).toBe('blocked');
    kernel.kill(proc.pid, 'SIGKILL');
    expect((await kernel.wait(proc.pid)).status).toBe(132);
  });
});

describe('the loop\'s kernel timer', () => {
  // Found by the framework tests under load: the loop cancelled its timer with an asynchronous call from a small budget of
  // its own; with cancelled timers not yet delivered the cancel was refused (EAGAIN) and dropped, and a cleared 10-minute
  // timeout kept the process alive. The cancel now takes the blocking form (it never waits) and a refused arm is retried.
  it('a burst of set-and-clear with decreasing deadlines, without yielding to the kernel, leaves nothing armed', async () => {
    // A timeout left armed would keep the process for ten minutes, far past the test's timeout.
    const { exit, stdout } = await runAgent('for (let i = 0; i < 300; i++) { const t = setTimeout(() => {}, 600_000 - i); await null; clearTimeout(t); await null; } console.log("done");');
    expect(stdout).toBe('done\n');
    expect(exit.status).toBe(0);
  });

  it('300 timers armed in a burst that never yields still all fire, earliest deadline first', async () => {
    // Each timer's deadline lies between the clock read just before and just after its setTimeout; a timer must never
    // fire before one whose deadline is surely earlier than its own.
    const { exit, stdout } = await runAgent('const lo = [], hi = [], fired = []; for (let i = 0; i < 300; i++) { lo[i] = Date.now() + 300 - i; setTimeout(() => fired.push(i), 300 - i); hi[i] = Date.now() + 300 - i; await null; } await new Promise((r) => setTimeout(r, 400)); const ordered = fired.every((t, k) => k === 0 || lo[fired[k - 1]] <= hi[t]); console.log(fired.length, new Set(fired).size, ordered);');
    expect(stdout).toBe('300 300 true\n');
    expect(exit.status).toBe(0);
  });
});

describe('ordering as in Node (found by a review)', () => {
  it("the first use of a lazily loaded global does not run the program's pending promise callbacks in the middle of main", async () => {
    const { stdout } = await runAgent("const log = []; Promise.resolve().then(() => log.push('p1')); log.push('s1'); new TextEncoder(); Buffer.from('x'); log.push('s2'); await null; console.log(log.join(','));");
    expect(stdout).toBe('s1,s2,p1\n');
  });

  it("an error thrown by an event listener ends the process as uncaught, after the dispatch and the code after it; the shim's warnings are not printed", async () => {
    const { exit, stdout, stderr } = await runAgent("const ac = new AbortController(); ac.signal.addEventListener('abort', () => { throw new Error('bug in a handler'); }); ac.signal.addEventListener('abort', () => console.log('second listener ran')); const t = new EventTarget(); const f = () => {}; t.addEventListener('x', f); t.addEventListener('x', f); new Event('x').preventDefault(); ac.abort(); console.log('continued');", { filename: 'listener.js' });
    expect(stdout).toBe('second listener ran\ncontinued\n');
    expect(exit.status).toBe(1);
    expect(exit.reason).toMatchObject({ kind: 'error', error: expect.stringContaining('Error: bug in a handler') });
    expect(stderr).not.toContain('listener');
    expect(stderr).not.toContain('preventDefault');
  });

  it("nor does it in a signal handler the kernel delivers while the program is idle", async () => {
    // Another process signals this one while it waits (idle), so the kernel delivers the signal by a call of its own.
    const { stdout } = await runAgent("sys.writeFile('mem/killer.js', 'sys.sleep(50); sys.kill(Number(sys.args[0]), \\'SIGUSR1\\');'); sys.signal.on('SIGUSR1', () => { const log = []; Promise.resolve().then(() => log.push('p1')); log.push('s1'); process.env; log.push('s2'); Promise.resolve().then(() => console.log(log.join(','))); }); await sys.async.wait(sys.spawn('mem/killer.js', [String(sys.pid)], { capabilities: ['signal:any'] })); await new Promise((r) => setTimeout(r, 20));", { manifest: { capabilities: ['signal:any'] } });
    expect(stdout).toBe('s1,s2,p1\n');
  });

  it('promise callbacks a timer queued run before the next timer; a delay given as text is that many ms', async () => {
    const { stdout } = await runAgent("const log = []; setTimeout(() => { log.push('A'); Promise.resolve().then(() => log.push('A.then')); }, 0); setTimeout(() => log.push('B'), 0); setTimeout(() => log.push('text 40'), '40'); setTimeout(() => log.push('10'), 10); setTimeout(() => console.log(log.join(',')), 100);");
    expect(stdout).toBe('A,A.then,B,10,text 40\n');
  });
});

describe('AbortSignal.timeout', () => {
  // Found by a review: fetch(url, { signal: AbortSignal.timeout(60_000) }) kept the agent alive a minute after its work.
  it('does not keep the process alive on its own, and still aborts what waits on it', async () => {
    // Before, the process waited out the 60 s timer (past the test's own timeout).
    const { exit, stdout } = await runAgent("AbortSignal.timeout(60_000); const s = AbortSignal.timeout(20); await new Promise((resolve) => s.addEventListener('abort', resolve)); console.log(s.reason.name);");
    expect(stdout).toBe('TimeoutError\n');
    expect(exit.status).toBe(0);
  });
});
