/**
 * LeaseBook (kernel/hosts/leases.ts), the kernel's account of a host's
 * leases: calls under an older lease still count after a newer one was
 * sent (the host had not received it yet), a call under a newer lease
 * retires the older ones and gives their unused tokens back, and nothing
 * beyond a lease's tokens or rows is taken.
 */
import { describe, expect, it } from 'vitest';
import { LeaseBook } from '../../kernel/hosts/leases.ts';
import type { Decision } from '../../syscalls/context.ts';

const allow = (rule: string): Decision => ({ effect: 'allow', rule, reason: 'test', policyVersion: 'v1' });
const GETPID = 8;
const RANDOM = 21;

describe('LeaseBook', () => {
  it('counts calls under the lease they name, retires older leases once a newer is used, and refunds what they left', () => {
    const refunds: [number, number][] = [];
    const book = new LeaseBook((tokens, window) => refunds.push([tokens, window]));
    expect(book.needs(GETPID, 0)).toBe(true);
    const first = book.extend(GETPID, { decision: allow('a'), tokens: 3, ms: 1000, window: 7 }, 0);
    expect(book.needs(GETPID, 10)).toBe(false);
    expect(book.needs(RANDOM, 10)).toBe(true);
    const second = book.extend(RANDOM, { decision: allow('b'), tokens: 5, ms: 1000, window: 8 }, 10);
    expect(second.nrs).toEqual([GETPID, RANDOM]);
    // The host had not received the second lease yet: its calls under the first still count.
    expect(book.take(first.gen, GETPID)?.rule).toBe('a');
    expect(book.take(first.gen, RANDOM)).toBeUndefined();
    expect(refunds).toEqual([]);
    // Its first call under the second retires the first, whose unused tokens (3 - 1, RANDOM's refused one not counted) go back.
    expect(book.take(second.gen, RANDOM)?.rule).toBe('b');
    expect(refunds).toEqual([[2, 7]]);
    // An older lease is never used again: a host that names it is wrong.
    expect(book.take(first.gen, GETPID)).toBeUndefined();
    for (let i = 0; i < 4; i++) expect(book.take(second.gen, GETPID)?.rule).toBe('a');
    expect(book.take(second.gen, GETPID)).toBeUndefined();
    expect(book.needs(GETPID, 20)).toBe(true);
  });

  it('after a revocation, the next lease carries only the row it was granted for; an expired lease is renewed', () => {
    const book = new LeaseBook(() => undefined);
    book.extend(GETPID, { decision: allow('a'), tokens: 10, ms: 100, window: 1 }, 0);
    expect(book.needs(GETPID, 99)).toBe(false);
    expect(book.needs(GETPID, 100)).toBe(true);
    expect(book.revoke()).toBe(true);
    expect(book.revoke()).toBe(false);
    expect(book.needs(GETPID, 0)).toBe(true);
    const next = book.extend(RANDOM, { decision: allow('b'), tokens: 10, ms: 100, window: 1 }, 0);
    expect(next.nrs).toEqual([RANDOM]);
  });
});
