/**
 * One agent's calls fill the channel its host shares with its neighbours
 * (an attacker pass): 400 asynchronous stats of a 2.3 M-character path,
 * ~4.7 MB a frame, refused only once the kernel had decoded each, queued
 * GBs in the host and held the neighbours' calls and the heartbeat's answer
 * behind them until the kernel took the host for hung and killed it, every
 * agent on it `lost`. Now a sandbox has at most 16 MiB of calls on their way
 * and the channel 64 MiB (past either a call is held back in ring 3 until
 * one of the sandbox's calls completes; it was EAGAIN, which ring 3 met by
 * issuing the next at once), and the kernel joins a frame's chunks once.
 */
import { describe, expect, it } from 'vitest';
import { Kernel } from '../../kernel/kernel.ts';
import { programFromSource } from '../../kernel/program.ts';

describe('an agent flooding its host channel with large calls', () => {
  it('waits past its share, every call running in turn; the host lives and its neighbour ends well', async () => {
    let out = '';
    const decoder = new TextDecoder();
    const kernel = new Kernel({ hosts: { count: 1, agentsPerHost: 8, spares: 0 }, stdout: (c) => void (out += decoder.decode(c)), stderr: () => {} });
    try {
      const neighbour = await kernel.spawnAsync(programFromSource('neighbour.js', 'for (let i = 0; i < 100; i++) await new Promise((r) => setTimeout(r, 20)); console.log("neighbour done");'));
      const flood = `const big = '\\u1234'.repeat(2_300_000); const seen = {}; for (const r of await Promise.allSettled(Array.from({ length: 400 }, () => sys.async.stat(big)))) { const e = r.status === 'fulfilled' ? 'ok' : r.reason.errno; seen[e] = (seen[e] ?? 0) + 1; } console.log(JSON.stringify(seen));`;
      const attacker = await kernel.spawnAsync(programFromSource('flood.js', flood));
      const [a, n] = await Promise.all([kernel.wait(attacker.pid), kernel.wait(neighbour.pid)]);
      expect(n).toMatchObject({ status: 0, reason: { kind: 'exit' } });
      expect(a).toMatchObject({ status: 0, reason: { kind: 'exit' } });
      const seen = JSON.parse(out.split('\n').find((l) => l.startsWith('{'))!) as Record<string, number>;
      expect(seen).toEqual({ ENAMETOOLONG: 400 });
      expect(out).toContain('neighbour done');
    } finally {
      await kernel.shutdown();
    }
  }, 120_000);

  // Found by a review: a sandbox's calls counted against its share until their replies, and one held back was issued
  // again only once one of them completed. Sixteen writes of 1 MiB to its own pipe, then a read: the sixteenth went
  // past the share, the read waited behind it, the fifteen writes waited for the read, and nothing ever completed.
  it('a call held back for its share goes once its calls have left the host, though they wait in the kernel', async () => {
    let out = '';
    const kernel = new Kernel({ hosts: { count: 1, agentsPerHost: 4, spares: 0 }, stdout: (c) => void (out += new TextDecoder().decode(c)), stderr: () => {} });
    try {
      const source = `const [r, w] = sys.pipe();
const chunk = new Uint8Array(1 << 20);
const writes = [];
for (let i = 0; i < 16; i++) writes.push(sys.async.write(w, chunk));
let total = 0;
while (total < 16 << 20) total += (await sys.async.read(r, 1 << 20)).length;
console.log(total, [...new Set(await Promise.all(writes))].join());`;
      const proc = await kernel.spawnAsync(programFromSource('own-pipe.js', source));
      expect(await kernel.wait(proc.pid)).toMatchObject({ status: 0 });
      expect(out).toBe(`${16 << 20} ${1 << 20}\n`);
    } finally {
      await kernel.shutdown();
    }
  }, 30_000);
});
