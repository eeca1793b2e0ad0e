/**
 * Adversarial agents against the asynchronous syscalls and ring 3's event
 * loop: the kernel's hidden entry points, floods of timers and asynchronous
 * calls, SIGSTOP/SIGKILL with work outstanding, hostile values handed to
 * structuredClone and console, and how a process ends. Each test is a real
 * agent in a real kernel; the process may fail, the kernel must not: after
 * every test a well-behaved neighbour runs in the same kernel, no isolate is
 * left and no host timer outlives the processes.
 *
 * Each defect this pass found is pinned by a test (the comment says which
 * and where, and the fix). The one still open is marked `it.fails`: it
 * starts failing, loudly, once it is fixed.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Kernel } from '../../kernel/kernel.ts';
import { parsePolicy } from '../../kernel/policy/load.ts';
import type { Process } from '../../kernel/process.ts';
import { programFromSource } from '../../kernel/program.ts';
import { MAX_OUTSTANDING } from '../../kernel/async-calls.ts';
import type { SpawnOptions } from '../../kernel/kernel-options.ts';
import { capture, runAgent, type RunResult } from '../helpers.ts';
import { until } from '../until.ts';

const kernel = new Kernel({ policy: parsePolicy('version: 1\nrules:\n  - id: allow-all\n    effect: allow\n', 'allow-all.yaml'), stdout: () => {}, stderr: () => {} });

/** hostTimers counts the host's active timers (Timeout and Immediate handles). */
const hostTimers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout' || r === 'Immediate').length;
const timersBefore = hostTimers();

function run(source: string, options: SpawnOptions = {}): Promise<RunResult> {
  return runAgent(source, { kernel, filename: 'adversary.js', ...options });
}

/** started spawns `source` and returns the process with its captured output. */
function started(source: string, options: SpawnOptions = {}): { proc: Process; out: () => string } {
  const out = capture();
  const proc = kernel.spawn(programFromSource('adversary.js', source), { stdout: out.sink, stderr: out.sink, ...options });
  return { proc, out: () => out.text };
}

/**
 * outlast runs an agent that sleeps `ms` on a kernel timer, armed after every
 * timer of the agent under test (the same length or shorter): once it has
 * ended, those have fired too, and what they would have set going has had
 * its turn.
 */
async function outlast(ms: number): Promise<void> {
  const { exit } = await run(`await sys.async.sleep(${ms});`);
  expect(exit.status).toBe(0);
}

afterEach(async () => {
  const { exit, stdout } = await run("await sys.async.sleep(1); setTimeout(() => console.log('neighbour', 6 * 7), 1);");
  expect(exit).toMatchObject({ status: 0, reason: { kind: 'exit' } });
  expect(stdout).toBe('neighbour 42\n');
  expect(kernel.liveIsolates()).toBe(0);
  // The kernel's timers of a process (its SYS_TIMERs, its tool calls) end with it.
  await until(() => hostTimers() <= timersBefore, () => `the host's timers to be back to ${timersBefore} (now ${hostTimers()})`);
});

afterAll(() => {
  expect(kernel.ps()).toEqual([]);
  expect(kernel.liveIsolates()).toBe(0);
});

const HIDDEN = ['__syscall', '__async', '__collect', '__wake', '__settle', '__layer', '__boot', '__start', '__entry', '__register'];

