// Node built-ins for agent programs (userspace/node) in a real isolate:
// buffer, path, events, util, timers, process, crypto, url, string_decoder,
// assert, the registry itself, and a report of bundle size and load times.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildNodeBundle, NodeIsolate } from './node-harness.ts';

let bundle: string;
let vm: NodeIsolate;
beforeAll(async () => {
  bundle = await buildNodeBundle();
  vm = new NodeIsolate(bundle);
});
afterAll(() => vm.dispose());

describe('registry', () => {
  it('lists the modules, loads with or without node:, and caches', async () => {
    const out = await vm.run(`
      const { NODE_MODULES } = __node;
      const same = NODE_MODULES.every((name) => load(name) === load('node:' + name));
      return { NODE_MODULES, same, strict: load('assert/strict') === load('assert').strict, posix: load('path/posix') === load('path') };
    `);
    expect(out).toMatchObject({ same: true, strict: true, posix: true });
    expect((out as { NODE_MODULES: string[] }).NODE_MODULES).toEqual(expect.arrayContaining(['fs', 'fs/promises', 'path', 'events', 'buffer', 'util', 'timers/promises', 'process', 'crypto', 'url', 'string_decoder', 'assert']));
  });

  it('refuses other built-ins, naming the governed alternative', async () => {
    const out = await vm.run(`
      const { REFUSED_MODULES } = __node;
      let err;
      try { load('node:child_process'); } catch (e) { err = { code: e.code, message: e.message }; }
      return { net: REFUSED_MODULES.net, child: REFUSED_MODULES.child_process, os: REFUSED_MODULES.os, err };
    `);
    expect(out).toMatchObject({
      net: expect.stringContaining('fetch()'),
      child: 'sys.spawn for agent programs, sys.exec for registered tools',
      os: expect.any(String),
      err: { code: 'ERR_UNKNOWN_BUILTIN_MODULE', message: expect.stringContaining('sys.spawn') },
    });
  });
});

describe('buffer, path, events, string_decoder', () => {
  it('Buffer is one object across loads, with Node encodings', async () => {
    const out = await vm.run(`
      const { Buffer } = load('buffer');
      const b = Buffer.from('héllo');
      return {
        same: Buffer === load('node:buffer').Buffer,
        hex: b.toString('hex'), b64: b.toString('base64'), latin1: Buffer.from('ÿ', 'latin1')[0],
        back: Buffer.from('68c3a96c6c6f', 'hex').toString(), concat: Buffer.concat([Buffer.from('a'), Buffer.from('b')]).toString(),
        btoa: load('buffer').btoa('hi'), eq: Buffer.from('x').equals(Buffer.from('x')),
      };
    `);
    expect(out).toEqual({ same: true, hex: '68c3a96c6c6f', b64: 'aMOpbGxv', latin1: 255, back: 'héllo', concat: 'ab', btoa: 'aGk=', eq: true });
  });

  it('path is POSIX and resolves from the agent home', async () => {
    const out = await vm.run(`
      const path = load('path');
      return [path.join('/a', 'b', '../c'), path.resolve('x/y'), path.relative('/agent/a1/x', 'z'), path.extname('f.tar.gz'), path.basename('/a/b.js', '.js'), path.sep, path.parse('/a/b.txt').name];
    `);
    expect(out).toEqual(['/a/c', '/agent/a1/x/y', '../z', '.gz', 'b', '/', 'b']);
  });

  it('events: EventEmitter, once and on', async () => {
    const out = await vm.run(`
      const EventEmitter = load('events');
      const { once, on } = EventEmitter;
      const e = new EventEmitter();
      const seen = [];
      e.on('x', (v) => seen.push(v));
      e.emit('x', 1);
      const p = once(e, 'ready');
      e.emit('ready', 'go', 2);
      const got = await p;
      const it = on(e, 'tick');
      e.emit('tick', 'a');
      e.emit('tick', 'b');
      const a = await it.next();
      const b = await it.next();
      await it.return();
      return { seen, got, a: a.value, b: b.value, listeners: e.listenerCount('tick'), sub: new (class extends EventEmitter {})() instanceof EventEmitter };
    `);
    expect(out).toEqual({ seen: [1], got: ['go', 2], a: ['a'], b: ['b'], listeners: 0, sub: true });
  });

  it('string_decoder keeps split UTF-8 sequences', async () => {
    const out = await vm.run(`
      const { StringDecoder } = load('string_decoder');
      const { Buffer } = load('buffer');
      const d = new StringDecoder('utf8');
      const bytes = Buffer.from('€');
      return d.write(bytes.subarray(0, 1)) + '|' + d.write(bytes.subarray(1)) + d.end();
    `);
    expect(out).toBe('|€');
  });
});

