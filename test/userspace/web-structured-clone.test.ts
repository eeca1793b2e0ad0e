// structuredClone, including cyclic and hostile input.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebIsolate, type WebIsolate } from './web-harness.ts';

let web: WebIsolate;
beforeAll(async () => {
  web = await createWebIsolate();
});
afterAll(() => web.dispose());

describe('structuredClone', () => {
  it('copies cycles, Map, Set, Date, RegExp, typed arrays and errors', async () => {
    const result = await web.run(`
      const shared = new ArrayBuffer(4);
      const source = { date: new Date(5), re: /a+/gi, map: new Map([[{ k: 1 }, 'v']]), set: new Set([1, 2]), u8: new Uint8Array(shared, 1, 2),
        u16: new Uint16Array(shared, 0, 1), big: 10n, boxed: new String('s'), error: new RangeError('bad', { cause: { why: 1 } }), sparse: [1, , 3] };
      source.self = source;
      source.list = [source, source.map];
      const copy = structuredClone(source);
      return [copy !== source, copy.self === copy, copy.list[0] === copy, copy.list[1] === copy.map, copy.date instanceof Date && copy.date.getTime(),
        String(copy.re), [...copy.map.keys()][0].k, [...copy.set], copy.u8.buffer === copy.u16.buffer, copy.u8.buffer !== shared, copy.u8.byteOffset,
        typeof copy.big, typeof copy.boxed, copy.error instanceof RangeError, copy.error.message, copy.error.cause.why, 1 in copy.sparse, copy.sparse.length];
    `);
    expect(result).toEqual([true, true, true, true, 5, '/a+/gi', 1, [1, 2], true, true, 1, 'bigint', 'object', true, 'bad', 1, false, 3]);
  });

  it('throws DataCloneError for functions, symbols, WeakMaps and promises; class instances become plain objects', async () => {
    const result = await web.run(`
      const names = [];
      for (const bad of [() => {}, Symbol('s'), { f() {} }, new WeakMap(), Promise.resolve()]) {
        try { structuredClone(bad); names.push('cloned'); } catch (e) { names.push(e instanceof DOMException && e.name); }
      }
      class Point { constructor() { this.x = 1; } get y() { return 2; } }
      const point = structuredClone(new Point());
      return [names, Object.getPrototypeOf(point) === Object.prototype, point, Object.getOwnPropertyDescriptor(structuredClone({ ['__proto__']: 1 }), '__proto__').value];
    `);
    expect(result).toEqual([['DataCloneError', 'DataCloneError', 'DataCloneError', 'DataCloneError', 'DataCloneError'], true, { x: 1 }, 1]);
  });

  it('propagates a throwing getter and survives hostile nesting', async () => {
    const result = await web.run(`
      let getter;
      try { structuredClone({ get boom() { throw new Error('getter'); } }); } catch (e) { getter = e.message; }
      let deep = [];
      for (let i = 0; i < 100000; i++) deep = [deep];
      let depth = 0;
      let outcome;
      try {
        let node = structuredClone(deep);
        while (node.length === 1) { node = node[0]; depth++; }
        outcome = 'cloned';
      } catch (e) { outcome = e.constructor.name; }
      const wide = {};
      for (let i = 0; i < 10000; i++) wide['k' + i] = { i };
      const proxy = new Proxy({}, { ownKeys() { throw new Error('trap'); } });
      let trap;
      try { structuredClone(proxy); } catch (e) { trap = e.message; }
      const buffer = new ArrayBuffer(8);
      const moved = structuredClone({ buffer }, { transfer: [buffer] });
      return [getter, outcome, depth, Object.keys(structuredClone(wide)).length, trap, buffer.byteLength, moved.buffer.byteLength];
    `);
    expect(result).toEqual(['getter', 'cloned', 100000, 10000, 'trap', 0, 8]);
  });
});
