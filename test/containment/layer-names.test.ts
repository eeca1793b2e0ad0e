/**
 * Reading a program's text for the names of its runtime layers
 * (kernel/program-layers.ts) before an agent's spawn: in slices a turn of
 * the event loop apart, each charged to the tree. Read at once, a 4 MiB
 * program with a property read on every line (`x.URL`) held the kernel's
 * loop ~100 ms per spawn, and a spawn loop of it ~120 ms at a time (an
 * attacker pass). The text is read a chunk at a time, and a name across a
 * chunk's edge is read as it is anywhere else.
 */
import { describe, expect, it } from 'vitest';
import { MAX_PROGRAM_BYTES, programFromSource } from '../../kernel/program.ts';
import { commonPaths, layersFor, planAhead } from '../../kernel/program-layers.ts';

const CHUNK = 64 * 1024;

describe("the names of a program's layers", () => {
  it('are read in slices a turn of the event loop apart, each charged', async () => {
    const line = 'x.URL\n';
    const program = programFromSource('names.js', line.repeat(Math.floor(MAX_PROGRAM_BYTES / line.length)));
    const charges: number[] = [];
    let turns = 0;
    let reading = true;
    const tick = () => {
      if (!reading) return;
      turns++;
      setImmediate(tick);
    };
    setImmediate(tick);
    await planAhead(program, (ns) => charges.push(ns));
    reading = false;
    // Every line reads a property of another object: no layer.
    expect({ layers: layersFor(program), common: commonPaths(program) }).toEqual({ layers: [], common: false });
    expect(charges.length).toBeGreaterThan(2);
    expect(turns).toBeGreaterThanOrEqual(charges.length - 1);
    expect(charges.every((ns) => ns > 0)).toBe(true);
  });

  it('a name across the edge of a chunk is read as it is anywhere else', async () => {
    const cases: [string, string, string][] = [
      ['', 'URL', ''],
      ['a', 'URL', ''],
      ['', 'URL', 'a'],
      ['x.', 'URL', ''],
      ['globalThis.', 'URL', ''],
      ['...', 'process', '.argv'],
      ['$', 'process', ''],
      ['', 'TextEncoder', '('],
      ['new ', 'ReadableStreamDefaultController', ''],
      ['o.', 'fetch', '(1); fetch'],
    ];
    for (const [before, name, after] of cases) {
      const alone = programFromSource('alone.js', ` ${before}${name}${after} `);
      const want = { layers: layersFor(alone), common: commonPaths(alone) };
      for (let shift = -45; shift <= 45; shift++) {
        const at = CHUNK + shift;
        const text = `${' '.repeat(at - before.length)}${before}${name}${after}${' '.repeat(CHUNK)}`;
        const program = programFromSource('edge.js', text);
        await planAhead(program, () => {});
        expect({ case: `${before}${name}${after} at ${at}`, layers: layersFor(program), common: commonPaths(program) }).toEqual({ case: `${before}${name}${after} at ${at}`, ...want });
      }
    }
  });
});
