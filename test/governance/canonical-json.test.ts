/**
 * canonicalJson (kernel/canonical-json.ts) gives equal text exactly for equal data: keys in any order are the same
 * text, and a number JSON cannot hold is not written as `null` (a grant's digest was the same for `{amount: null}`
 * and `{amount: 1e999}`).
 */
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../kernel/canonical-json.ts';
import { grantDigest } from '../../kernel/service/grants.ts';

const grant = (amount: number | null) => grantDigest({ agent: 'a', action: 'payment.send', arguments: { amount } });

describe('canonical JSON', () => {
  it('is the same text for the same data, keys in any order', () => {
    expect(canonicalJson({ b: [1, { d: 'x', c: null }], a: true })).toBe(canonicalJson({ a: true, b: [1, { c: null, d: 'x' }] }));
    expect(canonicalJson({ a: undefined, b: 1 })).toBe('{"b":1}');
  });

  it('tells null, Infinity, -Infinity and NaN apart', () => {
    const texts = [null, Infinity, -Infinity, NaN].map((amount) => canonicalJson({ amount }));
    expect(new Set(texts).size).toBe(4);
    expect(canonicalJson([Infinity])).toBe('[Infinity]');
    expect(grant(Number.parseFloat('1e999'))).not.toBe(grant(null));
  });
});
