/**
 * Flight recorder throughput: FileDecisionLog.record() on a realistic mix of
 * syscall records, into a temp file, until every record is written.
 *   60% allowed reads (SYS_READ of an fd, SYS_STAT of a path): buffered, group commit
 *   25% allowed writes (SYS_WRITE of 64 bytes, hashed for the digest): the
 *       buffer is written with write() when the action asks (beforeAction,
 *       as the dispatcher does), then the write's outcome record (ok, the
 *       result's size and digest) is recorded
 *   15% denies (SYS_OPEN for writing under /shared): buffered
 * Records per second count every record, outcomes included.
 * Default mode (group commit, fdatasync every 200 ms) and durable mode
 * (fdatasync before every record() returns).
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileDecisionLog } from '../kernel/recorder/file-log.ts';
import type { PolicyRequest } from '../abi/policy-request.ts';
import type { DecisionInput } from '../syscalls/records.ts';
import { prng } from './policy-set.ts';
import { type BenchOptions, type Figure, median, spread } from './stats.ts';

const POLICY = `sha256:${'ab'.repeat(32)}`;
const SAMPLE_MS = 250;

/** An agent's labels and capabilities, made once per agent as the kernel makes them once per process. */
const identities = new Map<string, { labels: Readonly<Record<string, string>>; capabilities: ReadonlySet<string> }>();
function identity(agentId: string): { labels: Readonly<Record<string, string>>; capabilities: ReadonlySet<string> } {
  let made = identities.get(agentId);
  // Labels as the kernel makes them (kernel/capabilities.ts Identity): frozen, with no prototype.
  if (made === undefined) identities.set(agentId, (made = { labels: Object.freeze(Object.assign(Object.create(null) as Record<string, string>, { team: `team-${agentId.slice(-1)}` })), capabilities: new Set(['vfs:/shared/data/**:r', 'tool:http.get']) }));
  return made;
}

/** recordMix builds `n` syscall records in the benchmark's proportions. */
export function recordMix(n: number, seed = 3): DecisionInput[] {
  const rand = prng(seed);
  const data = new Uint8Array(64).fill(97);
  const out: DecisionInput[] = [];
  for (let i = 0; i < n; i++) {
    const pid = 1 + Math.floor(rand() * 64);
    const agentId = `agent-${String(pid - 1).padStart(2, '0')}`;
    const r = rand();
    const base = { type: 'syscall' as const, pid, agentId, policyVersion: POLICY };
    // The question the policy was asked rides on each decision, as the authorizer gives it (kept as the record's req).
    const asked = (syscall: string, access: 'read' | 'write', args: Record<string, unknown>, path?: string): PolicyRequest => ({
      trust: 1000,
      tokens: 0,
      agentId,
      labels: identity(agentId).labels,
      capabilities: identity(agentId).capabilities,
      lineage: 'root',
      syscall,
      access,
      ...(path !== undefined ? { path } : {}),
      args,
    });
    if (r < 0.45) {
      const args = { fd: 3 + (i % 4), length: 65536 };
      out.push({ ...base, syscall: 'SYS_READ', access: 'read', effect: 'allow', rule: 'base-fds', reason: 'allowed by rule base-fds', args, asked: asked('SYS_READ', 'read', args) });
    } else if (r < 0.6) {
      const path = `/agent/${agentId}/mem/area-${String(i % 40).padStart(2, '0')}/f${i % 100}.md`;
      out.push({ ...base, syscall: 'SYS_STAT', access: 'read', effect: 'allow', rule: 'own-team-00-area-03', reason: 'allowed by rule own-team-00-area-03', path, args: { path }, asked: asked('SYS_STAT', 'read', { path }, path) });
    } else if (r < 0.85) {
      const args = { fd: 3 + (i % 4), data };
      out.push({ ...base, syscall: 'SYS_WRITE', access: 'write', effect: 'allow', rule: 'base-fds', reason: 'allowed by rule base-fds', args, asked: asked('SYS_WRITE', 'write', args) });
      out.push({ type: 'outcome', pid, agentId, syscall: 'SYS_WRITE', of: 0, result: 64 });
    } else {
      const path = `/shared/data/ds-${String(i % 40).padStart(2, '0')}/f${i % 100}.csv`;
      const args = { path, flags: 'w' };
      out.push({ ...base, syscall: 'SYS_OPEN', access: 'write', effect: 'deny', rule: `shared-ro-ds-${String(i % 40).padStart(2, '0')}`, reason: 'shared data is read-only', path, args, asked: asked('SYS_OPEN', 'write', args, path) });
    }
  }
  return out;
}

