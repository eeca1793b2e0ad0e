/**
 * What waits for an agent's replies is bounded by bytes, and passing the
 * bound costs that agent an EAGAIN, never its host (a review of the reply
 * flood's fix). The fix counted a reply still in the kernel as an
 * outstanding call and killed the host past 1,089; but a reply counts as
 * gone only once the channel's write callback runs, and Node runs it after
 * a whole writev, while the host has long read the first replies and sent
 * new calls. So an honest agent (1,000 lanes each awaiting random(65536))
 * had its host killed and its neighbour lost within a second or two, every
 * run. Now only calls under way count for that judgement, and an agent whose
 * outbox holds more than its budget (outbox.ts) gets EAGAIN ("replies
 * waiting for it") for its new asynchronous calls, without their being run.
 */
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryDecisionLog } from '../../kernel/decision-log.ts';
import type { Kernel } from '../../kernel/kernel.ts';
import { programFromSource } from '../../kernel/program.ts';
import { capture, testKernel } from '../helpers.ts';
import { clearSlowHost, slowHost } from './slow-host-settings.ts';

const SLOW = fileURLToPath(new URL('./slow-host.ts', import.meta.url));

/** 1,000 lanes, each taking 30 answers of 64 KiB; an EAGAIN is back-pressure: the lane tries again a moment later. (The old code killed the host in 13 runs of 13 with 30 answers a lane, about half the runs with 20, one in three with 5.) */
const LANES = `
  let n = 0, refused = 0;
  async function lane() {
    for (let got = 0; got < 30; ) {
      try {
        await sys.async.random(65536);
        got++;
        n++;
      } catch (err) {
        if (err.errno !== 'EAGAIN') throw err;
        refused++;
        await new Promise((r) => setTimeout(r, 1));
      }
    }
  }
  await Promise.all(Array.from({ length: 1000 }, lane));
  console.log('lanes done', n);
`;

const NEIGHBOUR = 'for (let i = 0; i < 100; i++) await new Promise((r) => setTimeout(r, 20)); console.log("neighbour done");';

/** After one reply, 1,000 calls of 64 KiB at once (~64 MiB of replies), which reach the kernel while the host reads nothing: counts the refusals. */
const FLOOD = `
  await sys.async.random(65536);
  const all = await Promise.allSettled(Array.from({ length: 1000 }, () => sys.async.random(65536).then(() => true)));
  const refused = all.filter((r) => r.status === 'rejected' && r.reason.errno === 'EAGAIN' && /^replies waiting for it: /.test(r.reason.message)).length;
  const other = all.filter((r) => r.status === 'rejected').length - refused;
  console.log('refused', refused, 'other', other, 'answered', all.length - refused - other);
`;

let kernel: Kernel | undefined;
afterEach(async () => {
  await kernel?.shutdown();
  kernel = undefined;
  clearSlowHost();
});

function hostEvents(log: MemoryDecisionLog): string[] {
  return log.list().flatMap((r) => (r.type === 'limit' && 'detail' in r ? [r.detail] : []));
}

describe('replies waiting for an agent', () => {
  it('an honest agent with 1,000 lanes of random(65536) keeps its host, and its neighbour', async () => {
    const log = new MemoryDecisionLog();
    // The heap holds the lanes' answers in flight (1,000 × 64 KiB).
    kernel = testKernel({ recorder: log, memoryLimitMib: 256, hosts: { count: 1, agentsPerHost: 8, spares: 0, hangMs: 20_000 } }).kernel;
    const out = capture();
    const neighbour = await kernel.spawnAsync(programFromSource('neighbour.js', NEIGHBOUR), { stdout: out.sink, stderr: out.sink });
    const lanes = await kernel.spawnAsync(programFromSource('lanes.js', LANES), { stdout: out.sink, stderr: out.sink });
    const [l, n] = await Promise.all([kernel.wait(lanes.pid), kernel.wait(neighbour.pid)]);
    expect(hostEvents(log).filter((d) => /killed|lost/.test(d))).toEqual([]);
    expect(l, out.text).toMatchObject({ status: 0, reason: { kind: 'exit' } });
    expect(n, out.text).toMatchObject({ status: 0, reason: { kind: 'exit' } });
    expect(out.text.split('\n').toSorted()).toEqual(['', 'lanes done 30000', 'neighbour done']);
    expect(kernel.hosts?.info().map((h) => [h.id, h.state])).toEqual([[1, 'ready']]);
  }, 120_000);

  it('a flooder whose replies pile up gets EAGAIN for its new calls; its host lives and its neighbour ends well', async () => {
    // The host stops reading once it has the first reply of 64 KiB, and reads again once it has sent the 1,000 calls (or after 10 s).
    slowHost({ after: 1 << 16, atFrame: true, pauseMs: 10_000, resumeWrites: 1000 });
    const log = new MemoryDecisionLog();
    kernel = testKernel({ recorder: log, hosts: { count: 1, agentsPerHost: 8, spares: 0, hangMs: 20_000, entry: SLOW } }).kernel;
    const out = capture();
    const flood = capture();
    const neighbour = await kernel.spawnAsync(programFromSource('neighbour.js', NEIGHBOUR), { stdout: out.sink, stderr: out.sink });
    const flooder = await kernel.spawnAsync(programFromSource('flood.js', FLOOD), { stdout: flood.sink, stderr: flood.sink });
    const [f, n] = await Promise.all([kernel.wait(flooder.pid), kernel.wait(neighbour.pid)]);
    expect(hostEvents(log).filter((d) => /killed|lost/.test(d))).toEqual([]);
    expect(n).toMatchObject({ status: 0, reason: { kind: 'exit' } });
    expect(out.text).toBe('neighbour done\n');
    expect(f, flood.text).toMatchObject({ status: 0, reason: { kind: 'exit' } });
    // ~64 MiB of replies against a budget of 16 MiB while the host reads nothing: most are refused (not run).
    const [, refused, other, answered] = /^refused (\d+) other (\d+) answered (\d+)\n$/.exec(flood.text) ?? [];
    expect(Number(other), flood.text).toBe(0);
    expect(Number(refused), flood.text).toBeGreaterThan(0);
    expect(Number(refused) + Number(answered)).toBe(1000);
    expect(kernel.hosts?.info().map((h) => [h.id, h.state])).toEqual([[1, 'ready']]);
  }, 120_000);
});
