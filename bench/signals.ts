/**
 * signals: issue 4's figures.
 *  - sigkill_busy_loop_ms: kernel.kill(pid, 'SIGKILL') on an agent spinning in
 *    `while (true) {}` until its exit promise resolves; p99 over 100 runs.
 *  - signal_delivery_us: an operator kernel.kill(pid, SIGUSR1 or SIGTERM) to
 *    the agent's handler running, in an idle agent (awaiting a promise that
 *    never settles). The handler writes one byte to fd 1; the host stamps
 *    process.hrtime in the stdout sink. Median over 200 signals.
 *  - pipe_throughput_mib_s: a parent agent spawns a writer and a reader
 *    (registered programs) joined by SYS_PIPE; the writer writes 64 MiB in
 *    64 KiB chunks, the reader reads until end of file and times itself from
 *    its first chunk to EOF. Median over rounds.
 */
import type { Kernel } from '../kernel/kernel.ts';
import { programFromSource } from '../kernel/program.ts';
import { type Bench, type BenchOptions, type Figure, median, nowNs, quantile, quietKernel, runReporting, sleep, spread } from './stats.ts';

const KILL_RUNS = 100;
const SIGNALS = 200;
const WARMUP = 5;
const PIPE_MIB = 64;

/** readyProcess spawns `source` and resolves once it has printed its first output. */
async function readyProcess(kernel: Kernel, source: string, onOutput?: () => void): Promise<number> {
  const started = Promise.withResolvers<void>();
  let first = true;
  const proc = kernel.spawn(programFromSource('signal-bench.js', source), {
    stdout: () => {
      if (first) {
        first = false;
        started.resolve();
      } else onOutput?.();
    },
  });
  await started.promise;
  return proc.pid;
}

async function measureKill(log: BenchOptions['log']): Promise<Figure[]> {
  const kernel = quietKernel();
  const samples: number[] = [];
  try {
    for (let i = 0; i < WARMUP + KILL_RUNS; i++) {
      const pid = await readyProcess(kernel, `console.log('spinning'); while (true) {}`);
      await sleep(2); // well inside the loop
      const t0 = nowNs();
      kernel.kill(pid, 'SIGKILL');
      const exit = await kernel.wait(pid);
      const ms = Number(nowNs() - t0) / 1e6;
      if (exit.status !== 128 + 4) throw new Error(`SIGKILLed busy loop exited ${exit.status}`);
      if (i >= WARMUP) samples.push(ms);
    }
  } finally {
    await kernel.shutdown();
  }
  log(`signals: SIGKILL of a busy loop, ${KILL_RUNS} runs, median ${median(samples).toFixed(2)} ms, max ${Math.max(...samples).toFixed(2)} ms`);
  return [
    { key: 'sigkill_busy_loop_ms', value: quantile(samples, 0.99), unit: 'ms', target: { op: '<=', bound: 10 }, note: `p99 of ${KILL_RUNS} runs; median ${median(samples).toFixed(3)} ms, ${spread(samples, 3)}` },
  ];
}

const IDLE_AGENT = `
const pong = new Uint8Array([33]);
sys.signal.on('SIGUSR1', () => void sys.write(1, pong));
sys.signal.on('SIGTERM', () => void sys.write(1, pong));
console.log('ready');
await new Promise(() => {});`;