/** recordsPerSecond records `count` entries of `mix` into a fresh log and returns records/s, written included. */
function recordsPerSecond(dir: string, mix: readonly DecisionInput[], count: number, durable: boolean): { rate: number; cpuRate: number; bytes: number } {
  const file = join(dir, `log-${durable ? 'durable' : 'group'}.jsonl`);
  rmSync(file, { force: true });
  const log = new FileDecisionLog(file, { durable });
  try {
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    let decided = 0;
    for (let i = 0; i < count; i++) {
      const entry = mix[i % mix.length]!;
      // An allowed write's record is written before its action runs, and its outcome recorded once it has.
      if (entry.type === 'outcome') log.record({ ...entry, of: decided });
      else {
        decided = log.record(entry);
        if (entry.type === 'syscall' && entry.access === 'write' && entry.effect === 'allow') log.beforeAction(decided);
      }
    }
    log.flush();
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = process.cpuUsage(cpu0);
    if (log.count !== count) throw new Error(`recorder: ${log.count} records, expected ${count}`);
    return { rate: count / s, cpuRate: count / ((cpu.user + cpu.system) / 1e6), bytes: statSync(file).size };
  } finally {
    log.close();
  }
}

function sized(dir: string, mix: readonly DecisionInput[], durable: boolean): number {
  const probe = durable ? 50 : 50_000;
  const { rate } = recordsPerSecond(dir, mix, probe, durable);
  return Math.max(probe, Math.round((rate * SAMPLE_MS) / 1000));
}

export async function measureRecorder({ rounds, log }: BenchOptions): Promise<Figure[]> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-recorder-'));
  try {
    const mix = recordMix(4096);
    const n = sized(dir, mix, false);
    // All group-commit rounds first: a durable run's fdatasyncs would stall the writes of the next sample.
    const group: number[] = [];
    const groupCpu: number[] = [];
    const durable: number[] = [];
    let bytes = 0;
    for (let r = 0; r < rounds; r++) {
      const g = recordsPerSecond(dir, mix, n, false);
      group.push(g.rate);
      groupCpu.push(g.cpuRate);
      bytes = g.bytes / n;
      log(`recorder round ${r + 1}/${rounds}: group commit ${g.rate.toFixed(0)}/s (${n} records)`);
      await new Promise((resolve) => setImmediate(resolve));
    }
    const nDurable = sized(dir, mix, true);
    for (let r = 0; r < rounds; r++) {
      durable.push(recordsPerSecond(dir, mix, nDurable, true).rate);
      log(`recorder durable round ${r + 1}/${rounds}: ${durable.at(-1)!.toFixed(0)}/s (${nDurable} records)`);
    }
    return [
      { key: 'recorder_records_per_s', value: median(group), unit: 'rec/s', target: { op: '>=', bound: 200_000 }, note: `${spread(group)} samples of ${n} records (${bytes.toFixed(0)} bytes each; allowed writes written with write() before their action, each followed by its outcome record); per second of this process's CPU time ${median(groupCpu).toFixed(0)}` },
      { key: 'recorder_durable_records_per_s', value: median(durable), unit: 'rec/s', note: `${spread(durable)} samples of ${nDurable} records, fdatasync per record on ${tmpdir()}` },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
