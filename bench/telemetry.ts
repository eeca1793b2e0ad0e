/**
 * telemetry: what OpenTelemetry tracing costs a decision.
 * - otel_overhead_ratio: an agent's SYS_GETPID loop (decode, policy, record,
 *   handler: the whole decision path) in a kernel with tracing on (a span per
 *   decision inside the agent's lifetime span, batched OTLP/HTTP export by a
 *   worker thread to a loopback collector in its own process) over the same
 *   loop in a kernel with tracing off, alternating rounds in one run, in a
 *   child process pinned to CPU 0 with taskset (idle-CPU wake-ups swing
 *   unpinned figures 2x from round to round on this VM, see
 *   bench/README.md). The export worker is off the decision path by design:
 *   here its thread (and the collector) run on CPU 1, as they would on any
 *   machine with a second core. The median of per-round ratios.
 * - otel_overhead_ratio_one_cpu: the same with the export worker on CPU 0
 *   too, so the decision also waits while the exporter encodes and sends:
 *   all of tracing's CPU on the decision's one core, the worst case of a
 *   kernel given a single CPU.
 * - otel_export_us_per_span: the export worker's CPU time (user + system,
 *   from /proc) per span exported: encoding OTLP/HTTP and sending it.
 * - otel_added_us: what tracing adds per decision, µs (on − off, median of
 *   rounds), the absolute figure behind the ratio; and the spans the receiver
 *   got, so the figures are of spans really exported.
 * Unpinned where taskset is missing (the note says which).
 */
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parsePolicy } from '../kernel/policy/load.ts';
import { OtelTelemetry } from '../kernel/telemetry/otel.ts';
import { EXPORT_THREAD_NAME } from '../kernel/telemetry/worker-exporter.ts';
import { type Bench, type BenchOptions, type Figure, median, quietKernel, runReporting, runScript, spread } from './stats.ts';

const POLICY = parsePolicy('version: 1\nrules:\n  - { id: all, effect: allow, syscalls: [SYS_GETPID, SYS_WRITE] }\n', 'telemetry-bench.yaml');
const CALLS = 10_000;
const LOOP = `const n = ${CALLS}; for (let i = 0; i < 300; i++) sys.getpid(); const t0 = Date.now(); for (let i = 0; i < n; i++) sys.getpid(); console.log(JSON.stringify({ ms: Date.now() - t0, n }));`;

/** RECEIVER is a loopback OTLP collector run as its own process (as a real collector is): it counts the spans it is sent. */
const RECEIVER = `
const { createServer } = require('node:http');
let spans = 0;
const server = createServer((req, res) => {
  if (req.method === 'GET') return res.end(String(spans));
  let body = '';
  req.setEncoding('utf8').on('data', (c) => (body += c));
  req.on('end', () => { spans += body.split('"spanId"').length - 1; res.writeHead(200, { 'content-type': 'application/json' }).end('{}'); });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
`;

async function receiver(pinned: boolean): Promise<{ url: string; spans: () => Promise<number>; close(): void }> {
  // Pinned, the kernel has CPU 0: the collector (another machine's work, really) runs on CPU 1.
  const argv = pinned ? ['taskset', '-c', '1', process.execPath, '-e', RECEIVER] : [process.execPath, '-e', RECEIVER];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<string>((resolve, reject) => {
    child.stdout!.setEncoding('utf8').once('data', (line: string) => resolve(line.trim()));
    child.once('exit', (code) => reject(new Error(`the OTLP receiver exited (${code})`)));
  });
  const base = `http://127.0.0.1:${port}`;
  return { url: `${base}/v1/traces`, spans: async () => Number(await (await fetch(base)).text()), close: () => void child.kill() };
}

async function perCallUs(telemetry: OtelTelemetry | undefined): Promise<number> {
  const kernel = quietKernel({ policy: POLICY, ...(telemetry ? { telemetry } : {}) });
  try {
    const { result } = await runReporting<{ ms: number; n: number }>(kernel, LOOP);
    return (result.ms * 1000) / result.n;
  } finally {
    await kernel.shutdown();
  }
}

/** exportThread is the thread id of this process's telemetry export worker, once its thread has started and taken its name. */
async function exportThread(): Promise<string> {
  for (let tries = 0; tries < 100; tries++) {
    const tid = readdirSync('/proc/self/task').find((t) => readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim() === EXPORT_THREAD_NAME);
    if (tid !== undefined) return tid;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`no thread named ${EXPORT_THREAD_NAME} after 5 s`);
}

/** pinThread moves thread `tid` (only that thread) to `cpu`. */
function pinThread(tid: string, cpu: number): void {
  execFileSync('taskset', ['-p', '-c', String(cpu), tid], { stdio: 'ignore' });
}