async function measureDelivery(log: BenchOptions['log']): Promise<Figure[]> {
  // A long grace period, so a handled SIGTERM never escalates to SIGKILL during the run.
  const kernel = quietKernel({ termGraceMs: 3_600_000 });
  let handled: (() => void) | undefined;
  let handledAt = 0n;
  const bySignal: Record<string, number[]> = { SIGUSR1: [], SIGTERM: [] };
  try {
    const pid = await readyProcess(kernel, IDLE_AGENT, () => {
      handledAt = nowNs();
      handled?.();
    });
    for (let i = 0; i < WARMUP + SIGNALS; i++) {
      await sleep(3); // idle: the handler and its write are long done
      const signal = i % 2 === 0 ? 'SIGUSR1' : 'SIGTERM';
      const done = Promise.withResolvers<void>();
      handled = done.resolve;
      const t0 = nowNs();
      const outcome = kernel.kill(pid, signal);
      if (outcome !== 'delivered') throw new Error(`${signal} to an idle agent with a handler: ${outcome}`);
      await done.promise;
      if (i >= WARMUP) bySignal[signal]!.push(Number(handledAt - t0) / 1000);
    }
    if (kernel.get(pid)?.exit !== undefined) throw new Error('the idle agent ended during the run');
  } finally {
    await kernel.shutdown();
  }
  const all = [...bySignal.SIGUSR1!, ...bySignal.SIGTERM!];
  log(`signals: delivery to an idle agent, median ${median(all).toFixed(0)} µs, p90 ${quantile(all, 0.9).toFixed(0)} µs`);
  return [
    {
      key: 'signal_delivery_us',
      value: median(all),
      unit: 'µs',
      target: { op: '<=', bound: 200 },
      note: `median of ${all.length} (SIGUSR1 ${median(bySignal.SIGUSR1!).toFixed(0)}, SIGTERM ${median(bySignal.SIGTERM!).toFixed(0)}); p90 ${quantile(all, 0.9).toFixed(0)} µs, ${spread(all)}`,
    },
  ];
}

const WRITER = `
const n = Number(sys.args[0]);
const chunk = new Uint8Array(65536).fill(120);
for (let i = 0; i < n; i++) sys.write(1, chunk);`;

const READER = `
let bytes = 0, first = 0, t0 = 0;
for (;;) {
  const c = sys.read(0, 65536);
  if (c.length === 0) break;
  if (bytes === 0) { first = c.length; t0 = Date.now(); }
  bytes += c.length;
}
console.log(JSON.stringify({ bytes, timed: bytes - first, ms: Date.now() - t0 }));`;

const PIPE_PARENT = `
const chunks = Number(sys.args[0]);
const [r, w] = sys.pipe();
const writer = sys.spawn('pipe-writer', [String(chunks)], { stdout: w });
const reader = sys.spawn('pipe-reader', [], { stdin: r });
sys.close(r);
sys.close(w);
for (const pid of [writer, reader]) {
  const { status } = sys.wait(pid);
  if (status !== 0) throw new Error('pipe stage ' + pid + ' exited ' + status);
}`;

async function measurePipe({ rounds, log }: BenchOptions): Promise<Figure[]> {
  const programs = { 'pipe-writer': programFromSource('pipe-writer.js', WRITER), 'pipe-reader': programFromSource('pipe-reader.js', READER) };
  const chunks = PIPE_MIB * 16;
  const rates: number[] = [];
  const walls: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const kernel = quietKernel({ programs });
    try {
      const t0 = nowNs();
      const { result } = await runReporting<{ bytes: number; timed: number; ms: number }>(kernel, PIPE_PARENT, [String(chunks)]);
      const wallS = Number(nowNs() - t0) / 1e9;
      if (result.bytes !== chunks * 65536) throw new Error(`reader got ${result.bytes} bytes, expected ${chunks * 65536}`);
      rates.push(result.timed / 2 ** 20 / (Math.max(result.ms, 1) / 1000));
      walls.push(PIPE_MIB / wallS);
      log(`pipe round ${r + 1}/${rounds}: ${rates.at(-1)!.toFixed(0)} MiB/s in the reader, ${walls.at(-1)!.toFixed(0)} MiB/s spawn to exit`);
    } finally {
      await kernel.shutdown();
    }
  }
  return [
    { key: 'pipe_throughput_mib_s', value: median(rates), unit: 'MiB/s', note: `${PIPE_MIB} MiB in 64 KiB writes, reader's first chunk to EOF; ${spread(rates)}; parent spawn to exit (3 agents) ${median(walls).toFixed(0)} MiB/s` },
  ];
}

export const signalsBench: Bench = {
  name: 'signals',
  keys: ['sigkill_busy_loop_ms', 'signal_delivery_us', 'pipe_throughput_mib_s'],
  async run(options: BenchOptions): Promise<Figure[]> {
    return [...(await measureKill(options.log)), ...(await measureDelivery(options.log)), ...(await measurePipe(options))];
  },
};
