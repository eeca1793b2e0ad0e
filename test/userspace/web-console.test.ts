// console: Node-like formatting through kernel.write, one write per call.
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebIsolate, type WebIsolate } from './web-harness.ts';

let web: WebIsolate;
beforeAll(async () => {
  web = await createWebIsolate();
});
afterAll(() => web.dispose());

/** node is what Node's console.log prints for `values`. */
const node = (...values: unknown[]): string => `${values.map((v) => inspect(v)).join(' ')}\n`;

async function capture(body: string): Promise<[number, string][]> {
  return web.run(`__test.writes.length = 0; ${body}; return __test.writes;`);
}

describe('console', () => {
  it('formats like Node: %s %d %i %f %j %o %O %c, Map, Set, classes', async () => {
    const writes = await capture(`
      console.log('%s=%d %i %f %j %c|', 'n', 42.5, 42.5, '1.5', { a: 1 }, 'color: red');
      class Point { constructor() { this.x = 1; } }
      console.log(new Map([['k', { deep: { deeper: { deepest: 1 } } }]]), new Set([1, 'two']), new Point());
      console.info('%o', [1]);
      console.debug('%O', { a: [1, 2] });
    `);
    expect(writes).toEqual([
      [1, 'n=42.5 42 1.5 {"a":1} |\n'],
      [1, "Map(1) { 'k' => { deep: { deeper: [Object] } } } Set(2) { 1, 'two' } Point { x: 1 }\n"],
      [1, '[ 1, [length]: 1 ]\n'],
      [1, '{ a: [ 1, 2 ] }\n'],
    ]);
  });

  it("prints URL, URLSearchParams, Response, AbortController and streams as Node does (they printed {} or the polyfill's internals; found by a review)", async () => {
    const writes = await capture(`
      console.log(new URL('https://a.b/c?d=1#e'));
      console.log(new URLSearchParams('a=1&b=2'), new URLSearchParams(''));
      console.log(new Response('hi'));
      console.log(new AbortController());
      console.log(new TransformStream());
      console.log(new Request('https://a.b/'));
    `);
    expect(writes.slice(0, 5)).toEqual([
      [1, node(new URL('https://a.b/c?d=1#e'))],
      [1, node(new URLSearchParams('a=1&b=2'), new URLSearchParams(''))],
      [1, node(new Response('hi'))],
      [1, node(new AbortController())],
      [1, node(new TransformStream())],
    ]);
    expect(writes[5]![1]).toMatch(/^Request \{\n {2}method: 'GET',\n {2}url: 'https:\/\/a\.b\/',\n {2}headers: Headers \{\},/);
  });

  it('prints errors with their cause, warn/error/trace to fd 2', async () => {
    const writes = await capture(`
      console.error(new Error('outer', { cause: new TypeError('inner') }));
      console.warn('careful');
      console.trace('here %d', 1);
      console.assert(1 === 2, 'math');
      console.assert(true, 'fine');
    `);
    expect(writes.map(([fd]) => fd)).toEqual([2, 2, 2, 2]);
    expect(writes[0]![1]).toMatch(/^Error: outer\n    at .*\n[\s\S]*\{\n  \[cause\]: TypeError: inner\n/);
    expect(writes[1]![1]).toBe('careful\n');
    expect(writes[2]![1]).toMatch(/^Trace: here 1\n    at /);
    expect(writes[3]![1]).toBe('Assertion failed: math\n');
  });

  it('counts, times, groups, dirs and tables', async () => {
    const writes = await capture(`
      console.count(); console.count(); console.count('x'); console.countReset(); console.count(); console.countReset('nope');
      console.time('t'); console.timeLog('t', 'mid'); console.timeEnd('t');
      console.group('g'); console.log('inner\\nlines'); console.groupEnd(); console.log('outer');
      console.dir({ a: { b: { c: { d: 1 } } } }, { depth: 0 });
      console.table([{ a: 1, b: 'x' }, { a: 2 }]);
    `);
    const texts = writes.map(([, text]) => text);
    expect(texts.slice(0, 5)).toEqual(['default: 1\n', 'default: 2\n', 'x: 1\n', 'default: 1\n', "Count for 'nope' does not exist\n"]);
    expect(texts[5]).toMatch(/^t: \d+\.\d{3}ms mid\n$/);
    expect(texts[6]).toMatch(/^t: \d+\.\d{3}ms\n$/);
    expect(texts.slice(7, 10)).toEqual(['g\n', '  inner\n  lines\n', 'outer\n']);
    expect(texts[10]).toBe('{ a: [Object] }\n');
    expect(texts[11]).toBe(
      [
        '┌─────────┬───┬─────┐',
        '│ (index) │ a │ b   │',
        '├─────────┼───┼─────┤',
        "│ 0       │ 1 │ 'x' │",
        '│ 1       │ 2 │     │',
        '└─────────┴───┴─────┘',
      ].join('\n') + '\n',
    );
  });
});
