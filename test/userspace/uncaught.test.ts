/**
 * process.on('uncaughtException') as in Node: an error nobody caught (a
 * timer's, a microtask's, a signal handler's, main's own as an ES module's
 * top level) goes to 'uncaughtExceptionMonitor', then to the program's
 * 'uncaughtException' listeners with its origin, and the process goes on;
 * without a listener it ends the process as before; a listener that throws
 * ends it with its own error and status 7. A rejection's reason that is not
 * error-like goes past 'unhandledRejection' wrapped (ERR_UNHANDLED_REJECTION).
 */
import { describe, expect, it } from 'vitest';
import { Kernel } from '../../kernel/kernel.ts';
import { parsePolicy } from '../../kernel/policy/load.ts';
import { programFromSource } from '../../kernel/program.ts';
import { capture, runAgent } from '../helpers.ts';

describe("process.on('uncaughtException')", () => {
  it("takes a timer's, a microtask's and a signal handler's error, and the program goes on", async () => {
    const { exit, stdout } = await runAgent(
      [
        "process.on('uncaughtExceptionMonitor', (err, origin) => console.log('monitor', err.message, origin));",
        "process.on('uncaughtException', (err, origin) => console.log('caught', err.message, origin));",
        "setTimeout(() => { throw new Error('timer'); }, 1);",
        "queueMicrotask(() => { throw new Error('microtask'); });",
        "process.on('SIGUSR1', () => { throw new Error('handler'); });",
        "setTimeout(() => process.kill(process.pid, 'SIGUSR1'), 5);",
        "setTimeout(() => console.log('still running'), 30);",
      ].join('\n'),
      { filename: 'listens.js' },
    );
    expect(exit.status).toBe(0);
    expect(stdout).toBe(
      [
        'monitor microtask uncaughtException',
        'caught microtask uncaughtException',
        'monitor timer uncaughtException',
        'caught timer uncaughtException',
        'monitor handler uncaughtException',
        'caught handler uncaughtException',
        'still running',
        '',
      ].join('\n'),
    );
  });

  it("takes an async timer's or microtask's rejection as Node takes an unhandled rejection: 'unhandledRejection' listeners first, else 'uncaughtException' with that origin (they ended the process)", async () => {
    const both = await runAgent(
      [
        "process.on('uncaughtException', (err, origin) => console.log('caught', err.message, origin));",
        "setTimeout(async () => { await null; throw new Error('async timer'); }, 1);",
        "queueMicrotask(async () => { throw new Error('async microtask'); });",
        "setTimeout(() => console.log('later'), 30);",
      ].join('\n'),
      { filename: 'async-callbacks.js' },
    );
    expect(both.exit.status).toBe(0);
    expect(both.stdout).toBe('caught async microtask unhandledRejection\ncaught async timer unhandledRejection\nlater\n');
    const first = await runAgent("process.on('unhandledRejection', (err, p) => console.log('unhandled', err.message, p instanceof Promise));\nprocess.on('uncaughtException', () => console.log('not this one'));\nsetTimeout(async () => { throw new Error('async timer'); }, 1);", { filename: 'unhandled-first.js' });
    expect(first.stdout).toBe('unhandled async timer true\n');
    const none = await runAgent("setTimeout(async () => { throw new Error('nobody listens'); }, 1);\nsetTimeout(() => console.log('never'), 60);", { filename: 'async-none.js' });
    expect(none.stdout).toBe('');
    expect(none.exit).toMatchObject({ status: 1, reason: { kind: 'error', error: expect.stringMatching(/^Error: nobody listens/) } });
  });

  it("takes any other promise rejected with no handler, which the isolate reports to the kernel: 'unhandledRejection' listeners, else 'uncaughtException' with that origin, and the program goes on (they ended the process)", async () => {
    const listens = await runAgent(
      [
        // Each next rejection is made once the last is reported: timers due together run in one call, which reports only its first.
        "const next = [() => { Promise.reject(new RangeError('in a timer')); }, () => { new Promise((_, reject) => reject(42)); }, () => console.log('still running')];",
        "process.on('unhandledRejection', (reason, p) => { console.log('unhandled', reason instanceof RangeError ? reason.message : reason, p instanceof Promise); setTimeout(next.shift(), 1); });",
        "Promise.reject(new RangeError('in main'));",
      ].join('\n'),
      { filename: 'rejections.js' },
    );
    expect({ status: listens.exit.status, stdout: listens.stdout }).toEqual({ status: 0, stdout: 'unhandled in main true\nunhandled in a timer true\nunhandled 42 true\nstill running\n' });
    const uncaught = await runAgent("process.on('uncaughtException', (err, origin) => console.log('caught', err.message, origin));\nPromise.reject(new Error('left'));\nsetTimeout(() => console.log('later'), 5);", { filename: 'rejection-uncaught.js' });
    expect({ status: uncaught.exit.status, stdout: uncaught.stdout }).toEqual({ status: 0, stdout: 'caught left unhandledRejection\nlater\n' });
    const hosts = new Kernel({ hosts: { count: 1, agentsPerHost: 4, spares: 0 } });
    try {
      const out = capture();
      const proc = await hosts.spawnAsync(programFromSource('hosted.js', "process.on('unhandledRejection', (reason) => console.log('unhandled', reason.message));\nPromise.reject(new Error('on a host'));"), { stdout: out.sink, stderr: out.sink });
      const exit = await hosts.wait(proc.pid);
      expect({ status: exit.status, stdout: out.text }).toEqual({ status: 0, stdout: 'unhandled on a host\n' });
    } finally {
      await hosts.shutdown();
    }
    const throws = await runAgent("process.on('unhandledRejection', () => { throw new Error('from the listener'); });\nPromise.reject(new Error('left'));\nsetTimeout(() => console.log('never'), 20);", { filename: 'rejection-throws.js' });
    expect(throws.stdout).toBe('');
    expect(throws.exit).toMatchObject({ status: 1, reason: { kind: 'error', error: expect.stringMatching(/^Error: from the listener/) } });
  });

  it("takes main's own error as an unhandled rejection (an ES module's top level), and what main left pending still runs", async () => {
    const { exit, stdout } = await runAgent(
      ["process.on('uncaughtException', (err, origin) => console.log('caught', err.message, origin));", "setTimeout(() => console.log('timer ran'), 10);", "await Promise.reject(new Error('top level'));"].join('\n'),
      { filename: 'main-rejects.js' },
    );
    expect(exit.status).toBe(0);
    expect(stdout).toBe('caught top level unhandledRejection\ntimer ran\n');
  });

  it("takes what an fs callback throws, as Node does (found by a review: the callback ran in a promise reaction, and its error ended the process as a rejection)", async () => {
    const { exit, stdout } = await runAgent(
      ["const fs = globalThis[Symbol.for('agent-kernel.builtin')]('fs');", "process.on('uncaughtException', (err, origin) => console.log('caught', err.message, origin));", "fs.readFile('/nope', () => { throw new Error('fs-cb'); });", "fs.stat('.', () => { throw new Error('stat-cb'); });"].join('\n'),
      { filename: 'fs-callbacks.js' },
    );
    expect(exit.status).toBe(0);
    expect(stdout.split('\n').toSorted()).toEqual(['', 'caught fs-cb uncaughtException', 'caught stat-cb uncaughtException']);
  });

  it("does not take the event loop's own failure: a timer the kernel refuses ends the process, listener or not (found by a review: the listener took it and the process waited for ever)", async () => {
    const kernel = new Kernel({ policy: parsePolicy('version: 1\nrules:\n  - { id: no-timers, effect: allow, syscalls: [SYS_WRITE, SYS_EXIT, SYS_GETPID] }\n', 'no-timers.yaml') });
    try {
      const { exit, stdout } = await runAgent("process.on('uncaughtException', (e) => console.log('listener', e.errno));\nawait new Promise((r) => setTimeout(r, 20));\nconsole.log('never');", { kernel, filename: 'no-timers.js' });
      expect(stdout).toBe('');
      expect(exit).toMatchObject({ status: 1, reason: { kind: 'error', error: expect.stringMatching(/SYS_TIMER/) } });
    } finally {
      await kernel.shutdown();
    }
  });

  it("without a listener the error ends the process; an 'uncaughtException' listener that throws ends it with its own error and status 7, as in Node, in a sandbox host too", async () => {
    const none = await runAgent("process.on('uncaughtExceptionMonitor', () => console.log('monitor saw it'));\nsetTimeout(() => { throw new Error('nobody listens'); }, 1);\nsetTimeout(() => console.log('never'), 50);", { filename: 'none.js' });
    expect(none.stdout).toBe('monitor saw it\n');
    expect(none.exit).toMatchObject({ status: 1, reason: { kind: 'error', error: expect.stringMatching(/^Error: nobody listens/) } });
    const source = "process.on('uncaughtException', () => { throw new Error('from the listener'); });\nsetTimeout(() => { throw new Error('first'); }, 1);";
    const throws = await runAgent(source, { filename: 'throws.js' });
    expect(throws.exit).toMatchObject({ status: 7, reason: { kind: 'error', error: expect.stringMatching(/^Error: from the listener/) } });
    const hosts = new Kernel({ hosts: { count: 1, agentsPerHost: 4, spares: 0 } });
    try {
      const proc = await hosts.spawnAsync(programFromSource('hosted-throws.js', source));
      expect(await hosts.wait(proc.pid)).toMatchObject({ status: 7, reason: { kind: 'error', error: expect.stringMatching(/^Error: from the listener/) } });
    } finally {
      await hosts.shutdown();
    }
  });

  it("what an 'unhandledRejection' listener throws goes to the 'uncaughtException' listeners, as in Node (it ended the process)", async () => {
    const { exit, stdout } = await runAgent(
      "process.on('unhandledRejection', () => { throw new Error('from R'); });\nprocess.on('uncaughtException', (err, origin) => console.log('caught', err.message, origin));\nsetTimeout(async () => { throw 42; }, 1);\nsetTimeout(() => console.log('alive'), 20);",
      { filename: 'r-throws.js' },
    );
    expect({ status: exit.status, stdout }).toEqual({ status: 0, stdout: 'caught from R uncaughtException\nalive\n' });
  });

  it("a rejection whose reason is not error-like reaches 'uncaughtException' wrapped as Node wraps it (ERR_UNHANDLED_REJECTION, the reason named without running its code), and ends the process so without a listener; 'unhandledRejection' takes it as it is", async () => {
    // Each expected name is what Node 24 puts in the message for the same reason.
    const reasons: [string, string][] = [
      ['42', '42'],
      ["'str'", 'str'],
      ['{ x: 1 }', '#<Object>'],
      ['[1, 2]', '[object Array]'],
      ['null', 'null'],
      ['undefined', 'undefined'],
      ["Symbol('s')", 'Symbol(s)'],
      ['10n', '10'],
      ["new (class Foo { toString() { return 'foo!'; } })()", '[object Object]'],
      ['Object.create(null)', '[object Object]'],
      ['() => 1', '() => 1'],
      ['new Map()', '#<Map>'],
      ["Object.assign(Object.create(Error.prototype), { message: 'm' })", 'Error: m'],
      ["{ get toString() { throw new Error('ran'); } }", '[object Object]'],
    ];
    const { exit, stdout } = await runAgent(
      [
        "process.on('uncaughtException', (e, origin) => console.log(JSON.stringify([e.name, e.code, String(e.message).replace(/^.*the reason /, ''), Object.keys(e), origin])));",
        ...reasons.map(([reason]) => `setTimeout(async () => { throw ${reason}; }, 1);`),
        "setTimeout(async () => { throw { stack: 'own stack' }; }, 1);",
      ].join('\n'),
      { filename: 'wrapped.js' },
    );
    expect(exit.status).toBe(0);
    const lines = stdout.trim().split('\n').map((line) => JSON.parse(line) as unknown[]);
    expect(lines.slice(0, -1)).toEqual(reasons.map(([, named]) => ['UnhandledPromiseRejection', 'ERR_UNHANDLED_REJECTION', `"${named}".`, ['code', 'name'], 'unhandledRejection']));
    // An object with its own stack is error-like: it goes on as it is.
    expect(lines.at(-1)).toEqual([null, null, 'undefined', ['stack'], 'unhandledRejection']);
    const raw = await runAgent("process.on('unhandledRejection', (r) => console.log('raw', typeof r, r));\nsetTimeout(async () => { throw 42; }, 1);\nprocess.on('SIGUSR1', async () => { throw 'from a handler'; });\nsetTimeout(() => process.kill(process.pid, 'SIGUSR1'), 5);", { filename: 'raw.js' });
    expect(raw.stdout).toBe('raw number 42\nraw string from a handler\n');
    const none = await runAgent('setTimeout(async () => { throw 42; }, 1);', { filename: 'unwrapped.js' });
    expect(none.exit).toMatchObject({ status: 1, reason: { kind: 'error', error: expect.stringMatching(/^UnhandledPromiseRejection: This error originated .* with the reason "42"\./) } });
    // Main's own rejection (an ES module's top level) goes on as it is, as in Node.
    const main = await runAgent("process.on('uncaughtException', (e, origin) => console.log(typeof e, e, origin));\nawait Promise.reject(42);", { filename: 'main-42.js' });
    expect(main.stdout).toBe('number 42 unhandledRejection\n');
  });
});