describe('the kernel-held entry points (complete, deliver) and the host callbacks', () => {
  it('are unreachable from ring 3 before and after the layers load and completions arrive', async () => {
    const { stdout, exit } = await run(`
      const hidden = ${JSON.stringify(HIDDEN)};
      const seen = (when) => [when, hidden.filter((n) => n in globalThis), Object.getOwnPropertyNames(globalThis).filter((n) => n.startsWith('__'))];
      const out = [seen('start')];
      await sys.async.sleep(1);
      out.push(seen('after a completion'));
      console.log({ layer: 'web' });
      void process.pid; void Buffer.from('x');
      out.push(seen('after both layers'));
      await new Promise((r) => setTimeout(r, 1));
      out.push(seen('after a timer'));
      console.log(JSON.stringify(out));`);
    expect(exit.status, JSON.stringify(exit.reason)).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    expect(JSON.parse(lines.at(-1)!)).toEqual([
      ['start', [], []],
      ['after a completion', [], []],
      ['after both layers', [], []],
      ['after a timer', [], []],
    ]);
  });

  it('a trap set on globalThis.__register before a layer loads catches nothing (a layer comes back as the call\'s result, through no global); a non-configurable one changes nothing', async () => {
    const steal = await run(`
      const stolen = [];
      Object.defineProperty(globalThis, '__register', { configurable: true, get() { stolen.push('get'); return (x) => stolen.push(x); }, set(v) { stolen.push(v); } });
      console.log({ loads: 'the web layer' });
      // A computed name, and the program names no Node global: no layer, a ReferenceError (kernel/program-layers.ts).
      try { void globalThis[['pro', 'cess'].join('')].env; } catch {}
      console.log(JSON.stringify([stolen.length, '__register' in globalThis]));`);
    expect(steal.exit.status).toBe(0);
    // The program's own property stays: the runtime neither uses nor removes it.
    expect(steal.stdout.trimEnd().split('\n').at(-1)).toBe('[0,true]');

    const jam = await run(`
      Object.defineProperty(globalThis, '__register', { configurable: false, writable: false, value: () => {} });
      let web; try { console.log({ needs: 'the web layer' }); web = 'printed'; } catch (e) { web = e.name; }
      console.log(web);`);
    // The agent broke its own formatter (or the layer registered anyway): either way nothing outside it changed.
    expect(jam.exit.reason.kind === 'exit' || jam.exit.reason.kind === 'error').toBe(true);
  });

  it('prototype getters watching completions and signal deliveries see only plain data, never a kernel function', async () => {
    const { stdout, exit } = await run(`
      const seen = new Set();
      const watch = (key) => Object.defineProperty(Object.prototype, key, { configurable: true, get() { for (const v of Object.values(this)) seen.add(typeof v); return undefined; } });
      for (const key of ['sig', 'then', 'deliver', 'complete', 'resolve', 'reject']) watch(key);
      sys.signal.on('SIGUSR1', () => {});
      await Promise.all([sys.async.sleep(1), sys.async.random(4), sys.async.stat('.').catch(() => 0)]);
      await new Promise((r) => setTimeout(r, 2));
      for (const key of ['sig', 'then', 'deliver', 'complete', 'resolve', 'reject']) delete Object.prototype[key];
      console.log(JSON.stringify([...seen].sort()));`);
    expect(exit.status).toBe(0);
    expect(JSON.parse(stdout.trimEnd().split('\n').at(-1)!)).not.toContain('function');
  });

  it("SYS_CANCEL reaches only the caller's own calls: another process's ids are not its to cancel", async () => {
    const victim = started("const t0 = Date.now(); await sys.async.sleep(300); console.log('slept', Date.now() - t0 >= 290);");
    await until(() => victim.proc.state === 'blocked', 'the victim to wait on its sleep');
    const { stdout } = await run(`const out = []; for (let id = 1; id <= 50; id++) out.push(syscall(SYS.SYS_CANCEL, id).v); console.log(JSON.stringify([...new Set(out)]));`);
    expect(stdout).toBe('[false]\n');
    const exit = await kernel.wait(victim.proc.pid);
    expect(exit.status).toBe(0);
    expect(victim.out()).toBe('slept true\n');
  });
});

