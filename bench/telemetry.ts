/**
 * telemetry: what OpenTelemetry tracing costs a decision.
 * - otel_overhead_ratio: an agent's SYS_GETPID loop (decode, policy, record,
 *   handler: the whole decision path) in a kernel with tracing on (a span per
 *   decision inside the agent's lifetime span, batched OTLP/HTTP export by a
 *   worker thread to a loopback collector in its own process) over the same
 *   loop in a kernel with tracing off, alternating rounds in one run, in a
 *   child process pinned to one CPU with taskset: every thread's work
 *   (isolate, event loop, export worker) then shares that CPU and counts, and
 *   idle-CPU wake-ups (which swing unpinned figures 2x from round to round on
 *   this VM, see bench/README.md) do not decide it. The median of per-round
 *   ratios. Unpinned where taskset is missing (the note says which).
 * - otel_added_us: what tracing adds per decision, µs (on − off, median of
 *   rounds), the absolute figure behind the ratio; and the spans the receiver
 *   got, so the figure is of spans really exported.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parsePolicy } from '../kernel/policy/load.ts';
import { OtelTelemetry } from '../kernel/telemetry/otel.ts';
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

/** measure runs the alternating rounds in this process and returns the figures. */
async function measure(rounds: number, log: BenchOptions['log'], pinned: boolean): Promise<Figure[]> {
  const sink = await receiver(pinned);
  const telemetry = new OtelTelemetry({ endpoint: sink.url, exportIntervalMs: 100, maxQueue: 65_536 });
  const on: number[] = [];
  const off: number[] = [];
  let exported = 0;
  try {
    for (let r = 0; r < rounds; r++) {
      off.push(await perCallUs(undefined));
      on.push(await perCallUs(telemetry));
    }
    await telemetry.flush();
    exported = await sink.spans();
  } finally {
    await telemetry.shutdown();
    sink.close();
  }
  const ratios = on.map((v, i) => v / off[i]!);
  const added = on.map((v, i) => v - off[i]!);
  const where = pinned ? 'pinned to one CPU' : 'unpinned (no taskset)';
  log(`telemetry (${where}): getpid ${spread(off, 1)} µs off, ${spread(on, 1)} µs on; ${exported} spans exported`);
  return [
    { key: 'otel_overhead_ratio', value: median(ratios), unit: 'x', target: { op: '<=', bound: 1.3 }, note: `${where}; per round on/off: ${spread(ratios, 2)}; a decision is a whole SYS_GETPID from an agent (${median(off).toFixed(1)} µs off)` },
    { key: 'otel_added_us', value: median(added), unit: 'µs', note: `per decision, on − off per round (${where}): ${spread(added, 1)}` },
    { key: 'otel_spans_exported', value: exported, unit: 'spans', note: `${rounds} rounds × ${CALLS + 300} decisions + lifetimes, received by a loopback collector in its own process (a full queue drops spans, never a decision)` },
  ];
}

export const telemetryBench: Bench = {
  name: 'telemetry',
  keys: ['otel_overhead_ratio', 'otel_added_us', 'otel_spans_exported'],
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
