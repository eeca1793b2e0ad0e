/**
 * spawn: wall time from `kernel.spawn()` to `kernel.wait()` resolving, for an
 * agent that makes one syscall and returns. One process at a time, so the
 * figure is latency, not throughput. Then throughput and what agents leave:
 * - spawns_per_s: 8 concurrent spawners, each spawning and waiting for a
 *   one-syscall agent with an id of its own (distinct agent ids), in a kernel
 *   that keeps trees 0 ms after their last process and records nothing;
 * - heap_after_20k_over_1k: the heap (after GC, nothing running) once 20,000
 *   distinct agent ids have come and gone, over the same after 1,000.
 */
import { programFromSource } from '../kernel/program.ts';
import { layerWarmup } from '../kernel/runtime-bundle.ts';
import { type Bench, type BenchOptions, type Figure, collect, median, nowNs, quantile, quietKernel, spread } from './stats.ts';

const RUNS = 250;
const WARMUP = 20;
const WEB_RUNS = 100;
const SPACED_RUNS = 100;
/** The pause between spawns of spawn_to_exit_spaced_ms, ms: spawns that come one at a time, as an operator's or a service's do. */
const SPACE_MS = 5;
/** A program that uses the web and Node layers as the frameworks' agents do (URL, Headers, a streamed Response, TextEncoder, process.env). */
const WEB_PROGRAM = `const u = new URL('https://api.example.com/v1/chat?x=1');
const body = new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode('{"ok":true}')); c.close(); } });
const answer = await new Response(body, { headers: new Headers({ 'content-type': 'application/json' }) }).json();
if (!answer.ok || u.host !== 'api.example.com' || process.env.MISSING !== undefined) throw new Error('web bench program');
syscall(SYS.SYS_GETPID);`;
const SPAWNERS = 8;

/** heapMib is the heap in use after full collections, MiB (NaN without --expose-gc). */
function heapMib(): number {
  if (!collect()) return Number.NaN;
  collect();
  return process.memoryUsage().heapUsed / 1024 / 1024;
}

/** spawnMany spawns agents `from`..`to`-1 (ids agent-N) with SPAWNERS at a time, each waiting for its agent; spawns per second. */
async function spawnMany(kernel: ReturnType<typeof quietKernel>, from: number, to: number): Promise<number> {
  const program = programFromSource('one-syscall.js', 'syscall(SYS.SYS_GETPID);');
  let next = from;
  const t0 = nowNs();
  await Promise.all(
    Array.from({ length: SPAWNERS }, async () => {
      while (next < to) {
        const id = next++;
        const exit = await kernel.wait(kernel.spawn(program, { manifest: { id: `agent-${id}` } }).pid);
        if (exit.status !== 0) throw new Error(`spawn bench agent ${id}: status ${exit.status}`);
      }
    }),
  );
  return (to - from) / (Number(nowNs() - t0) / 1e9);
}

/** throughput: spawns/s over 20,000 distinct agent ids, and the heap after 20,000 over after 1,000. */
async function throughput(log: BenchOptions['log']): Promise<Figure[]> {
  let seq = 0;
  const kernel = quietKernel({ treeRetentionMs: 0, recorder: { record: () => ++seq, beforeAction: () => undefined } });
  try {
    await spawnMany(kernel, 0, 1000);
    await new Promise((resolve) => setTimeout(resolve, 10));
    const at1k = heapMib();
    const rate = await spawnMany(kernel, 1000, 20_000);
    await new Promise((resolve) => setTimeout(resolve, 10));
    const at20k = heapMib();
    log(`spawn: ${rate.toFixed(0)} spawns/s with ${SPAWNERS} spawners; heap ${at1k.toFixed(1)} MiB after 1,000 agent ids, ${at20k.toFixed(1)} MiB after 20,000 (${kernel.treeCount} trees kept)`);
    return [
      { key: 'spawns_per_s', value: rate, unit: '/s', target: { op: '>=', bound: 400 }, note: `${SPAWNERS} concurrent spawners, 19,000 agents with distinct ids; each isolate is built on the event loop, its context and runtime on its own thread while other spawns are starting (kernel/sandbox-boot.ts)` },
      { key: 'heap_after_20k_over_1k', value: at20k / at1k, unit: 'x', target: { op: '<=', bound: 1.1 }, note: `${at1k.toFixed(1)} MiB after 1,000 agent ids, ${at20k.toFixed(1)} MiB after 20,000 (heap after GC, nothing running, trees kept 0 ms, no records kept)` },
    ];
  } finally {
    await kernel.shutdown();
  }
}

export const spawnBench: Bench = {
  name: 'spawn',
  keys: ['spawn_to_exit_ms', 'spawn_to_exit_p90_ms', 'spawn_to_exit_spaced_ms', 'spawn_to_exit_web_ms', 'spawns_per_s', 'heap_after_20k_over_1k'],
  async run({ log }: BenchOptions): Promise<Figure[]> {
    const kernel = quietKernel();
    const program = programFromSource('one-syscall.js', 'syscall(SYS.SYS_GETPID);');
    const samples: number[] = [];
    const web: number[] = [];
    const spaced: number[] = [];
    const timed = async (p: typeof program): Promise<number> => {
      const t0 = nowNs();
      const exit = await kernel.wait(kernel.spawn(p).pid);
      const ms = Number(nowNs() - t0) / 1e6;
      if (exit.status !== 0 || exit.syscalls !== 1) throw new Error(`spawn bench agent ${p.filename}: status ${exit.status}, ${exit.syscalls} syscalls`);
      return ms;
    };
    try {
      for (let i = 0; i < WARMUP + RUNS; i++) {
        const ms = await timed(program);
        if (i >= WARMUP) samples.push(ms);
      }
      for (let i = 0; i < SPACED_RUNS; i++) {
        await new Promise((resolve) => setTimeout(resolve, SPACE_MS));
        spaced.push(await timed(program));
      }
      // The second such spawn starts the layers' warm-ups (kernel/layer-warmup.ts); the figure is the steady state after them.
      const webProgram = programFromSource('web.js', WEB_PROGRAM);
      for (let i = 0; i < WARMUP; i++) await timed(webProgram);
      await Promise.all([layerWarmup('web'), layerWarmup('node')]);
      for (let i = 0; i < WEB_RUNS; i++) web.push(await timed(webProgram));
    } finally {
      await kernel.shutdown();
    }
    log(`spawn: ${RUNS} runs, min ${Math.min(...samples).toFixed(2)} ms, max ${Math.max(...samples).toFixed(2)} ms`);
    return [
      { key: 'spawn_to_exit_ms', value: median(samples), unit: 'ms', target: { op: '<=', bound: 5 }, note: `median of ${RUNS} runs after ${WARMUP} warm-up` },
      { key: 'spawn_to_exit_p90_ms', value: quantile(samples, 0.9), unit: 'ms' },
      { key: 'spawn_to_exit_spaced_ms', value: median(spaced), unit: 'ms', note: `the same agent, ${SPACE_MS} ms between spawns (they come one at a time: a spare isolate and context are ready for each, kernel/spare-isolates.ts); ${spread(spaced)}` },
      { key: 'spawn_to_exit_web_ms', value: median(web), unit: 'ms', target: { op: '<=', bound: 5 }, note: `a program using URL, Headers, a streamed Response, TextEncoder and process.env (the web and Node layers, with their warm code caches); ${spread(web)}` },
      ...(await throughput(log)),
    ];
  },
};