describe('util', () => {
  it('format, inspect, promisify, callbackify, inherits, types, isDeepStrictEqual', async () => {
    const out = await vm.run(`
      const util = load('util');
      const fn = (a, cb) => cb(null, a * 2);
      const doubled = await util.promisify(fn)(21);
      const failing = await util.promisify((cb) => cb(Object.assign(new Error('no'), { code: 'E1' })))().catch((e) => e.code);
      const cbValue = await new Promise((resolve) => util.callbackify(async (x) => x + 1)(1, (err, v) => resolve(v)));
      function A() {}
      function B() {}
      util.inherits(B, A);
      return {
        format: util.format('%s=%d %j %o', 'a', 42, { b: 1 }, [1]),
        inspect: util.inspect({ a: [1, 2, { c: new Map([[1, 'x']]) }], s: 'str' }),
        buffer: util.inspect(load('buffer').Buffer.from('hi')),
        doubled, failing, cbValue, inherits: new B() instanceof A && B.super_ === A,
        types: [util.types.isPromise(Promise.resolve()), util.types.isRegExp(/x/), util.types.isUint8Array(new Uint8Array(1)), load('util/types').isDate(new Date())],
        deep: [util.isDeepStrictEqual({ a: [1] }, { a: [1] }), util.isDeepStrictEqual({ a: 1 }, { a: '1' })],
      };
    `);
    expect(out).toEqual({
      format: "a=42 {\"b\":1} [ 1, [length]: 1 ]",
      inspect: "{ a: [ 1, 2, { c: [Map] } ], s: 'str' }",
      buffer: '<Buffer 68 69>',
      doubled: 42, failing: 'E1', cbValue: 2, inherits: true,
      types: [true, true, true, true], deep: [true, false],
    });
  });
});

describe('timers', () => {
  it('callback timers return Node-shaped handles; setImmediate falls back to setTimeout 0', async () => {
    const out = await vm.run(`
      const timers = load('timers');
      const order = [];
      await new Promise((resolve) => {
        const t = timers.setTimeout(() => order.push('never'), 5);
        t.unref();
        timers.clearTimeout(t);
        timers.setImmediate((v) => order.push(v), 'immediate');
        let n = 0;
        const iv = timers.setInterval(() => { order.push('tick'); if (++n === 2) { timers.clearInterval(iv); resolve(); } }, 2);
      });
      return order;
    `);
    expect(out).toEqual(['immediate', 'tick', 'tick']);
  });

  it('timers/promises: setTimeout value, abort with AbortError, setInterval iterator', async () => {
    const out = await vm.run(`
      const tp = load('node:timers/promises');
      const value = await tp.setTimeout(5, 'done');
      const ac = new TestAbortController();
      const pending = tp.setTimeout(10000, 'late', { signal: ac.signal });
      ac.abort();
      const aborted = await pending.catch((e) => [e.name, e.code]);
      const pre = await tp.setImmediate('x', { signal: ac.signal }).catch((e) => e.code);
      const ticks = [];
      for await (const v of tp.setInterval(2, 'iv')) { ticks.push(v); if (ticks.length === 3) break; }
      await tp.scheduler.wait(1);
      return { value, aborted, pre, ticks };
    `);
    expect(out).toEqual({ value: 'done', aborted: ['AbortError', 'ABORT_ERR'], pre: 'ABORT_ERR', ticks: ['iv', 'iv', 'iv'] });
  });
});

describe('process', () => {
  it('argv, env, identity, cwd, hrtime, stdout', async () => {
    const out = await vm.run(`
      const process = load('process');
      process.stdout.write('to stdout\\n');
      process.stderr.write(load('buffer').Buffer.from('to stderr\\n'));
      const [s, ns] = process.hrtime();
      return {
        argv: process.argv, env: process.env, pid: process.pid, ppid: process.ppid, platform: process.platform,
        node: 'node' in process.versions, release: process.release.name, cwd: process.cwd(),
        hr: Number.isInteger(s) && Number.isInteger(ns), big: typeof process.hrtime.bigint(), out: __out.slice(-2),
      };
    `);
    expect(out).toEqual({
      argv: ['/agent/a1/bin/prog.js', 'one', 'two'], env: { HOME: '/agent/a1', GREETING: 'hi' }, pid: 7, ppid: 1, platform: 'linux',
      node: false, release: 'agent-kernel', cwd: '/agent/a1', hr: true, big: 'bigint',
      out: [[1, 'to stdout\n'], [2, 'to stderr\n']],
    });
  });

  it('exitCode is the env exit code; exit() emits exit and ends with it', async () => {
    const out = await vm.run(`
      const process = load('process');
      process.exitCode = 2;
      const code = __env.getExitCode();
      const emitted = [];
      process.on('exit', (c) => emitted.push(c));
      let stopped = false;
      try { process.exit(); } catch (e) { stopped = e instanceof __ExitSignal; }
      try { process.exit(5); } catch {}
      return { code, emitted, stopped, exits: __exits, now: process.exitCode };
    `);
    expect(out).toEqual({ code: 2, emitted: [2, 5], stopped: true, exits: [2, 5], now: 5 });
  });

  it('nextTick passes arguments, keeps FIFO order and drains ticks queued by ticks before later promise jobs', async () => {
    const out = await vm.run(`
      const process = load('process');
      const order = [];
      await new Promise((resolve) => {
        process.nextTick((a, b) => {
          order.push('tick1:' + a + b);
          Promise.resolve().then(() => order.push('promise-from-tick'));
          process.nextTick(() => order.push('tick3'));
        }, 'x', 'y');
        process.nextTick(() => order.push('tick2'));
        setTimeoutLike(resolve);
      });
      function setTimeoutLike(fn) { load('timers').setTimeout(fn, 1); }
      return order;
    `);
    expect(out).toEqual(['tick1:xy', 'tick2', 'tick3', 'promise-from-tick']);
  });
});

