/**
 * Crossing costs: a bare isolated-vm host callback (async `script.run()`,
 * the way the kernel runs agents, and `runSync` for context) side by side
 * with real agents making raw syscalls through the full kernel pipeline:
 * getpid, and 64-byte writes and reads on a VFS file fd. Every loop is
 * timed inside the isolate with Date.now() (isolates have no `performance`),
 * so loop lengths are picked to make each sample last a few hundred ms.
 */
import ivm from 'isolated-vm';
import { fileURLToPath } from 'node:url';
import type { Kernel } from '../kernel/kernel.ts';
import { type Bench, type BenchOptions, callsFor, type Figure, median, perCallNs, quietKernel, runReporting, runScript, spread } from './stats.ts';

const SAMPLE_MS = 250;
/** Above this a bare async crossing is in the idle-CPU wake-up regime (see README). */
const SLOW_REGIME_NS = 20_000;
const AGENT_WARMUP = 500;

/** BareIsolate is an isolate set up like a kernel sandbox, with one callback that returns its argument. */
export class BareIsolate {
  private readonly isolate = new ivm.Isolate({ memoryLimit: 64 });
  private readonly context = this.isolate.createContextSync();

  constructor() {
    this.context.global.setSync('__cb', new ivm.Callback((x: unknown) => x));
    this.isolate
      .compileScriptSync(
        `globalThis.__loop = function (n) {
           const cb = __cb;
           let r = 0;
           for (let i = 0; i < n; i++) r = cb(i);
           if (r !== n - 1) throw new Error('callback returned ' + r);
           const t0 = Date.now();
           for (let i = 0; i < n; i++) r = cb(i);
           if (r !== n - 1) throw new Error('callback returned ' + r);
           return Date.now() - t0;
         };`,
      )
      .runSync(this.context);
  }

  /** nsPerCall runs `n` callbacks (after `n` warm-up calls) and returns ns per call. */
  async nsPerCall(n: number, mode: 'async' | 'sync'): Promise<number> {
    const script = this.isolate.compileScriptSync(`__loop(${n})`);
    try {
      const ms = (mode === 'async' ? await script.run(this.context) : script.runSync(this.context)) as number;
      return perCallNs(ms, n);
    } finally {
      script.release();
    }
  }

  dispose(): void {
    this.context.release();
    this.isolate.dispose();
  }
}

const LOOP_REPORT = `
const ms = Date.now() - t0;
console.log(JSON.stringify({ ms, n, last: r }));`;

export const GETPID_AGENT = `
const n = Number(sys.args[0]);
const nr = SYS.SYS_GETPID;
let r;
for (let i = 0; i < ${AGENT_WARMUP}; i++) r = syscall(nr);
if (!r || r.v !== sys.pid) throw new Error('getpid: ' + JSON.stringify(r));
const t0 = Date.now();
for (let i = 0; i < n; i++) r = syscall(nr);
if (!r || r.v !== sys.pid) throw new Error('getpid: ' + JSON.stringify(r));
${LOOP_REPORT}`;

const WRITE_AGENT = `
const n = Number(sys.args[0]);
const fd = sys.open('mem/working/bench.dat', 'w');
const data = new Uint8Array(64).fill(97);
const nr = SYS.SYS_WRITE;
let r;
for (let i = 0; i < ${AGENT_WARMUP}; i++) r = syscall(nr, fd, data);
if (!r || r.v !== 64) throw new Error('write: ' + JSON.stringify(r));
const t0 = Date.now();
for (let i = 0; i < n; i++) r = syscall(nr, fd, data);
if (!r || r.v !== 64) throw new Error('write: ' + JSON.stringify(r));
${LOOP_REPORT}`;

