/**
 * The pipe holds its bytes in one ring, whatever the writes were. Found by
 * an attacker pass: a chunk kept per write and a shift() per chunk read made
 * one read of 65,536 one-byte writes take 2.2 s of the kernel's loop (agentd's
 * /healthz stalled 2.4 s), from an agent alone or a server dripping a body.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Pipe, PIPE_CAPACITY } from '../../kernel/pipe.ts';

function pipe(): Pipe {
  const p = new Pipe();
  p.open('r');
  p.open('w');
  return p;
}

describe('a pipe holds its bytes in one ring', () => {
  it('reads give back exactly what was written, in order, whatever the sizes (wrapping and growing the ring)', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.record({ write: fc.integer({ min: 1, max: 70_000 }) }), fc.record({ read: fc.integer({ min: 1, max: 70_000 }) })), { maxLength: 60 }), (ops) => {
        const p = pipe();
        const sent: Uint8Array[] = [];
        const got: Uint8Array[] = [];
        let sentBytes = 0;
        let gotBytes = 0;
        let next = 0;
        for (const op of ops) {
          if ('write' in op) {
            const n = Math.min(op.write, PIPE_CAPACITY - (sentBytes - gotBytes));
            if (n === 0) continue;
            const data = new Uint8Array(n);
            for (let i = 0; i < n; i++) data[i] = next++ % 251;
            expect(p.write(data)).toBe(n);
            sent.push(data);
            sentBytes += n;
          } else if (sentBytes > gotBytes) {
            const out = p.read(op.read) as Uint8Array;
            expect(out.byteLength).toBe(Math.min(op.read, sentBytes - gotBytes));
            got.push(out);
            gotBytes += out.byteLength;
          }
        }
        if (sentBytes > gotBytes) got.push(p.read(sentBytes - gotBytes) as Uint8Array);
        expect(Buffer.concat(got).equals(Buffer.concat(sent))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('64 fills of 65,536 one-byte writes, each read back at once: a few ms each (0.5-2.2 s each before: this timed out)', () => {
    const p = pipe();
    const one = new Uint8Array([42]);
    for (let round = 0; round < 64; round++) {
      let written = 0;
      for (let i = 0; i < PIPE_CAPACITY; i++) written += p.write(one) as number;
      expect(written).toBe(PIPE_CAPACITY);
      const out = p.read(PIPE_CAPACITY) as Uint8Array;
      expect(out.byteLength).toBe(PIPE_CAPACITY);
      expect(out.every((b) => b === 42)).toBe(true);
    }
  });

  // Found by a review: a cancelled read's waiter stayed in the pipe's list until the pipe changed (200,000 cancelled
  // reads on a quiet pipe held 210 MB).
  it('a cancelled read leaves the pipe at once: a quiet pipe keeps none of its waiters', async () => {
    const p = pipe();
    const reads = Array.from({ length: 1000 }, () => {
      const c = new AbortController();
      const read = (p.read(10, () => true, c.signal) as Promise<Uint8Array>).catch((e: { errno?: string }) => e.errno);
      c.abort();
      return read;
    });
    expect(new Set(await Promise.all(reads))).toEqual(new Set(['ECANCELED']));
    expect(p.waiting).toEqual({ reads: 0, writes: 0 });
  });

  // Found by an attacker pass: every read woke every blocked writer (8,000 writers: ~10 ms of the kernel's loop per
  // 1-byte read, pauses of 1.6 s), and each wake chained one more promise onto the write.
  it('a read wakes one blocked writer, not all of them; the writers keep their order', async () => {
    const p = pipe();
    p.write(new Uint8Array(PIPE_CAPACITY));
    let looks = 0;
    const order: number[] = [];
    const writes = Array.from({ length: 1000 }, (_, i) =>
      (p.write(new Uint8Array([i & 255, i >> 8]), () => (looks++, true)) as Promise<number>).then(() => order.push(i)),
    );
    looks = 0;
    for (let i = 0; i < 200; i++) {
      p.read(1);
      await new Promise((r) => setImmediate(r));
    }
    // Each read made room for one byte: the first writer took it and waits again at the head; nobody else looked.
    expect(looks).toBeLessThanOrEqual(400);
    p.read(PIPE_CAPACITY);
    for (let i = 0; i < 40; i++) {
      p.read(PIPE_CAPACITY);
      await new Promise((r) => setImmediate(r));
    }
    p.read(PIPE_CAPACITY);
    await Promise.all(writes);
    expect(order).toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });

  // Found by a review: a woken writer that had to wait again went to the head of the queue, so a wake of all (an end
  // closing) reversed the waiters, and a process's second blocked write overtook its first.
  it('blocked writes keep their order when an end closes (a wake of all) between reads', async () => {
    const p = pipe();
    p.open('w');
    p.write(new Uint8Array(PIPE_CAPACITY));
    const writes = [1, 2, 3].map((n) => p.write(new Uint8Array(PIPE_CAPACITY).fill(n)) as Promise<number>);
    await new Promise((r) => setImmediate(r));
    p.close('w');
    await new Promise((r) => setImmediate(r));
    const firsts: number[] = [];
    for (let i = 0; i < 4; i++) {
      firsts.push((p.read(PIPE_CAPACITY) as Uint8Array)[0]!);
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all(writes);
    expect(firsts).toEqual([0, 1, 2, 3]);
  });

  it('a write past the room blocks until a read makes room, and its rest follows in order', async () => {
    const p = pipe();
    p.write(new Uint8Array(PIPE_CAPACITY - 10).fill(1));
    const blocked = p.write(new Uint8Array(30).fill(2));
    expect(blocked).toBeInstanceOf(Promise);
    const first = p.read(PIPE_CAPACITY) as Uint8Array;
    expect(first.byteLength).toBe(PIPE_CAPACITY);
    expect(Array.from(first.subarray(PIPE_CAPACITY - 10)).every((b) => b === 2)).toBe(true);
    expect(await blocked).toBe(30);
    expect(Array.from(p.read(100) as Uint8Array)).toEqual(Array.from({ length: 20 }, () => 2));
  });
});
