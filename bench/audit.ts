/**
 * Verifying a large decision log: about 1 GiB of real hash-chained records
 * (bench/recorder.ts's mix, written by FileDecisionLog in group commit mode
 * with 64 MiB segments, as agentd writes them) on the temp directory, then
 * `verifyLogFile` over every segment, streaming, in a fresh process per
 * round: MB/s and the peak RSS it adds (flat memory: far below the file).
 * Then the same verify in a worker thread as agentd runs it (LogScans),
 * with the longest event-loop delay the main thread saw meanwhile. The log
 * is deleted afterwards. Run as a script (`node bench/audit.ts verify LOG`)
 * it verifies LOG once and prints one JSON line.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { FileDecisionLog } from '../kernel/recorder/file-log.ts';
import { listSegments } from '../kernel/recorder/segments.ts';
import { verifyLogFile } from '../kernel/recorder/verify-file.ts';
import { LogScans } from '../kernel/service/log-scans.ts';
import { recordMix } from './recorder.ts';
import { type Bench, type BenchOptions, type Figure, median, runScript, spread } from './stats.ts';

const TARGET_BYTES = 1 << 30;
const SEGMENT_BYTES = 64 << 20;
const MB = 1e6;
const MIB = 1 << 20;

interface VerifyRun {
  readonly ok: boolean;
  readonly records: number;
  readonly segments: number;
  readonly bytes: number;
  readonly ms: number;
  /** Peak RSS of the process minus its RSS just before verifying, MiB. */
  readonly rssGrowthMib: number;
}

/** logBytes sums the sizes of the log's segments. */
function logBytes(base: string): number {
  return listSegments(base).reduce((sum, s) => sum + statSync(s.path).size, 0);
}

/** generate writes records until the log at `base` holds TARGET_BYTES; returns MB/s written. */
function generate(base: string): { records: number; mbPerS: number } {
  const mix = recordMix(4096);
  const log = new FileDecisionLog(base, { segmentBytes: SEGMENT_BYTES });
  const t0 = process.hrtime.bigint();
  let n = 0;
  try {
    for (;;) {
      for (let i = 0; i < 100_000; i++) log.record(mix[n++ % mix.length]!);
      log.flush();
      if (logBytes(base) >= TARGET_BYTES) break;
    }
  } finally {
    log.close();
  }
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  return { records: n, mbPerS: logBytes(base) / MB / s };
}

/**
 * peakRss resets (Linux: clear_refs 5) or reads this process's peak RSS
 * (VmHWM), in bytes. getrusage's maxRSS will not do: a child inherits its
 * parent's at fork, so after a big benchmark it reports the parent's peak.
 */
function peakRss(reset = false): number {
  if (reset) writeFileSync('/proc/self/clear_refs', '5');
  const kib = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  return Number(kib ?? Number.NaN) * 1024;
}

/** verifyOnce verifies the log at `base` in this process (the child's work). */
function verifyOnce(base: string): VerifyRun {
  const bytes = logBytes(base);
  const rss0 = process.memoryUsage.rss();
  peakRss(true);
  const t0 = process.hrtime.bigint();
  const result = verifyLogFile(base);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const peak = peakRss();
  return { ok: result.ok, records: result.records, segments: result.segments, bytes, ms, rssGrowthMib: (peak - rss0) / MIB };
}

/** inWorker verifies through LogScans (agentd's path) and samples the main thread's event-loop delay meanwhile. */
async function inWorker(base: string): Promise<{ ms: number; maxDelayMs: number; ok: boolean }> {
  const scans = new LogScans();
  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  try {
    const t0 = process.hrtime.bigint();
    const result = await scans.run({ op: 'verify', base });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    return { ms, maxDelayMs: delay.max / 1e6, ok: result.ok };
  } finally {
    delay.disable();
    await scans.close();
  }
}

export async function measureAudit({ rounds, log }: BenchOptions): Promise<Figure[]> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-audit-'));
  const base = join(dir, 'decisions.jsonl');
  try {
    const written = generate(base);
    const bytes = logBytes(base);
    log(`audit: wrote ${(bytes / MIB).toFixed(0)} MiB, ${written.records} records in ${listSegments(base).length} segments at ${written.mbPerS.toFixed(0)} MB/s`);
    const runs: VerifyRun[] = [];
    for (let r = 0; r < Math.min(rounds, 3); r++) {
      const out = await runScript(fileURLToPath(import.meta.url), ['verify', base], { timeoutMs: 120_000 });
      const run = JSON.parse(out.trim().split('\n').at(-1)!) as VerifyRun;
      if (!run.ok || run.records !== written.records) throw new Error(`audit: the log did not verify: ${out}`);
      runs.push(run);
      log(`audit round ${r + 1}: ${(run.bytes / MB / (run.ms / 1000)).toFixed(0)} MB/s, peak RSS +${run.rssGrowthMib.toFixed(0)} MiB`);
    }
    const worker = await inWorker(base);
    if (!worker.ok) throw new Error('audit: the log did not verify in the worker');
    log(`audit in a worker: ${(bytes / MB / (worker.ms / 1000)).toFixed(0)} MB/s, longest event-loop delay ${worker.maxDelayMs.toFixed(1)} ms`);
    const rates = runs.map((r) => r.bytes / MB / (r.ms / 1000));
    const growth = runs.map((r) => r.rssGrowthMib);
    const where = `${(bytes / MIB).toFixed(0)} MiB, ${written.records} records, ${runs[0]!.segments} segments of 64 MiB on ${tmpdir()} (in the page cache)`;
    return [
      { key: 'audit_verify_mb_per_s', value: median(rates), unit: 'MB/s', target: { op: '>=', bound: 100 }, note: `${spread(rates)} rounds, each a fresh process verifying ${where}; written by FileDecisionLog at ${written.mbPerS.toFixed(0)} MB/s` },
      { key: 'audit_verify_rss_mib', value: median(growth), unit: 'MiB', target: { op: '<=', bound: 128 }, note: `peak RSS over the RSS before verifying, ${spread(growth)} rounds, for a ${(bytes / MIB).toFixed(0)} MiB log` },
      { key: 'audit_verify_worker_max_delay_ms', value: worker.maxDelayMs, unit: 'ms', target: { op: '<=', bound: 50 }, note: `the same verify in a worker thread (LogScans, as agentd runs it) at ${(bytes / MB / (worker.ms / 1000)).toFixed(0)} MB/s: the longest event-loop delay of the main thread meanwhile (monitorEventLoopDelay, 5 ms resolution)` },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export const auditBench: Bench = { name: 'audit', keys: ['audit_verify_mb_per_s', 'audit_verify_rss_mib', 'audit_verify_worker_max_delay_ms'], run: measureAudit };

if (import.meta.main) {
  const [what, base] = process.argv.slice(2);
  if (what !== 'verify' || base === undefined) throw new Error('usage: node bench/audit.ts verify LOG');
  process.stdout.write(`${JSON.stringify(verifyOnce(base))}\n`);
}