// The file holds exactly (warm-up + n) * 64 bytes, so every read returns 64.
const READ_AGENT = `
const n = Number(sys.args[0]);
const total = (${AGENT_WARMUP} + n) * 64;
const out = sys.open('mem/working/bench.dat', 'w');
const chunk = new Uint8Array(65536).fill(98);
for (let left = total; left > 0; left -= chunk.length) sys.write(out, left >= chunk.length ? chunk : chunk.subarray(0, left));
sys.close(out);
const fd = sys.open('mem/working/bench.dat', 'r');
const nr = SYS.SYS_READ;
let r;
for (let i = 0; i < ${AGENT_WARMUP}; i++) r = syscall(nr, fd, 64);
if (!r || !r.v || r.v.length !== 64) throw new Error('read: ' + JSON.stringify(r));
const t0 = Date.now();
for (let i = 0; i < n; i++) r = syscall(nr, fd, 64);
if (!r || !r.v || r.v.length !== 64) throw new Error('read: ' + JSON.stringify(r));
r = r.v.length;
${LOOP_REPORT}`;

/** agentNsPerCall runs one loop agent in a fresh quiet kernel and returns ns per call. */
async function agentNsPerCall(source: string, n: number): Promise<number> {
  const kernel: Kernel = quietKernel();
  try {
    const { result } = await runReporting<{ ms: number; n: number }>(kernel, source, [String(n)]);
    return perCallNs(result.ms, result.n);
  } finally {
    await kernel.shutdown();
  }
}

export async function fastest(sample: () => Promise<number>, times = 3): Promise<number> {
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < times; i++) best = Math.min(best, await sample());
  return best;
}

function ns(key: string, samples: number[]): Figure {
  return { key, value: median(samples), unit: 'ns', note: `${spread(samples)} samples` };
}

const AGENT_LOOPS = [
  { key: 'syscall_getpid_ns', ratio: 'syscall_getpid_over_bare', target: 3, source: GETPID_AGENT },
  { key: 'syscall_write_64b_ns', ratio: 'syscall_write_64b_over_bare', target: undefined, source: WRITE_AGENT },
  { key: 'syscall_read_64b_ns', ratio: 'syscall_read_64b_over_bare', target: undefined, source: READ_AGENT },
] as const;

/**
 * measureCrossing runs `rounds` rounds. A round is one runSync sample, then
 * for each agent loop a bare async sample immediately followed by the agent's
 * sample: each ratio sample compares two loops run back to back, so a change
 * of the machine's wake-up regime between rounds (see README) shifts both.
 * Ratios are the median of those per-pair ratios.
 */