describe('crypto, url, assert', () => {
  it('createHash/createHmac known vectors, randomUUID, randomInt, timingSafeEqual', async () => {
    const out = await vm.run(`
      const crypto = load('crypto');
      const { Buffer } = load('buffer');
      return {
        sha256: crypto.createHash('sha256').update('abc').digest('hex'),
        sha1: crypto.createHash('sha1').update('ab').update('c').digest('base64'),
        md5: crypto.createHash('md5').update('').digest('hex'),
        sha512: crypto.createHash('sha512').update('abc').digest().length,
        hmac: crypto.createHmac('sha256', 'key').update('The quick brown fox jumps over the lazy dog').digest('hex'),
        uuid: crypto.randomUUID(),
        bytes: crypto.randomBytes(70000).length,
        int: Array.from({ length: 50 }, () => crypto.randomInt(3, 6)).every((n) => n >= 3 && n < 6),
        tse: [crypto.timingSafeEqual(Buffer.from('ab'), Buffer.from('ab')), crypto.timingSafeEqual(Buffer.from('ab'), Buffer.from('ac'))],
        pbkdf2: crypto.pbkdf2Sync('password', 'salt', 1, 20, 'sha1').toString('hex'),
        cipher: (() => { try { crypto.createCipheriv('aes-256-gcm'); } catch (e) { return e.code; } })(),
      };
    `);
    expect(out).toMatchObject({
      sha256: 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
      sha1: 'qZk+NkcGgWq6PiVxeFDCbJzQ2J0=',
      md5: 'd41d8cd98f00b204e9800998ecf8427e',
      sha512: 64,
      hmac: 'f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8',
      bytes: 70000, int: true, tse: [true, false],
      pbkdf2: '0c60c80f961f0e71f3a9b524af6012062fe037a6',
      cipher: 'ERR_FEATURE_UNAVAILABLE_ON_PLATFORM',
    });
    expect((out as { uuid: string }).uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('url helpers work without a URL global where they can', async () => {
    const out = await vm.run(`
      const url = load('url');
      const p = url.parse('https://user:pw@Example.com:8080/a/b?x=1#h');
      return {
        path: url.fileURLToPath('file:///agent/a1/a%20b.txt'),
        parsed: [p.protocol, p.auth, p.hostname, p.port, p.pathname, p.search, p.hash, p.path],
        format: url.format({ protocol: 'http', hostname: 'h', pathname: '/p', search: 'q=1' }),
      };
    `);
    expect(out).toEqual({
      path: '/agent/a1/a b.txt',
      parsed: ['https:', 'user:pw', 'example.com', '8080', '/a/b', '?x=1', '#h', '/a/b?x=1'],
      format: 'http://h/p?q=1',
    });
  });

  it('assert: deepStrictEqual fails with AssertionError; assert/strict', async () => {
    const out = await vm.run(`
      const assert = load('assert');
      assert.deepStrictEqual({ a: [1, 2] }, { a: [1, 2] });
      let err;
      try { load('assert/strict').deepEqual({ a: 1 }, { a: '1' }); } catch (e) { err = { name: e.name, code: e.code, isAE: e instanceof assert.AssertionError, message: e.message }; }
      let thrown;
      try { assert.throws(() => { throw new TypeError('bad'); }, TypeError); assert.ok(false, 'custom'); } catch (e) { thrown = e.message; }
      return { err, thrown };
    `);
    expect(out).toMatchObject({ err: { name: 'AssertionError', code: 'ERR_ASSERTION', isAE: true, message: expect.stringContaining('Expected values to be strictly deep-equal') }, thrown: 'custom' });
  });
});

describe('report', () => {
  it('prints the bundle size and the first-load time of each module', async () => {
    const minified = await buildNodeBundle(true);
    const fresh = new NodeIsolate(bundle);
    try {
      const times = await fresh.run<Record<string, number>>(`
        const out = {};
        for (const name of __node.NODE_MODULES) { const t0 = __hostNow(); load(name); out[name] = Math.round((__hostNow() - t0) * 100) / 100; }
        return out;
      `);
      const evalStart = performance.now();
      new NodeIsolate(bundle).dispose();
      const isolateMs = performance.now() - evalStart;
      console.log(`userspace/node bundle: ${(bundle.length / 1024).toFixed(1)} KiB, minified ${(minified.length / 1024).toFixed(1)} KiB; new isolate + env + bundle eval ${isolateMs.toFixed(1)} ms`);
      console.log(`first load (ms, in NODE_MODULES order; includes modules each one loads): ${JSON.stringify(times)}`);
      expect(Object.keys(times)).toHaveLength(16);
    } finally {
      fresh.dispose();
    }
  });
});
