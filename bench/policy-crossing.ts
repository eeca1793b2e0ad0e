/**
 * syscall_getpid with governance on: the same getpid loop agent as
 * bench/crossing.ts, in a Kernel that holds the 1,000-rule benchmark policy
 * (bench/policy-set.ts) and records every decision to a FileDecisionLog
 * (group commit) in a temp file. Measured like crossing: each round pairs a
 * bare async crossing loop with the governed getpid loop run right after it,
 * and the ratio is the median of those per-pair ratios. Also run as a script
 * pinned to one CPU (the `_1cpu` keys), like crossing1cpu.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LoadedPolicy } from '../kernel/policy/load.ts';
import { parsePolicy } from '../kernel/policy/load.ts';
import { FileDecisionLog } from '../kernel/recorder/file-log.ts';
import { BareIsolate, fastest, GETPID_AGENT } from './crossing.ts';
import { pdlDocument, ruleSpecs } from './policy-set.ts';
import { type BenchOptions, callsFor, type Figure, median, perCallNs, quietKernel, runReporting, runScript, spread } from './stats.ts';

const SAMPLE_MS = 250;

/** benchPolicy parses the 1,000-rule benchmark policy (once). */
export const benchPolicy: () => LoadedPolicy = (() => {
  let loaded: LoadedPolicy | undefined;
  return () => (loaded ??= parsePolicy(JSON.stringify(pdlDocument(ruleSpecs())), 'bench-1000-rules.json'));
})();

/** governedNsPerCall runs the getpid loop agent in a kernel with the benchmark policy and a fresh file log. */
async function governedNsPerCall(dir: string, n: number, sample: number): Promise<{ ns: number; records: number }> {
  const recorder = new FileDecisionLog(join(dir, `decisions-${sample}.jsonl`));
  const kernel = quietKernel({ policy: benchPolicy(), recorder });
  try {
    const { result } = await runReporting<{ ms: number; n: number }>(kernel, GETPID_AGENT, [String(n)]);
    return { ns: perCallNs(result.ms, result.n), records: recorder.count };
  } finally {
    await kernel.shutdown();
    recorder.close();
    rmSync(join(dir, `decisions-${sample}.jsonl`), { force: true });
  }
}

/** measureGovernedGetpid gives syscall_getpid_policy_log_ns and its per-pair ratio to the bare crossing. */
export async function measureGovernedGetpid({ rounds, log }: BenchOptions): Promise<Figure[]> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-policy-log-'));
  const bare = new BareIsolate();
  let sample = 0;
  try {
    const nAsync = callsFor(await fastest(() => bare.nsPerCall(2000, 'async')), SAMPLE_MS);
    const nAgent = callsFor(await fastest(async () => (await governedNsPerCall(dir, 2000, sample++)).ns), SAMPLE_MS);
    const bareNs: number[] = [];
    const agentNs: number[] = [];
    const ratios: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const a = await bare.nsPerCall(nAsync, 'async');
      const { ns: v, records } = await governedNsPerCall(dir, nAgent, sample++);
      // The log holds spawn, warm-up and loop getpids, the agent's one write, and exit.
      if (records < nAgent) throw new Error(`decision log holds ${records} records for ${nAgent} getpid calls`);
      bareNs.push(a);
      agentNs.push(v);
      ratios.push(v / a);
      log(`policy-log getpid round ${r + 1}/${rounds}: bare/governed ${a.toFixed(0)}/${v.toFixed(0)} ns, ${records} records`);
    }
    return [
      { key: 'syscall_getpid_policy_log_ns', value: median(agentNs), unit: 'ns', note: `${spread(agentNs)} samples; bare crossing in the same rounds ${median(bareNs).toFixed(0)} ns (${spread(bareNs)})` },
      { key: 'syscall_getpid_policy_log_over_bare', value: median(ratios), unit: 'x', target: { op: '<=', bound: 4 }, note: `median of per-pair ratios, ${spread(ratios, 2)}` },
    ];
  } finally {
    bare.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** pinnedKey names a figure from the one-CPU run, as crossing1cpu does. */
const pinnedKey = (key: string): string => (key.endsWith('_ns') ? `${key.slice(0, -3)}_1cpu_ns` : `${key}_1cpu`);

export const GOVERNED_KEYS = ['syscall_getpid_policy_log_ns', 'syscall_getpid_policy_log_over_bare'];
export const GOVERNED_PINNED_KEYS = GOVERNED_KEYS.map(pinnedKey);

/** measureGovernedGetpidPinned runs this file as a script pinned to CPU 0 (no figures without taskset). */
export async function measureGovernedGetpidPinned({ rounds, log }: BenchOptions): Promise<Figure[]> {
  let out: string;
  try {
    out = await runScript(fileURLToPath(import.meta.url), [String(rounds)], { pinCpu: 0 });
  } catch (err) {
    log(`policy-log getpid (1 CPU) skipped: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
    return [];
  }
  const figures = JSON.parse(out.trim().split('\n').at(-1) ?? '[]') as Figure[];
  return figures.map((f) => ({ ...f, key: pinnedKey(f.key) }));
}

if (import.meta.main) {
  const rounds = Number(process.argv[2]) || 7;
  const figures = await measureGovernedGetpid({ rounds, log: (line) => void process.stderr.write(`# [1cpu] ${line}\n`) });
  console.log(JSON.stringify(figures));
}