describe('timers', () => {
  it('100,000 timers with random delays all fire, on a handful of kernel timers', async () => {
    const { stdout, exit } = await run(`
      let n = 0; const N = 100000;
      for (let i = 0; i < N; i++) setTimeout(() => { if (++n === N) console.log('all', n); }, Math.floor(Math.random() * 100));`);
    expect(exit.status).toBe(0);
    expect(stdout).toBe('all 100000\n');
    // One kernel timer armed at a time: far fewer syscalls than timers.
    expect(exit.syscalls).toBeLessThan(2000);
  });

  // Was a defect, found by the attacker pass and fixed (userspace/runtime/loop.js, earliest/unschedule): a cleared timer's
  // record stays in the heap until the next arm() (a microtask), so a
  // synchronous set+clear loop grows the heap by one record (with its handle,
  // closure and args) per iteration and a 1e6 loop dies of the 64 MiB heap
  // limit; Node runs it in constant memory. Fix: compact in unschedule() when
  // dead records outnumber live ones (or keep heap positions and remove the
  // record at once).
  it('a synchronous set+clear loop of 1e6 timers runs in bounded memory', async () => {
    const { stdout, exit } = await run("for (let i = 0; i < 1e6; i++) clearTimeout(setTimeout(() => {}, 10)); console.log('done');");
    expect(exit.reason).toEqual({ kind: 'exit' });
    expect(stdout).toBe('done\n');
  });

  it('an endless setInterval(0) is ended by SIGKILL; nothing of it stays in the host', async () => {
    const spin = started("let ticks = 0; setInterval(() => { ticks++; }, 0);");
    await until(() => spin.proc.syscalls > 10, 'the interval to tick');
    expect(spin.proc.exit).toBeUndefined();
    expect(kernel.kill(spin.proc.pid, 'SIGKILL')).toBe('terminated');
    const exit = await kernel.wait(spin.proc.pid);
    expect(exit).toMatchObject({ status: 132, reason: { kind: 'signal', signal: 'SIGKILL' } });
    expect(exit.syscalls).toBeGreaterThan(10);
  });

  it('a main that never settles, with nothing outstanding, stays idle (blocked) until SIGKILL', async () => {
    const idle = started("console.log('waiting'); await new Promise(() => {});");
    // Idle is the kernel's decision once main's synchronous part is done (ending the process would have been the other).
    await until(() => idle.out() === 'waiting\n' && idle.proc.state === 'blocked' && idle.proc.sandbox?.idle === true, 'the agent to be idle');
    expect(idle.proc.exit).toBeUndefined();
    kernel.kill(idle.proc.pid, 'SIGKILL');
    expect((await kernel.wait(idle.proc.pid)).status).toBe(132);
  });

  it('the wall-time limit ends a timer-spinning agent', async () => {
    const { exit } = await run('setInterval(() => {}, 0); setInterval(() => { for (let i = 0; i < 1e5; i++); }, 1);', { limits: { wallMs: 400 } });
    expect(exit).toMatchObject({ status: 132, reason: { kind: 'signal', signal: 'SIGKILL', why: 'wall time limit 400 ms' } });
  });

  // Was a defect, found by the attacker pass and fixed (userspace/runtime/loop.js arm(), kernel/sandbox.ts enterAsync):
  // the event loop's one kernel timer is an ordinary asynchronous call, so
  // with 1,024 calls outstanding arming it is EAGAIN, which arm() reports as
  // an uncaught error: an agent with many reads or fetches in flight dies on
  // its next setTimeout. Fix: reserve one slot for the loop's timer (do not
  // count a SYS_TIMER from arm() against MAX_OUTSTANDING), or have arm()
  // retry on EAGAIN once a completion arrives.
  it('a setTimeout made while 1,024 asynchronous calls are outstanding still fires', async () => {
    const { stdout, exit } = await run(`
      const calls = []; for (let i = 0; i < ${MAX_OUTSTANDING}; i++) calls.push(sys.async.sleep(300));
      setTimeout(() => console.log('timer fired'), 10);
      await Promise.all(calls); console.log('calls done');`);
    expect(exit.reason).toEqual({ kind: 'exit' });
    expect(stdout).toBe('timer fired\ncalls done\n');
  });
});

