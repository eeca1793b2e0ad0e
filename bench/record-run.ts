/**
 * Replayable runs (kernel/run-tape): what recording costs a syscall, and a
 * replay against a run.
 *
 * record_run_overhead_us: what recording adds to one syscall in ring 0 —
 * the RecordingTape's work for a call (its arguments and reply written as a
 * tape line, queued, written to the file in batches), timed directly over
 * rounds of 100,000 calls. Cross-checked end to end: one program (N rounds
 * of SYS_GETPID and a 16-byte SYS_WRITE to a VFS file) run in an embedded
 * kernel with and without a recording, alternating in the same rounds, in a
 * child pinned to one CPU; the paired differences of the kernel thread's CPU
 * time and of wall time a syscall are in the note (the isolate crossing's
 * hand-over swings a syscall by more than the whole figure).
 *
 * replay_run_over_original: a program shaped like an agent — 250 rounds of
 * the loop's calls, then 20 timers of 5 ms and 20 blocking calls of a 5 ms
 * tool — recorded, then replayed from its tape (same run): a replay feeds
 * timers and tool results, so it is at least as fast as the original (≤ 1).
 * A syscall-bound replay (the overhead loop's tape) is reported beside it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryDecisionLog } from '../kernel/decision-log.ts';
import { parsePolicy } from '../kernel/policy/load.ts';
import { Kernel } from '../kernel/kernel.ts';
import { programFromSource, type Program } from '../kernel/program.ts';
import { RecordingTape } from '../kernel/run-tape/boundary-tape.ts';
import { DecisionKeeper, recordRun } from '../kernel/run-tape/record-run.ts';
import { observed } from '../kernel/recorder/observed.ts';
import type { DecisionInput } from '../syscalls/records.ts';
import { replayRun } from '../kernel/run-tape/replay-run.ts';
import { TapeWriter } from '../kernel/run-tape/tape-file.ts';
import { readTape } from '../kernel/run-tape/tape-read.ts';
import { ToolRegistry } from '../kernel/tools/registry.ts';
import { fileURLToPath } from 'node:url';
import { type Bench, type BenchOptions, type Figure, median, nowNs, runScript, spread } from './stats.ts';

const N = 4000;
const SYSCALLS = 2 * N + 2;
const loop = (n: number): string => `const fd = sys.open('bench.txt', 'w');
for (let i = 0; i < ${n}; i++) { sys.getpid(); sys.write(fd, 'sixteen bytes..\\n'); }
sys.close(fd);`;
const LOOP = loop(N);
/** The replayed program: an agent's shape, a few hundred syscalls between waits on timers and a tool. */
const AGENT_LIKE = `${loop(250)}
for (let i = 0; i < 20; i++) { await new Promise((r) => setTimeout(r, 5)); sys.exec('bench.sleep', {}); }`;

/** A policy that lets the bench programs do what they do. */
const POLICY = parsePolicy('version: 1\nrules:\n  - { id: all, effect: allow, syscalls: ["*"] }\n', 'bench.yaml');

/** runOnce spawns `program` in a fresh kernel (recorded into `dir`, if given), and resolves with its wall time, ms; `cpu` gets the main thread's CPU time over it, µs. */
async function runOnce(program: Program, dir?: string, tools?: ToolRegistry, cpu?: (us: number) => void): Promise<number> {
  const manifest = { capabilities: ['tool:bench.sleep'] };
  const recording = dir === undefined ? undefined : recordRun(dir, program, { path: program.filename, argv: [], manifest, policyVersion: POLICY.version, policySource: POLICY.source });
  // As agentctl run --record: the policy's decisions go on the tape too.
  const log = new MemoryDecisionLog();
  const recorder = recording === undefined ? log : observed(log, (entry) => recording.decided(entry));
  const kernel = new Kernel({ policy: POLICY, recorder, stdout: () => {}, stderr: () => {}, ...(tools ? { tools } : {}) });
  const t0 = nowNs();
  const cpu0 = process.threadCpuUsage();
  const pid = kernel.spawn(program, { manifest, ...recording?.spawn }).pid;
  const end = await kernel.wait(pid);
  recording?.close(end);
  const used = process.threadCpuUsage(cpu0);
  const ms = Number(nowNs() - t0) / 1e6;
  cpu?.(used.user + used.system);
  await kernel.shutdown();
  if (end.status !== 0) throw new Error(`the bench program ended with status ${end.status}: ${JSON.stringify(end.reason)}`);
  return ms;
}