/** threadCpuMs is thread `tid`'s CPU time so far (user + system), ms. */
function threadCpuMs(tid: string): number {
  const fields = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // utime and stime are fields 14 and 15 of stat, counted from the state (field 3) here; in clock ticks of 1/100 s.
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** measure runs the alternating rounds in this process and returns the figures. */
async function measure(rounds: number, log: BenchOptions['log'], pinned: boolean): Promise<Figure[]> {
  const sink = await receiver(pinned);
  const telemetry = new OtelTelemetry({ endpoint: sink.url, exportIntervalMs: 100, maxQueue: 65_536 });
  const off: number[] = [];
  const on: number[] = [];
  const oneCpu: number[] = [];
  let exported = 0;
  let exportCpuMs = 0;
  try {
    const tid = await exportThread();
    // One traced run first, so that the worker has loaded the exporter (a one-time cost) before its CPU time is counted.
    await perCallUs(telemetry);
    await telemetry.flush();
    const spans0 = await sink.spans();
    const cpu0 = threadCpuMs(tid);
    for (let r = 0; r < rounds; r++) {
      off.push(await perCallUs(undefined));
      if (pinned) pinThread(tid, 1);
      on.push(await perCallUs(telemetry));
      if (pinned) {
        pinThread(tid, 0);
        oneCpu.push(await perCallUs(telemetry));
      }
    }
    await telemetry.flush();
    exportCpuMs = threadCpuMs(tid) - cpu0;
    exported = (await sink.spans()) - spans0;
  } finally {
    await telemetry.shutdown();
    sink.close();
  }
  const ratios = on.map((v, i) => v / off[i]!);
  const added = on.map((v, i) => v - off[i]!);
  const where = pinned ? 'pinned: the kernel on CPU 0, the export worker and the collector on CPU 1' : 'unpinned (no taskset)';
  log(`telemetry (${where}): getpid ${spread(off, 1)} µs off, ${spread(on, 1)} µs on${pinned ? `, ${spread(oneCpu, 1)} µs on with the export worker on CPU 0 too` : ''}; ${exported} spans exported`);
  const figures: Figure[] = [
    { key: 'otel_overhead_ratio', value: median(ratios), unit: 'x', target: { op: '<=', bound: 1.3 }, note: `${where}; per round on/off: ${spread(ratios, 2)}; a decision is a whole SYS_GETPID from an agent (${median(off).toFixed(1)} µs off)` },
    { key: 'otel_added_us', value: median(added), unit: 'µs', note: `per decision, on − off per round (${where}): ${spread(added, 1)}` },
    { key: 'otel_export_us_per_span', value: (exportCpuMs * 1000) / Math.max(1, exported), unit: 'µs', note: `the export worker's CPU time (user + system) per span exported: encoding OTLP/HTTP JSON and sending it, off the decision path (${exportCpuMs} ms for ${exported} spans)` },
    { key: 'otel_spans_exported', value: exported, unit: 'spans', note: `${rounds} rounds × ${pinned ? 2 : 1} traced runs × ${CALLS + 300} decisions + lifetimes, received by a loopback collector in its own process after a warm-up run (a full queue drops spans, never a decision)` },
  ];
  if (pinned) {
    const one = oneCpu.map((v, i) => v / off[i]!);
    figures.splice(1, 0, { key: 'otel_overhead_ratio_one_cpu', value: median(one), unit: 'x', note: `the export worker on CPU 0 as well: tracing's whole CPU cost on the decision's core; per round: ${spread(one, 2)}` });
  }
  return figures;
}

export const telemetryBench: Bench = {
  name: 'telemetry',
  keys: ['otel_overhead_ratio', 'otel_overhead_ratio_one_cpu', 'otel_added_us', 'otel_export_us_per_span', 'otel_spans_exported'],
  async run({ rounds, log }: BenchOptions): Promise<Figure[]> {
    try {
      const out = await runScript(fileURLToPath(import.meta.url), [String(rounds)], { pinCpu: 0, timeoutMs: 600_000 });
      return JSON.parse(out.trim().split('\n').at(-1) ?? '[]') as Figure[];
    } catch (err) {
      log(`telemetry: pinned run failed (${err instanceof Error ? err.message.split('\n')[0] : String(err)}); measuring unpinned`);
      return measure(rounds, log, false);
    }
  },
};

// As a script (the pinned child): measure and print the figures as one JSON line.
if (import.meta.main) {
  const rounds = Number(process.argv[2]) || 7;
  console.log(JSON.stringify(await measure(rounds, (line) => void process.stderr.write(`# ${line}\n`), true)));
}