describe('asynchronous calls: the outstanding limit, SIGSTOP and SIGKILL', () => {
  it(`2,000 concurrent calls: ${MAX_OUTSTANDING} are queued, the rest are EAGAIN at once, and all the queued ones complete`, async () => {
    const { stdout, exit } = await run(`
      const out = await Promise.all(Array.from({ length: 2000 }, () => sys.async.sleep(400).then(() => 'ok', (e) => e.errno)));
      const count = {}; for (const r of out) count[r] = (count[r] || 0) + 1;
      console.log(JSON.stringify(count));
      console.log(JSON.stringify(await Promise.all([sys.async.sleep(1).then(() => 'ok'), sys.async.random(2).then((b) => b.length)])));`);
    expect(exit.status).toBe(0);
    expect(stdout).toBe(`{"ok":${MAX_OUTSTANDING},"EAGAIN":${2000 - MAX_OUTSTANDING}}\n["ok",2]\n`);
  });

  // Was a defect, found by the attacker pass and fixed (kernel/sandbox.ts complete/flush): a call leaves `outstanding`
  // when the kernel finishes it, not when its completion is delivered. While
  // the isolate runs without yielding, finished calls pile up in
  // `completions` (host memory, about 10,000 a second at the default rate,
  // for as long as the agent spins) and new calls are admitted past the
  // 1,024 cap: the agent holds far more than 1,024 calls it has not yet seen
  // complete. Fix: count undelivered completions against MAX_OUTSTANDING
  // (delete from `outstanding` in flush(), after delivery).
  it('calls whose completions are not yet delivered still count against the outstanding limit', async () => {
    const { stdout, exit } = await run(`
      let issued = 0, refused = 0;
      const t0 = Date.now();
      while (Date.now() - t0 < 1200) { issued++; sys.async.sleep(0).catch(() => { refused++; }); }
      await null; await null;
      console.log(issued - refused);`);
    expect(exit.status).toBe(0);
    expect(Number(stdout.trim())).toBeLessThanOrEqual(MAX_OUTSTANDING);
  });

  it('completions are held while the process is stopped and delivered on SIGCONT', async () => {
    const agent = started(`
      const calls = Array.from({ length: 200 }, () => sys.async.sleep(30));
      setTimeout(() => console.log('timer'), 30);
      console.log('issued');
      await Promise.all(calls); console.log('completed');`);
    await until(() => agent.out() === 'issued\n', 'the agent to issue its calls');
    expect(kernel.kill(agent.proc.pid, 'SIGSTOP')).toBe('stopped');
    await outlast(30);
    expect(agent.out()).toBe('issued\n');
    expect(agent.proc.state).toBe('stopped');
    expect(kernel.kill(agent.proc.pid, 'SIGCONT')).toBe('continued');
    const exit = await kernel.wait(agent.proc.pid);
    expect(exit.status).toBe(0);
    expect(agent.out().split('\n').toSorted()).toEqual(['', 'completed', 'issued', 'timer']);
  });

  it('a stopped process with calls outstanding ends on SIGKILL, and its parked calls never run', async () => {
    const agent = started(`
      const calls = Array.from({ length: 500 }, () => sys.async.sleep(50));
      console.log('issued');
      await Promise.all(calls);
      for (let i = 0; i < 100; i++) sys.async.mkdir('mem/working/after-' + i).catch(() => {});`);
    await until(() => agent.out() === 'issued\n', 'the agent to issue its calls');
    kernel.kill(agent.proc.pid, 'SIGSTOP');
    // Every sleep completes while the agent is stopped: the mkdirs behind them are parked, and then killed.
    await outlast(50);
    kernel.kill(agent.proc.pid, 'SIGKILL');
    const exit = await kernel.wait(agent.proc.pid);
    expect(exit).toMatchObject({ status: 132, reason: { kind: 'signal', signal: 'SIGKILL' } });
    const { stdout } = await run("console.log(sys.readdir('mem/working').filter((e) => e.name.startsWith('after-')).length);", { agentId: agent.proc.agentId });
    expect(stdout).toBe('0\n');
  });
});

