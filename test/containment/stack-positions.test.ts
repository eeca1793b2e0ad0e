/**
 * Mapping an agent's error to the author's positions is ring 0's work on a
 * text the agent chose (found by a review of the decoder that replaced
 * TraceMap): each position decoded its line's segments again, so 1,200
 * positions on a line of 30,000 segments took 4.4 s of the kernel's event
 * loop here (minutes at the 4 MiB program limit). Now one text decodes each
 * block of the map at most once and looks up at most 64 distinct positions;
 * the rest of the text stays as the agent wrote it.
 */
import { describe, expect, it } from 'vitest';
import { sourcePositions } from '../../kernel/agent-stack.ts';
import { programFromSource } from '../../kernel/program.ts';

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