/** Overhead is the recording's cost a syscall, from paired rounds (µs), with what it is made of. */
interface Overhead {
  /** Paired differences of the kernel thread's CPU time a syscall (the figure), and of wall time a syscall. */
  readonly diffs: number[];
  readonly wallDiffs: number[];
  /** The kernel thread's CPU time a syscall, plain. */
  readonly kernelCpu: number[];
  readonly plain: number[];
  readonly recorded: number[];
  readonly loopReplays: number[];
  readonly pinned: boolean;
}

/** measureOverhead runs the loop plain and recorded in alternating rounds, then replays the loop's tapes. */
async function measureOverhead(rounds: number, log: (line: string) => void, pinned: boolean): Promise<Overhead> {
  const root = mkdtempSync(join(tmpdir(), 'bench-record-run-'));
  try {
    const loopProgram = programFromSource('record-bench.js', LOOP);
    await runOnce(loopProgram);
    await runOnce(loopProgram, join(root, 'warm'));
    const diffs: number[] = [];
    const wallDiffs: number[] = [];
    const kernelCpu: number[] = [];
    const plain: number[] = [];
    const recorded: number[] = [];
    for (let r = 0; r < rounds; r++) {
      let cpuA = 0;
      let cpuB = 0;
      const a = await runOnce(loopProgram, undefined, undefined, (us) => void (cpuA = us));
      const b = await runOnce(loopProgram, join(root, `r${r}`), undefined, (us) => void (cpuB = us));
      plain.push((a * 1000) / SYSCALLS);
      recorded.push((b * 1000) / SYSCALLS);
      wallDiffs.push(((b - a) * 1000) / SYSCALLS);
      diffs.push((cpuB - cpuA) / SYSCALLS);
      kernelCpu.push(cpuA / SYSCALLS);
      log(`record-run round ${r + 1}/${rounds}: ${((a * 1000) / SYSCALLS).toFixed(2)} µs a syscall plain, ${((b * 1000) / SYSCALLS).toFixed(2)} recorded; the kernel's thread ${(cpuA / SYSCALLS).toFixed(2)} µs of CPU a syscall plain, ${(cpuB / SYSCALLS).toFixed(2)} recorded`);
    }
    // A syscall-bound run (the loop, no waits) replayed from its tapes: about the crossing's cost either way.
    const loopReplays: number[] = [];
    for (let r = 0; r < Math.min(rounds, 5); r++) {
      const t0 = nowNs();
      const replayed = await replayRun({ tape: readTape(join(root, `r${r}`)), program: loopProgram, stdout: () => {}, stderr: () => {} });
      if (replayed.divergence !== undefined) throw new Error(`the loop replay diverged: ${JSON.stringify(replayed.divergence)}`);
      loopReplays.push(Number(nowNs() - t0) / 1e3 / SYSCALLS);
    }
    return { diffs, wallDiffs, kernelCpu, plain, recorded, loopReplays, pinned };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** overhead measures in a child pinned to one CPU (the crossing's idle-CPU wake-up swings unpinned runs by tens of µs a call), or here without taskset. */
async function overhead(rounds: number, log: (line: string) => void): Promise<Overhead> {
  try {
    const out = await runScript(fileURLToPath(import.meta.url), [String(rounds)], { pinCpu: 0 });
    return JSON.parse(out.trim().split('\n').at(-1)!) as Overhead;
  } catch (err) {
    log(`record-run: unpinned (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`);
    return measureOverhead(rounds, log, false);
  }
}

async function measure({ rounds, log }: BenchOptions): Promise<Figure[]> {
  const o = await overhead(rounds, log);
  const root = mkdtempSync(join(tmpdir(), 'bench-replay-run-'));
  try {
    // What recording adds to each syscall in ring 0, timed directly: the same calls through a RecordingTape, no isolate.
    const direct = tapeCost(join(root, 'direct'), rounds);
    const slow = programFromSource('replay-bench.js', AGENT_LIKE);
    const originals: number[] = [];
    const replays: number[] = [];
    for (let r = 0; r < Math.min(rounds, 5); r++) {
      const dir = join(root, `replay${r}`);
      originals.push(await runOnce(slow, dir, sleepTools()));
      const t1 = nowNs();
      const replayed = await replayRun({ tape: readTape(dir), program: slow, tools: sleepTools(), stdout: () => {}, stderr: () => {} });
      replays.push(Number(nowNs() - t1) / 1e6);
      if (replayed.divergence !== undefined) throw new Error(`the bench replay diverged: ${JSON.stringify(replayed.divergence)}`);
      log(`replay round ${r + 1}: original ${originals.at(-1)!.toFixed(1)} ms, replay ${replays.at(-1)!.toFixed(1)} ms`);
    }
    const ratios = replays.map((v, i) => v / originals[i]!);
    const where = o.pinned ? 'pinned to one CPU' : 'unpinned';
    return [
      { key: 'record_run_overhead_us', value: median(direct), unit: 'µs', target: { op: '<=', bound: 3 }, note: `${spread(direct, 2)}: what recording adds to a syscall in ring 0 — the policy's decision looked at (kept when it says something new of the agent's trust or tokens), the call's line written in two parts (arguments, then reply), queued, written to the tape file in batches — timed directly over rounds of 100,000 calls (a getpid and a 16-byte write); end to end, ${where}, recorded − plain runs of the same ${SYSCALLS}-syscall program in paired rounds: kernel-thread CPU ${median(o.diffs).toFixed(2)} µs a syscall (${spread(o.diffs, 2)}; plain ${median(o.kernelCpu).toFixed(2)}), wall ${median(o.wallDiffs).toFixed(2)} (${spread(o.wallDiffs, 2)}), against a syscall of ${median(o.plain).toFixed(2)} µs (${spread(o.plain, 2)}): the crossing's swing is larger than the figure` },
      { key: 'replay_run_over_original', value: median(ratios), unit: '×', target: { op: '<=', bound: 1 }, note: `${spread(ratios, 2)}: spawn to end of a replay ÷ the original run (502 syscalls, 20 timers of 5 ms, 20 calls of a 5 ms tool); original ${median(originals).toFixed(1)} ms, replay ${median(replays).toFixed(1)} ms (its tape read, kernel start and policy load included); a syscall-bound run replayed (the overhead loop, ${where}): ${median(o.loopReplays).toFixed(1)} µs a syscall (${spread(o.loopReplays, 1)}) against ${median(o.recorded).toFixed(1)} recorded and ${median(o.plain).toFixed(1)} plain` },
    ];
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** tapeCost is the tape's own work for one recorded call (a getpid and a 16-byte write, as in the loop: each call's decision, then its line), µs: the median of `rounds` rounds of 100,000 calls. */
function tapeCost(dir: string, rounds: number): number[] {
  const data = new TextEncoder().encode('sixteen bytes..\n');
  const calls = 100_000;
  const out: number[] = [];
  const capabilities = new Set(['tool:bench.sleep']);
  const asked = (syscall: string, access: 'read' | 'write', args: Record<string, unknown>): DecisionInput => ({ type: 'syscall', pid: 1, agentId: 'agent-1', syscall, access, effect: 'allow', rule: 'all', reason: 'allowed by rule all', args, asked: { agentId: 'agent-1', labels: {}, capabilities, lineage: 'root', syscall, access, args, trust: 1000, tokens: 0 } });
  const getpid = asked('SYS_GETPID', 'read', {});
  const write = asked('SYS_WRITE', 'write', { fd: 3, data });
  for (let r = 0; r < rounds + 1; r++) {
    const writer = new TapeWriter(join(dir, String(r)), 'version: 1\nrules: []\n');
    const tape = new RecordingTape(writer);
    const keeper = new DecisionKeeper(1);
    const decided = (entry: DecisionInput) => {
      const event = keeper.keep(entry, Date.now());
      if (event !== undefined) tape.decision(event);
    };
    const t0 = nowNs();
    for (let i = 0; i < calls / 2; i++) {
      decided(getpid);
      tape.call('blocking', 0, 8, []).answered({ t: 'value', v: 1 });
      decided(write);
      tape.call('blocking', 0, 1, [3, data]).answered({ t: 'value', v: 16 });
    }
    writer.close({ k: 'x', status: 0, reason: 'exit' });
    // The first round warms the JIT up.
    if (r > 0) out.push(Number(nowNs() - t0) / 1e3 / calls);
  }
  return out;
}

/** sleepTools holds `bench.sleep`, a tool that answers after 5 ms. */
function sleepTools(): ToolRegistry {
  const tools = new ToolRegistry();
  tools.register({ name: 'bench.sleep', description: 'answers after 5 ms', inputSchema: { type: 'object' }, risk: 'low', timeoutMs: 1000, maxOutputBytes: 64, source: 'builtin', run: () => new Promise((resolve) => setTimeout(() => resolve('slept'), 5)) });
  return tools;
}

export const recordRunBench: Bench = {
  name: 'record-run',
  keys: ['record_run_overhead_us', 'replay_run_over_original'],
  run: measure,
};

// As a script (pinned by measure): the overhead rounds, printed as one JSON line.
if (import.meta.main) {
  const rounds = Number(process.argv[2]) || 7;
  console.log(JSON.stringify(await measureOverhead(rounds, (line) => void process.stderr.write(`# [1cpu] ${line}\n`), true)));
}