describe('exit semantics', () => {
  it('process.exitCode set after main settles is the status', async () => {
    const { exit } = await run('setTimeout(() => { process.exitCode = 3; }, 5);');
    expect(exit).toMatchObject({ status: 3, reason: { kind: 'exit' } });
  });

  it('an uncaught error in a timer callback is status 1 with the error', async () => {
    const { exit } = await run("setTimeout(() => { throw new Error('boom in timer'); }, 1);");
    expect(exit.status).toBe(1);
    expect(exit.reason).toMatchObject({ kind: 'error', error: expect.stringContaining('Error: boom in timer') });
  });

  it("unref'd timers and intervals do not keep the process alive", async () => {
    const { exit, stdout } = await run("setTimeout(() => console.log('never'), 5000).unref(); setInterval(() => console.log('never'), 50).unref(); console.log('main');");
    // Kept alive, it would print 'never' every 50 ms.
    expect(exit).toMatchObject({ status: 0, reason: { kind: 'exit' } });
    expect(stdout).toBe('main\n');
  });

  it('an unhandled rejection while main runs ends the process with status 1', async () => {
    const { exit } = await run("Promise.reject(new Error('unhandled in main'));");
    expect(exit.status).toBe(1);
    expect(exit.reason).toMatchObject({ kind: 'error', error: expect.stringContaining('unhandled in main') });
  });

  // Was a defect, found by the attacker pass and fixed (kernel/sandbox.ts flush/deliver -> failedEntry): an unhandled
  // rejection raised while a completion is delivered (an async timer
  // callback that throws, a rejection in a .then) makes completeRef.apply
  // reject, and failedEntry drops every error but out-of-memory, so the
  // process exits 0. While main runs, the same rejection is status 1 (test
  // above); Node exits 1 in both cases. Fix: in failedEntry, finish({ kind:
  // 'threw', error }) for an error that is not the isolate's disposal.
  it('an unhandled rejection in an async timer callback ends the process with status 1', async () => {
    const { exit } = await run("setTimeout(async () => { throw new Error('async callback'); }, 1);");
    expect(exit.status).toBe(1);
    expect(exit.reason).toMatchObject({ kind: 'error', error: expect.stringContaining('async callback') });
  });

  // Was a defect, found by the attacker pass and fixed (userspace/runtime/loop.js Timeout.refresh): refresh() on a timer
  // whose callback has run does nothing; Node re-arms it ("using this on a
  // timer that has already called its callback will reactivate the timer"),
  // a common debounce/watchdog pattern. Fix: schedule the record (and put it
  // back in byId) when it is not live.
  it('refresh() inside a timeout callback re-arms it, as in Node', async () => {
    const { stdout } = await run("let n = 0; const t = setTimeout(() => { if (++n < 3) t.refresh(); else console.log('fired', n); }, 5);");
    expect(stdout).toBe('fired 3\n');
  });

  // Was a defect, found by the attacker pass and fixed (kernel/sandbox.ts agentStack): the error text of an agent keeps
  // the host's frames that isolated-vm appends after its boundary marker
  // (`at start (file:///…/kernel/sandbox.ts…)`, `node:internal/…`): kernel
  // paths in the agent's exit reason, and frames that are not the agent's.
  // Fix: drop every line from the `<isolated-vm boundary>` marker on, or any
  // `file://`/`node:` frame.
  it("an agent's error names none of the kernel's files", async () => {
    const { exit } = await run("Promise.reject(new Error('unhandled in main'));");
    expect(exit.reason.kind).toBe('error');
    const error = exit.reason.kind === 'error' ? exit.reason.error : '';
    expect(error).not.toMatch(/file:\/\/|node:internal|kernel\/sandbox\.ts/);
  });
});

