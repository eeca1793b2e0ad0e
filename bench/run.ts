/**
 * `npm run bench [-- --only NAME] [-- --rounds N]`: runs the benchmarks, prints
 * a table (name, median, unit, target, pass/fail) and writes
 * bench/results/latest.json, one flat object of named figures. With --only,
 * the figures are merged into an existing latest.json. NAME is a benchmark
 * (crossing, crossing1cpu, spawn, memory, scale, policy, signals, exec, redis, service, cluster, audit, containment, userspace, package, telemetry, approvals, replay, record-run, policy-analysis, hosts, hostsScaling, idle10k), one of their keys, or a comma-separated
 * list. Targets are reported, never asserted: the exit status is always 0.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { approvalsBench } from './approvals.ts';
import { auditBench } from './audit.ts';
import { clusterBench } from './cluster.ts';
import { containmentBench } from './containment.ts';
import { crossingBench, crossingPinnedBench } from './crossing.ts';
import { execBench } from './exec.ts';
import { hostsBench, idleAgentsBench } from './hosts.ts';
import { memoryBench } from './memory.ts';
import { packageBench } from './package.ts';
import { redisBench } from './redis.ts';
import { recordRunBench } from './record-run.ts';
import { replayBench } from './replay.ts';
import { policyAnalysisBench } from './policy-analysis.ts';
import { policyBench } from './policy.ts';
import { scaleBench } from './scale.ts';
import { hostsScalingBench } from './hosts-scaling.ts';
import { serviceBench } from './service.ts';
import { signalsBench } from './signals.ts';
import { spawnBench } from './spawn.ts';
import { telemetryBench } from './telemetry.ts';
import { userspaceBench } from './userspace.ts';
import { type Bench, describeTarget, type Figure, passes } from './stats.ts';

const BENCHES: readonly Bench[] = [crossingBench, crossingPinnedBench, spawnBench, memoryBench, scaleBench, policyBench, signalsBench, execBench, redisBench, serviceBench, clusterBench, auditBench, containmentBench, userspaceBench, packageBench, telemetryBench, approvalsBench, replayBench, recordRunBench, policyAnalysisBench, hostsBench, hostsScalingBench, idleAgentsBench];
const RESULTS_DIR = new URL('./results/', import.meta.url);
const LATEST = new URL('latest.json', RESULTS_DIR);

const log = (line: string): void => void process.stderr.write(`# ${line}\n`);

function usage(): string {
  return `usage: npm run bench [-- --only NAME] [-- --rounds N]\nNAME: ${BENCHES.map((b) => `${b.name} (${b.keys.join(', ')})`).join('; ')}`;
}

function pick(only: string | undefined): readonly Bench[] {
  if (only === undefined) return BENCHES;
  const names = only.split(',').map((s) => s.trim());
  const chosen = BENCHES.filter((b) => names.some((n) => n === b.name || b.keys.includes(n)));
  if (chosen.length === 0) throw new Error(`no benchmark named ${only}\n${usage()}`);
  return chosen;
}

function format(value: number | boolean): string {
  if (typeof value === 'boolean') return String(value);
  if (!Number.isFinite(value) || Number.isInteger(value)) return String(value);
  const abs = Math.abs(value);
  if (abs >= 1000) return value.toFixed(0);
  if (abs >= 100) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  return value.toFixed(3);
}

function table(figures: readonly Figure[], failed: readonly string[]): string {
  const rows = [['name', 'median', 'unit', 'target', 'result']];
  for (const f of figures) {
    const ok = passes(f.value, f.target);
    rows.push([f.key, format(f.value), f.unit, describeTarget(f.target), ok === undefined ? '' : ok ? 'pass' : 'FAIL']);
  }
  for (const name of failed) rows.push([name, 'error', '', '', 'FAIL']);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => r.map((cell, i) => (i === 1 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

function readLatest(): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(readFileSync(LATEST, 'utf8'));
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function writeLatest(figures: readonly Figure[], merge: boolean): void {
  const out: Record<string, unknown> = merge ? readLatest() : {};
  for (const f of figures) out[f.key] = typeof f.value === 'number' ? Number(f.value.toPrecision(6)) : f.value;
  mkdirSync(RESULTS_DIR, { recursive: true });
  const tmp = new URL(`latest.json.${process.pid}.tmp`, RESULTS_DIR);
  writeFileSync(tmp, `${JSON.stringify(out, null, 2)}\n`);
  renameSync(tmp, LATEST);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { only: { type: 'string' }, rounds: { type: 'string', default: '7' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  if (values.help) {
    console.log(usage());
    return;
  }
  const rounds = Math.max(1, Number.parseInt(values.rounds, 10) || 7);
  const chosen = pick(values.only);
  if ((globalThis as { gc?: unknown }).gc === undefined) log('run with --expose-gc (npm run bench does) for steadier memory figures');
  log(`node ${process.version}, ${rounds} rounds, benchmarks: ${chosen.map((b) => b.name).join(', ')}`);

  const figures: Figure[] = [];
  const failed: string[] = [];
  const started = Date.now();
  for (const bench of chosen) {
    const t0 = Date.now();
    try {
      figures.push(...(await bench.run({ rounds, log })));
      log(`${bench.name} done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    } catch (err) {
      failed.push(bench.name);
      log(`${bench.name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    }
  }

  console.log(`\n${table(figures, failed)}\n`);
  for (const f of figures) if (f.note) console.log(`  ${f.key}: ${f.note}`);
  writeLatest(figures, values.only !== undefined);
  console.log(`\nwrote ${LATEST.pathname} in ${((Date.now() - started) / 1000).toFixed(0)} s total`);
}

main()
  .catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
  })
  .finally(() => {
    // Targets are reported, not asserted.
    process.exitCode = 0;
  });