async function measureCrossing({ rounds, log }: BenchOptions): Promise<Figure[]> {
  const bare = new BareIsolate();
  try {
    // Loop lengths from the fastest of three short warm-ups of each: in the
    // wake-up regime a sample then lasts ~10x longer, never too short.
    const nAsync = callsFor(await fastest(() => bare.nsPerCall(2000, 'async')), SAMPLE_MS);
    const nSync = callsFor(await fastest(() => bare.nsPerCall(20000, 'sync')), SAMPLE_MS);
    const nAgent: number[] = [];
    for (const loop of AGENT_LOOPS) nAgent.push(callsFor(await fastest(() => agentNsPerCall(loop.source, 2000)), SAMPLE_MS));
    log(`crossing: loops of ${nAsync} async, ${nSync} sync, ${nAgent.join('/')} getpid/write/read calls`);
    const asyncNs: number[] = [];
    const syncNs: number[] = [];
    const agentNs: number[][] = AGENT_LOOPS.map(() => []);
    const ratios: number[][] = AGENT_LOOPS.map(() => []);
    for (let r = 0; r < rounds; r++) {
      syncNs.push(await bare.nsPerCall(nSync, 'sync'));
      const pairs: string[] = [];
      for (const [i, loop] of AGENT_LOOPS.entries()) {
        const a = await bare.nsPerCall(nAsync, 'async');
        const v = await agentNsPerCall(loop.source, nAgent[i] as number);
        asyncNs.push(a);
        agentNs[i]?.push(v);
        ratios[i]?.push(v / a);
        pairs.push(`${a.toFixed(0)}/${v.toFixed(0)}`);
      }
      log(`crossing round ${r + 1}/${rounds}: sync ${syncNs.at(-1)?.toFixed(0)} ns; bare/agent getpid ${pairs[0]}, write ${pairs[1]}, read ${pairs[2]} ns`);
    }
    const slow = asyncNs.filter((a) => a > SLOW_REGIME_NS).length;
    const figures: Figure[] = [
      { ...ns('bare_crossing_ns', asyncNs), note: `${spread(asyncNs)} samples, ${slow} of them above ${SLOW_REGIME_NS / 1000} µs (idle-CPU wake-up regime)` },
      ns('bare_crossing_sync_ns', syncNs),
    ];
    for (const [i, loop] of AGENT_LOOPS.entries()) {
      const pairRatios = ratios[i] as number[];
      figures.push(ns(loop.key, agentNs[i] as number[]));
      figures.push({
        key: loop.ratio,
        value: median(pairRatios),
        unit: 'x',
        ...(loop.target === undefined ? {} : { target: { op: '<=', bound: loop.target } }),
        note: `median of per-pair ratios, ${spread(pairRatios, 2)}`,
      });
    }
    // The full pipeline against the physical limit (a synchronous callback), same rounds: what the pool-thread hop costs.
    const overSync = (agentNs[0] as number[]).map((v, r) => v / (syncNs[r] as number));
    figures.push({ key: 'syscall_getpid_over_sync', value: median(overSync), unit: 'x', note: `SYS_GETPID from an agent ÷ bare_crossing_sync_ns, per round, ${spread(overSync, 1)}: the agent's isolate runs on isolated-vm's pool thread, so each syscall is a thread hop to the kernel's event loop (bare_crossing_ns), which the synchronous figure does not pay` });
    return figures;
  } finally {
    bare.dispose();
  }
}

const CROSSING_KEYS = ['bare_crossing_ns', 'bare_crossing_sync_ns', ...AGENT_LOOPS.flatMap((l) => [l.key, l.ratio]), 'syscall_getpid_over_sync'];

export const crossingBench: Bench = { name: 'crossing', keys: CROSSING_KEYS, run: measureCrossing };

/** pinnedKey names a figure from the one-CPU run: `x_ns` → `x_1cpu_ns`, `x` → `x_1cpu`. */
const pinnedKey = (key: string): string => (key.endsWith('_ns') ? `${key.slice(0, -3)}_1cpu_ns` : `${key}_1cpu`);

/**
 * crossing1cpu repeats the crossing bench in a child process pinned to one CPU
 * with taskset: the isolate thread and the main thread then hand over on one
 * core, which takes the idle-CPU wake-up out of the figures and leaves the
 * kernel's own cost. Skipped (no figures) where taskset is missing.
 */
export const crossingPinnedBench: Bench = {
  name: 'crossing1cpu',
  keys: CROSSING_KEYS.map(pinnedKey),
  async run({ rounds, log }: BenchOptions): Promise<Figure[]> {
    let out: string;
    try {
      out = await runScript(fileURLToPath(import.meta.url), [String(rounds)], { pinCpu: 0 });
    } catch (err) {
      log(`crossing1cpu skipped: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
      return [];
    }
    const figures = JSON.parse(out.trim().split('\n').at(-1) ?? '[]') as Figure[];
    return figures.map((f) => ({ ...f, key: pinnedKey(f.key) }));
  },
};

// As a script (for crossing1cpu): measure and print the figures as one JSON line.
if (import.meta.main) {
  const rounds = Number(process.argv[2]) || 7;
  const figures = await measureCrossing({ rounds, log: (line) => void process.stderr.write(`# [1cpu] ${line}\n`) });
  console.log(JSON.stringify(figures));
}
