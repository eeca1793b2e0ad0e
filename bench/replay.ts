/**
 * Replay throughput (`agentctl replay`, kernel/replay): a file decision log
 * of the 1,000-rule benchmark policy's requests — decided by the engine,
 * recorded by FileDecisionLog with the question each decision answered
 * (req), an outcome after every allowed write, one record every
 * millisecond — re-decided from the file under a candidate policy: read in
 * chunks, parsed, the chain followed, each request rebuilt and decided with
 * limits counted. Records per second count every record read. Two
 * candidates in the same rounds: the policy that wrote the log (nothing
 * changes) and the same with one more deny rule (some decisions change).
 * Each candidate replays in a worker thread of its own (replay-worker.ts),
 * as `agentctl replay` runs in a process of its own: in the bench's own
 * thread, after the policy benchmarks, the engine's code has already met
 * every other benchmark's request shapes, which no replay process has.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { PolicyEngine } from '../kernel/policy/engine.ts';
import { parsePolicy, type LoadedPolicy } from '../kernel/policy/load.ts';
import type { PolicyRequest } from '../abi/policy-request.ts';
import { FileDecisionLog } from '../kernel/recorder/file-log.ts';
import { Replayer } from '../kernel/replay/replay.ts';
import { replayFile } from '../kernel/replay/sources.ts';
import { benchPolicy } from './policy-crossing.ts';
import { pdlDocument, policyRequest, requestSpecs, ruleSpecs } from './policy-set.ts';
import { type Bench, type BenchOptions, type Figure, median, spread } from './stats.ts';

const DECISIONS = 100_000;
const START = Date.UTC(2026, 0, 5, 9, 0, 0);

/** writeLog records DECISIONS decisions of the benchmark policy (and the outcomes of allowed writes) into `file`: the number of records. */
function writeLog(file: string, policy: LoadedPolicy): number {
  let now = START;
  const engine = new PolicyEngine(policy, () => now);
  const log = new FileDecisionLog(file, { clock: () => now });
  const capabilities = new Map<string, ReadonlySet<string>>();
  try {
    for (const spec of requestSpecs(DECISIONS, 7)) {
      now++;
      const base = policyRequest(spec);
      // One capability set per agent, as a process has.
      let caps = capabilities.get(spec.agent);
      if (caps === undefined) capabilities.set(spec.agent, (caps = new Set(['tool:http.get', 'tool:shell.run', 'vfs:/shared/data/**:r'])));
      const request: PolicyRequest = { ...base, capabilities: caps, trust: 1000, tokens: 0, lineage: 'root' };
      const d = engine.decide(request);
      const seq = log.record({ type: 'syscall', pid: 1, agentId: request.agentId, syscall: request.syscall, access: request.access ?? 'none', effect: d.effect, rule: d.rule, reason: d.reason, policyVersion: d.policyVersion, path: request.path, args: request.args, asked: request });
      if (d.effect === 'allow' && request.access === 'write') log.record({ type: 'outcome', pid: 1, agentId: request.agentId, syscall: request.syscall, of: seq, result: 0 });
    }
    log.flush();
    return log.count;
  } finally {
    log.close();
  }
}

/** The policy a replay job is decided under: the one that wrote the log, or a candidate with one more deny rule (made in each thread from the same generator). */
export type ReplayPolicy = 'written' | 'candidate';

/** A replay for replay-worker.ts to run. */
export interface ReplayJob {
  readonly file: string;
  readonly policy: ReplayPolicy;
  readonly records: number;
}

export const replayPolicy: (which: ReplayPolicy) => LoadedPolicy = (() => {
  let candidate: LoadedPolicy | undefined;
  return (which) => {
    if (which === 'written') return benchPolicy();
    const doc = pdlDocument(ruleSpecs());
    return (candidate ??= parsePolicy(JSON.stringify({ ...doc, rules: [{ id: 'candidate-no-shell', effect: 'deny', syscalls: ['SYS_EXEC'], tools: ['shell.run'] }, ...doc.rules] }), 'candidate.json'));
  };
})();

/** replayRate replays `file` under `policy` and says how fast (records/s) and how many decisions changed. */
export function replayRate(file: string, policy: LoadedPolicy, records: number): { rate: number; changed: number } {
  const replayer = new Replayer(policy);
  const t0 = process.hrtime.bigint();
  replayFile(file, replayer);
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  const summary = replayer.summary();
  if (summary.records !== records) throw new Error(`replay read ${summary.records} records, the log holds ${records}`);
  return { rate: records / s, changed: summary.changed };
}

async function measureReplay({ rounds, log }: BenchOptions): Promise<Figure[]> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-replay-'));
  const workers = new ReplayThreads();
  try {
    const file = join(dir, 'decisions.jsonl');
    const records = writeLog(file, benchPolicy());
    const bytes = statSync(file).size / records;
    const same: number[] = [];
    const changed: number[] = [];
    let changes = 0;
    for (let r = 0; r < rounds; r++) {
      const a = await workers.run({ file, policy: 'written', records });
      const b = await workers.run({ file, policy: 'candidate', records });
      if (a.changed !== 0) throw new Error(`replay under the policy that wrote the log changed ${a.changed} decisions`);
      same.push(a.rate);
      changed.push(b.rate);
      changes = b.changed;
      log(`replay round ${r + 1}/${rounds}: ${a.rate.toFixed(0)} records/s under the policy that wrote it, ${b.rate.toFixed(0)} under a candidate (${b.changed} changes)`);
      await new Promise((resolve) => setImmediate(resolve));
    }
    return [
      { key: 'replay_records_per_s', value: median(same), unit: 'rec/s', target: { op: '>=', bound: 200_000 }, note: `${spread(same)}: replays, each in a thread of its own, of a ${records}-record log (${DECISIONS} decisions of the 1,000-rule policy, ${bytes.toFixed(0)} bytes a record, ${(statSync(file).size / 2 ** 20).toFixed(0)} MiB) under the policy that wrote it: read, chain followed, each decision's fields cut out and its req parsed, re-decided with limits; under a candidate with one more deny rule (${changes} decisions change) ${median(changed).toFixed(0)}/s (${spread(changed)})` },
    ];
  } finally {
    await workers.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** ReplayThreads keeps one worker thread per policy, each running its replays one at a time. */
class ReplayThreads {
  private readonly threads = new Map<ReplayPolicy, Worker>();

  async run(job: ReplayJob): Promise<{ rate: number; changed: number }> {
    let worker = this.threads.get(job.policy);
    if (worker === undefined) this.threads.set(job.policy, (worker = new Worker(new URL('./replay-worker.ts', import.meta.url))));
    const answer = once(worker, 'message') as Promise<[{ ok: true; value: { rate: number; changed: number } } | { ok: false; error: string }]>;
    // oxlint-disable-next-line unicorn/require-post-message-target-origin -- a worker_threads Worker, not window.postMessage
    worker.postMessage(job);
    const [reply] = await answer;
    if (!reply.ok) throw new Error(`replay worker: ${reply.error}`);
    return reply.value;
  }

  async close(): Promise<void> {
    await Promise.all([...this.threads.values()].map((w) => w.terminate()));
  }
}

export const replayBench: Bench = {
  name: 'replay',
  keys: ['replay_records_per_s'],
  run: measureReplay,
};
