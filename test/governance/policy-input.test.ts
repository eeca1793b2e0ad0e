/**
 * What a decision record keeps of the policy's question (req,
 * kernel/recorder/policy-input.ts): arguments in the clear up to 1,024
 * characters of text each and 4,096 a record, the others withheld; and an
 * argument of any size costs the recorder about what the limit allows to
 * rule out, not a serialisation of everything the agent sent.
 */
import { describe, expect, it } from 'vitest';
import type { PolicyRequest } from '../../abi/policy-request.ts';
import { CLEAR_TOTAL_CHARS, CLEAR_VALUE_CHARS, policyInput } from '../../kernel/recorder/policy-input.ts';

const ask = (args: Record<string, unknown>): PolicyRequest => ({ agentId: 'a', syscall: 'SYS_EXEC', access: 'write', tool: 't', args });

/** An object whose JSON text is exactly `chars` long, with a string holding characters JSON escapes. */
function objectOf(chars: number): Record<string, string> {
  const base = JSON.stringify({ k: '"\n' }).length; // {"k":"\"\n"}: the escapes count
  return { k: `"\n${'x'.repeat(chars - base)}` };
}

describe('policyInput: what a record keeps in the clear', () => {
  it('keeps a value of up to CLEAR_VALUE_CHARS characters of text (JSON text for a structure, escapes counted), withholds a longer one, bytes always', () => {
    expect(JSON.stringify(objectOf(CLEAR_VALUE_CHARS)).length).toBe(CLEAR_VALUE_CHARS);
    const input = policyInput(
      ask({
        fits: objectOf(CLEAR_VALUE_CHARS),
        over: objectOf(CLEAR_VALUE_CHARS + 1),
        list: Array.from({ length: 300 }, () => 1), // 601 characters
        longList: Array.from({ length: 600 }, () => 1), // 1,201 characters
        text: 'y'.repeat(CLEAR_VALUE_CHARS),
        longText: 'y'.repeat(CLEAR_VALUE_CHARS + 1),
        bytes: new Uint8Array(3),
        skipped: undefined,
      }),
    );
    expect(Object.keys(input.args ?? {})).toEqual(['fits', 'list', 'text', 'skipped']);
    expect(input.withheld).toEqual(['over', 'longList', 'longText', 'bytes']);
  });

  it('keeps an argument named __proto__ as an argument, in the record and back out of it', () => {
    const args = JSON.parse('{"__proto__":"x","b":1}') as Record<string, unknown>;
    const input = policyInput(ask(args));
    expect(JSON.stringify(input.args)).toBe('{"__proto__":"x","b":1}');
    expect(Object.getPrototypeOf(input.args)).toBe(Object.prototype);
  });

  it('keeps at most CLEAR_TOTAL_CHARS for the record: later arguments are withheld', () => {
    const args = Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`a${i}`, 'z'.repeat(1000)]));
    const input = policyInput(ask(args));
    expect(Object.keys(input.args ?? {})).toEqual(['a0', 'a1', 'a2', 'a3']);
    expect(input.withheld).toEqual(['a4', 'a5']);
    expect(4 * 1000).toBeLessThanOrEqual(CLEAR_TOTAL_CHARS);
  });

  it('counts names against the record too: an agent sending many long names gets them counted as unnamed, and req stays small', () => {
    const args = Object.fromEntries(Array.from({ length: 256 }, (_, i) => [`${String(i).padStart(3, '0')}${'中'.repeat(4000)}`, 0]));
    const input = policyInput(ask(args));
    // The first fits the record's total (name and value); the other 255 names do not even fit.
    expect(Object.keys(input.args ?? {})).toHaveLength(1);
    expect(input.withheld).toBeUndefined();
    expect(input.unnamed).toBe(255);
    expect(JSON.stringify(input).length).toBeLessThanOrEqual(CLEAR_TOTAL_CHARS + 100);
    // Short names of values withheld are listed until they fill the total.
    const many = policyInput(ask(Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`n${i}`, new Uint8Array(1)]))));
    expect(many.withheld!.length + many.unnamed!).toBe(2000);
    expect(JSON.stringify(many).length).toBeLessThanOrEqual(CLEAR_TOTAL_CHARS + 100);
  });

  it('rules out a large argument reading about as many of its values as the limit allows, not all of them', () => {
    let reads = 0;
    const keys = 100_000;
    const target: Record<string, number> = {};
    for (let i = 0; i < keys; i++) target[`k${i}`] = i;
    const counted = new Proxy(target, {
      get(t, key, receiver) {
        reads++;
        return Reflect.get(t, key, receiver);
      },
    });
    const input = policyInput(ask({ big: counted, deep: { a: [counted] } }));
    expect(input.withheld).toEqual(['big', 'deep']);
    // Serialising them (JSON.stringify) would read every value twice over: 200,000 reads.
    expect(reads).toBeLessThan(2 * CLEAR_VALUE_CHARS);
  });

  it('over many random structures, a value is withheld exactly when its JSON text is longer than the limit', () => {
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    const make = (depth: number): unknown => {
      const r = rand();
      if (depth > 3 || r < 0.3) return r < 0.1 ? null : r < 0.2 ? Math.floor(rand() * 1e6) : '\\"\u0001é'.repeat(Math.floor(rand() * 25));
      if (r < 0.6) return Array.from({ length: Math.floor(rand() * 6) }, () => make(depth + 1));
      return Object.fromEntries(Array.from({ length: Math.floor(rand() * 5) }, (_, i) => [`key${i}`, make(depth + 1)]));
    };
    let kept = 0;
    let withheld = 0;
    for (let i = 0; i < 2000; i++) {
      const value = make(0);
      if (typeof value !== 'object' || value === null) continue;
      const input = policyInput(ask({ v: value }));
      const fits = JSON.stringify(value).length <= CLEAR_VALUE_CHARS;
      expect(input.withheld === undefined, JSON.stringify(value)).toBe(fits);
      if (fits) kept++;
      else withheld++;
    }
    expect(kept).toBeGreaterThan(100);
    expect(withheld).toBeGreaterThan(100);
  });
});
