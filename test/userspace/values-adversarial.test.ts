/**
 * Adversarial agents handing hostile values to structuredClone and console:
 * cycles, throwing getters and proxy traps, inspect hooks, huge and deep
 * values (adversary.ts: the kernel they share, and what is checked after
 * each test).
 *
 * Each defect an adversarial pass found is pinned by a test (the comment
 * says which and where, and the fix). One still open is marked `it.fails`:
 * it starts failing, loudly, once it is fixed.
 */
import { describe, expect, it } from 'vitest';
import { adversary } from './adversary.ts';

const { run } = adversary();

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