describe('hostile values for structuredClone and console', () => {
  it('structuredClone: cycles are kept, throwing getters and proxy traps throw in the agent, functions are DataCloneError', async () => {
    const { stdout, exit } = await run(`
      const out = [];
      const a = { x: 1 }; a.self = a; a.list = [a, a]; a.map = new Map([[a, a]]);
      const c = structuredClone(a); out.push(c.self === c && c.list[1] === c && c.map.get(c) === c);
      const attempt = (v) => { try { structuredClone(v); return 'cloned'; } catch (e) { return e.name + ':' + e.message; } };
      out.push(attempt({ get x() { throw new Error('getter'); } }));
      out.push(attempt(new Proxy({}, { ownKeys() { throw new Error('ownKeys trap'); } })));
      out.push(attempt(new Proxy({}, { get() { throw new Error('get trap'); } })));
      out.push(attempt({ f() {} }).split(':')[0]);
      console.log(JSON.stringify(out));`);
    expect(exit.status).toBe(0);
    expect(JSON.parse(stdout)).toEqual([true, 'Error:getter', 'Error:ownKeys trap', 'cloned', 'DataCloneError']);
  });

  it('structuredClone of a 20,000-deep object and array does not overflow the stack', async () => {
    const { stdout, exit } = await run(`
      let o = {}; const root = o; for (let i = 0; i < 20000; i++) { o.n = {}; o = o.n; }
      let a = []; const top = a; for (let i = 0; i < 20000; i++) { const n = []; a.push(n); a = n; }
      const c = structuredClone(root); let d = 0; for (let x = c; x.n; x = x.n) d++;
      const t = structuredClone(top); let e = 0; for (let x = t; x.length; x = x[0]) e++;
      console.log(d, e);`);
    expect(exit.status).toBe(0);
    expect(stdout).toBe('20000 20000\n');
  });

  it('a proxy that lists a million keys exhausts only the agent', async () => {
    const { exit } = await run(`
      const p = new Proxy({}, { ownKeys: () => Array.from({ length: 1e6 }, (_, i) => 'k' + i), getOwnPropertyDescriptor: () => ({ value: 'v'.repeat(64), enumerable: true, configurable: true }), get: () => 'v'.repeat(64) });
      const copies = []; for (;;) copies.push(structuredClone(p));`, { limits: { wallMs: 10_000 } });
    expect(exit.status).toBe(132);
  });

  it('console.log of throwing getters, throwing proxy traps, inspect hooks and huge or deep values fails only in the agent', async () => {
    const { stdout, exit } = await run(`
      const out = [];
      const tryLog = (label, ...v) => { try { console.log(...v); out.push(label + ':ok'); } catch (e) { out.push(label + ':' + e.message); } };
      tryLog('getter', { get x() { throw new Error('g'); } });
      tryLog('proxy', new Proxy({}, new Proxy({}, { get() { throw new Error('every trap'); } })));
      tryLog('custom', { [Symbol.for('nodejs.util.inspect.custom')]() { throw new Error('custom'); } });
      tryLog('format', '%s %d %i %f %j %o', ...Array(6).fill({ [Symbol.toPrimitive]() { throw new Error('prim'); } }));
      tryLog('huge', new Array(1e5).fill(7));
      let deep = {}; const root = deep; for (let i = 0; i < 1e5; i++) { deep.n = {}; deep = deep.n; }
      tryLog('deep', root);
      const cyc = {}; cyc.cyc = cyc; try { console.dir(cyc, { depth: Infinity }); out.push('cyclic:ok'); } catch (e) { out.push('cyclic:' + e.message); }
      console.error(JSON.stringify(out));`);
    expect(exit.status).toBe(0);
    const lines = stdout.split('\n');
    expect(lines).toContain('{ x: [Getter] }');
    expect(stdout).toContain('... 99900 more items');
    expect(lines).toContain('{ n: { n: { n: [Object] } } }');
    expect(stdout).toContain('<ref *1> { cyc: [Circular *1] }');
  });

  // Defect (the web layer's util.inspect, userspace/web/console.js and its
  // node-inspect-extracted polyfill): printing a large array or typed array
  // materialises every index key (Node asks V8 for the non-index keys only),
  // so console.log(new Array(1e6).fill(7)) runs ~3 s and dies of the 64 MiB
  // heap limit, and console.log(new Uint8Array(4e6)) ~14 s; Node prints the
  // first 100 items at once. Fix: when formatting an array or typed array,
  // look for non-index keys without listing the indices (skip keys that are
  // canonical indices below length while iterating, stop after
  // maxArrayLength), or take them from Object.getOwnPropertyNames only when
  // the length is small.
  it.fails('console.log of a 1,000,000-element array prints its first 100 items', async () => {
    const { stdout, exit } = await run('console.log(new Array(1e6).fill(7));', { limits: { wallMs: 8000 } });
    expect(exit.reason).toEqual({ kind: 'exit' });
    expect(stdout).toContain('999900 more items');
  });

  it('console.dir of a 100,000-deep object at depth Infinity is refused as one oversized write (EFBIG), the kernel copies nothing of it', async () => {
    const { exit } = await run("let o = {}; const root = o; for (let i = 0; i < 1e5; i++) { o.n = {}; o = o.n; } console.dir(root, { depth: Infinity });");
    expect(exit.status).toBe(1);
    expect(exit.reason).toMatchObject({ kind: 'error', error: expect.stringContaining('larger than one syscall may carry') });
  });
});
