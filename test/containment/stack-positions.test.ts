/**
 * Mapping an agent's error to the author's positions is ring 0's work on a
 * text the agent chose (found by a review of the decoder that replaced
 * TraceMap): each position decoded its line's segments again, so 1,200
 * positions on a line of 30,000 segments took 4.4 s of the kernel's event
 * loop here (minutes at the 4 MiB program limit). Now one text decodes each
 * block of the map at most once and looks up at most 64 distinct positions;
 * the rest of the text stays as the agent wrote it.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { sourcePositions, stackMap, type StackMap } from '../../kernel/agent-stack.ts';
import { type Program, programFromSource } from '../../kernel/program.ts';

describe("an agent's text full of positions", () => {
  const program = programFromSource('c.ts', `let a: number = 1;\nconst x = [${'a,'.repeat(30_000)}];\nthrow new Error('x');\n`);
  const toSource = sourcePositions(program);

  it('maps the first 64 distinct positions and leaves the others as they are', () => {
    const columns = Array.from({ length: 100 }, (_, i) => 20 + 2 * i);
    const mapped = toSource(columns.map((c) => `agent-bundle:c.ts:2:${c}`).join(' ')).split(' ');
    expect(mapped.slice(0, 64).every((p) => /^c\.ts:2:\d+$/.test(p))).toBe(true);
    expect(mapped.slice(64)).toEqual(columns.slice(64).map((c) => `agent-bundle:c.ts:2:${c}`));
  });

  it('maps one position written 1,200 times once (each is the same answer)', () => {
    const mapped = toSource('agent-bundle:c.ts:2:90000 '.repeat(1200)).trim().split(' ');
    expect(new Set(mapped).size).toBe(1);
    expect(mapped[0]).toMatch(/^c\.ts:2:\d+$/);
    expect(mapped).toHaveLength(1200);
  });

  it('still maps a frame of the program itself', () => {
    expect(toSource('    at agent-bundle:c.ts:3:7')).toMatch(/^ {4}at c\.ts:3:\d+$/);
  });
});

/** Ring 3's own decoder (userspace/runtime/stack-map.js), its functions taken from the file's text (and that of the one module it imports). */
const ring3Text = (name: string) => readFileSync(new URL(`../../userspace/runtime/${name}`, import.meta.url), 'utf8').replace(/^export /gm, '').replace(/^import .*$/gm, '');
const ring3 = new Function(`${ring3Text('author-frames.js')}\n${ring3Text('stack-map.js')}\nreturn { originalOf };`)() as { originalOf(map: StackMap, line: number, column: number): string | undefined };

describe('ring 0 and ring 3 read a map alike', () => {
  it('on 3,000 random maps, malformed ones included (extra fields, bad characters, dangling and 50-bit digits, huge values)', () => {
    // A fixed sequence (mulberry32): the same maps every run.
    let state = 0x2545f491;
    const random = () => {
      state = (state + 0x6d2b79f5) | 0;
      let t = Math.imul(state ^ (state >>> 15), 1 | state);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const below = (n: number) => Math.floor(random() * n);
    const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const vlq = (v: number) => {
      let x = v < 0 ? (-v << 1) | 1 : v << 1;
      let out = '';
      do {
        let d = x & 31;
        x >>>= 5;
        if (x) d |= 32;
        out += B64[d];
      } while (x);
      return out;
    };
    const field = (i: number) => [() => 'zzzzzzzzzzzzA', () => 'g'.repeat(20)][below(20)]?.() ?? vlq(i === 1 ? below(3) - 1 : below(7) - 2);
    const line = () => {
      const segments = Array.from({ length: below(5) }, () => Array.from({ length: [1, 4, 5, 4, 4, 6, 7, 2, 3, 10][below(10)]! }, (_, i) => field(i)).join(''));
      let text = segments.join(below(6) === 0 ? ',,' : ',');
      if (below(30) === 0) {
        const at = below(text.length + 1);
        text = text.slice(0, at) + ['!', '=', 'é', ' ', '-', '😀'][below(6)] + text.slice(at);
      }
      return below(40) === 0 ? `${text}g` : text;
    };
    let compared = 0;
    let mapped = 0;
    for (let n = 0; n < 3000; n++) {
      const mappings = Array.from({ length: below(4) === 0 ? below(120) : below(10) }, line).join(';') + (below(5) === 0 ? ';' : '');
      const sources = Array.from({ length: 1 + below(3) }, (_, i) => `s${i}.ts`);
      const program = { filename: 'p.js', source: '', sourceMap: JSON.stringify({ version: 3, sources, mappings }), sourceBase: '/tmp/x' } as Program;
      const map = stackMap(program)!;
      const lines = mappings.split(';').length + 2;
      const asked = Array.from({ length: 8 }, () => [below(lines + 1), below(40)] as const);
      const ours = sourcePositions(program)(asked.map(([l, c]) => `agent-bundle:p.js:${l}:${c}`).join('\n')).split('\n');
      asked.forEach(([l, c], i) => {
        const theirs = ring3.originalOf(map, l, c) ?? `agent-bundle:p.js:${l}:${c}`;
        expect(ours[i], `${JSON.stringify(mappings)} at ${l}:${c}`).toBe(theirs);
        compared++;
        if (!theirs.startsWith('agent-bundle:')) mapped++;
      });
    }
    expect(compared).toBe(24_000);
    expect(mapped).toBeGreaterThan(500);
  });
});