describe('a promise rejected now and handled a moment later', () => {
  // isolated-vm reports, at the end of every run in the isolate, the first promise rejected with no handler so far. A
  // runtime layer run on first use, in the middle of the program's code, reported one the program handles a line later,
  // and the program died of it (Node lets it go on): the layers a program names now run before its first line.
  it('survives the first use of process (the Node layer) and of URL (the web layer) in between', async () => {
    const { exit, stdout } = await runAgent(
      [
        "async function validate(x) { if (x < 0) throw new Error('negative'); return x; }",
        'const early = validate(-1);',
        "const later = Promise.reject(new Error('later'));",
        'const home = process.env.HOME;',
        "const url = new URL('http://example.com/a');",
        "later.catch((err) => console.log('caught', err.message));",
        "try { await early; } catch (err) { console.log('caught', err.message, typeof home, url.pathname); }",
      ].join('\n'),
      { filename: 'later.mjs' },
    );
    expect({ exit: exit.status, stdout }).toEqual({ exit: 0, stdout: 'caught later\ncaught negative undefined /a\n' });
  });

  it('survives the first use of URL in a program that names no Node global (whatwg-url read the global Buffer, which ran the Node layer)', async () => {
    const { exit, stdout } = await runAgent(
      ["const later = Promise.reject(new Error('later'));", "const url = new URL('http://example.com/a');", "later.catch((err) => console.log('caught', err.message, url.pathname));"].join('\n'),
      { filename: 'url.js' },
    );
    expect({ exit: exit.status, stdout }).toEqual({ exit: 0, stdout: 'caught later /a\n' });
  });

  it("a layer is given before the program's first line or not at all: one reached by a computed name when the program names none of its globals is a ReferenceError the program can catch, and a rejection left unhandled still ends it (found by a review: a layer loaded in the middle ran isolated-vm's end-of-call work on the kernel's thread)", async () => {
    const ends = await runAgent(
      ["const never = Promise.reject(new Error('never handled'));", "let P; try { P = globalThis[['pro', 'cess'].join('')]; } catch (e) { P = e.name; }", 'sys.write(1, P);', "setTimeout(() => sys.write(1, 'never'), 20);"].join('\n'),
      { filename: 'mid-layer.mjs' },
    );
    expect({ status: ends.exit.status, stdout: ends.stdout }).toEqual({ status: 1, stdout: 'ReferenceError' });
    expect(ends.exit.reason).toMatchObject({ kind: 'error', error: expect.stringMatching(/^Error: never handled/) });
    // Named (process), the Node layer is there before the first line, however it is reached later.
    const listens = await runAgent(
      [
        "process.on('unhandledRejection', (reason) => console.log('unhandled', reason.message));",
        "const never = Promise.reject(new Error('never handled'));",
        "const T = globalThis['Text' + 'Encoder'];",
        'console.log(typeof T);',
      ].join('\n'),
      { filename: 'mid-layer-listens.mjs' },
    );
    expect({ status: listens.exit.status, stdout: listens.stdout }).toEqual({ status: 0, stdout: 'function\nunhandled never handled\n' });
  });

  it("console prints a lone string with '%' and a holding assertion without loading the web layer's formatter (found by a review: each loaded it in the middle of the program)", async () => {
    const { exit, stdout } = await runAgent(
      ["const later = Promise.reject(new Error('later'));", "console.log('50% done');", "console.log('100%%');", "console.assert(1 === 1, 'not printed');", "later.catch((err) => console.log('caught', err.message));"].join('\n'),
      { filename: 'console-plain.js' },
    );
    expect({ status: exit.status, stdout }).toEqual({ status: 0, stdout: '50% done\n100%%\ncaught later\n' });
  });

  it('a rejection with no reason, or one whose message names isolated-vm\'s words, is the program\'s like any other; a spread or ?. read of a global runs its layer first (found by a review: the first ended with exit 0, the second skipped the listeners, the third loaded the layer mid-program)', async () => {
    const none = await runAgent("Promise.reject();\nsetTimeout(() => console.log('never'), 20);", { filename: 'no-reason.js' });
    expect({ status: none.exit.status, stdout: none.stdout }).toEqual({ status: 1, stdout: '' });
    const listened = await runAgent("process.on('unhandledRejection', (r) => console.log('unhandled', String(r)));\nPromise.reject();\nsetTimeout(() => { Promise.reject(new Error('connection disposed')); }, 5);", { filename: 'no-reason-listens.js' });
    expect({ status: listened.exit.status, stdout: listened.stdout }).toEqual({ status: 0, stdout: 'unhandled undefined\nunhandled Error: connection disposed\n' });
    const spread = await runAgent(["const p = Promise.reject(new Error('pending'));", 'const argv = [...process.argv];', "const T = globalThis?.TextEncoder;", "p.catch(() => console.log('caught', argv.length > 0, typeof T));"].join('\n'), { filename: 'spread.js' });
    expect({ status: spread.exit.status, stdout: spread.stdout }).toEqual({ status: 0, stdout: 'caught true function\n' });
  });

  it('a listener that rejects again with a huge reason on every call ends once its reports pass their share of text, not after the kernel has held GBs (found by a review)', async () => {
    const { exit, stdout } = await runAgent(
      ["const big = 'x'.repeat(20 * 1024 * 1024);", 'let n = 0;', "process.on('unhandledRejection', () => { console.log('listener', ++n); Promise.reject(new Error(big)); });", 'Promise.reject(new Error(big));'].join('\n'),
      { filename: 'huge-loop.js', limits: { heapMib: 256, wallMs: 4000 } },
    );
    expect({ status: exit.status, stdout }).toEqual({ status: 1, stdout: 'listener 1\n' });
    expect(exit.reason).toMatchObject({ kind: 'error', error: expect.stringMatching(/^Error: x+/) });
    expect(exit.reason.kind === 'error' && exit.reason.error.length < 200 * 1024).toBe(true);
    // Ended past its share, a reason that mentions a memory limit is still the program's error, not the kernel's out-of-memory kill.
    const lookalike = await runAgent("Promise.reject(new Error('memory limit ' + 'x'.repeat(40 * 1024 * 1024)));", { filename: 'lookalike.js', limits: { heapMib: 256, wallMs: 4000 } });
    expect({ status: lookalike.exit.status, kind: lookalike.exit.reason.kind }).toEqual({ status: 1, kind: 'error' });
  });

  it('a global of a layer the program names (console names the web layer) is there by any name, a computed one too', async () => {
    const { exit, stdout } = await runAgent("const T = globalThis['Text' + 'Encoder']; console.log(new T().encode('abc').length);", { filename: 'computed.js' });
    expect({ exit: exit.status, stdout }).toEqual({ exit: 0, stdout: '3\n' });
  });
});
