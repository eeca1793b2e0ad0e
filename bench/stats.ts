/**
 * Shared bench plumbing: medians, the figure type every benchmark returns, a
 * kernel whose output goes nowhere, and a way to run one agent and read back
 * the JSON line it printed.
 */
import { spawn } from 'node:child_process';
import { Kernel, type KernelOptions } from '../kernel/kernel.ts';
import type { ExitRecord } from '../kernel/process.ts';
import { programFromSource } from '../kernel/program.ts';

/** Target says when a figure passes: `<=` or `>=` a bound, or equal to true. */
export type Target = { readonly op: '<=' | '>='; readonly bound: number } | { readonly op: 'true' };

/** Figure is one named result: a median (or a count, or a check) with its unit. */
export interface Figure {
  readonly key: string;
  readonly value: number | boolean;
  readonly unit: string;
  readonly target?: Target;
  /** Side notes printed under the table (spread, sample counts, breakdowns). */
  readonly note?: string;
}

export interface BenchOptions {
  /** Rounds for micro-benchmarks; each figure is the median over them. */
  readonly rounds: number;
  /** log prints a progress line to stderr. */
  readonly log: (line: string) => void;
}

/** Bench is one benchmark: a name for `--only` and the figures it produces. */
export interface Bench {
  readonly name: string;
  readonly keys: readonly string[];
  run(options: BenchOptions): Promise<Figure[]>;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = values.toSorted((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** quantile is the nearest-rank q-quantile (q in [0, 1]). */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = values.toSorted((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}

/** spread describes samples as `min…max over n`, for notes. */
export function spread(values: readonly number[], digits = 0): string {
  return `${Math.min(...values).toFixed(digits)}…${Math.max(...values).toFixed(digits)} over ${values.length}`;
}

export function passes(value: number | boolean, target: Target | undefined): boolean | undefined {
  if (target === undefined) return undefined;
  if (target.op === 'true') return value === true;
  if (typeof value !== 'number' || Number.isNaN(value)) return false;
  return target.op === '<=' ? value <= target.bound : value >= target.bound;
}

export function describeTarget(target: Target | undefined): string {
  if (target === undefined) return '';
  return target.op === 'true' ? 'true' : `${target.op} ${target.bound}`;
}

const gcHook = (globalThis as { gc?: () => void }).gc;

/** collect runs a full GC (twice, so weak callbacks run) when --expose-gc is on. */
export function collect(): boolean {
  if (gcHook === undefined) return false;
  gcHook();
  gcHook();
  return true;
}

export const nowNs = (): bigint => process.hrtime.bigint();
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const discard = (): void => {};

/**
 * quietKernel is a kernel whose default stdout and stderr go nowhere, with
 * the default syscall rate, kernel-time share and log bytes lifted: the
 * benchmarks measure the syscall path itself, which runs far past 10,000
 * calls a second.
 */
export function quietKernel(options: KernelOptions = {}): Kernel {
  return new Kernel({ stdout: discard, stderr: discard, ...options, limits: { syscallsPerSecond: Number.MAX_SAFE_INTEGER, kernelMsPerSecond: Number.MAX_SAFE_INTEGER, logBytesPerSecond: Number.MAX_SAFE_INTEGER, ...options.limits } });
}

/**
 * runReporting runs `source` as one agent in `kernel`, waits for it, and
 * returns the last line it printed parsed as JSON. Throws if the agent did not
 * exit 0 or printed no JSON.
 */
export async function runReporting<T>(kernel: Kernel, source: string, argv: readonly string[] = []): Promise<{ result: T; exit: ExitRecord }> {
  const decoder = new TextDecoder();
  let out = '';
  let err = '';
  const proc = kernel.spawn(programFromSource('bench-agent.js', source), {
    argv,
    stdout: (chunk) => void (out += decoder.decode(chunk)),
    stderr: (chunk) => void (err += decoder.decode(chunk)),
  });
  const exit = await kernel.wait(proc.pid);
  if (exit.status !== 0) throw new Error(`bench agent exited ${exit.status}: ${JSON.stringify(exit.reason)} ${err}`);
  const last = out.trim().split('\n').at(-1) ?? '';
  return { result: JSON.parse(last) as T, exit };
}

/** perCallNs turns a loop of `n` calls that took `ms` (Date.now resolution) into ns per call. */
export const perCallNs = (ms: number, n: number): number => (ms * 1e6) / n;

/**
 * callsFor picks a loop length that takes about `targetMs` given a measured
 * per-call cost, so Date.now's 1 ms resolution stays under ~0.5% of a sample.
 */
export function callsFor(nsPerCall: number, targetMs: number, min = 1000, max = 5_000_000): number {
  const n = Math.round((targetMs * 1e6) / Math.max(nsPerCall, 1));
  return Math.min(max, Math.max(min, n));
}

/**
 * runScript runs a bench file as a script in a fresh Node process with this
 * process's flags (optionally pinned to one CPU with taskset) and returns its
 * stdout; its stderr goes to ours. Rejects on a non-zero exit or a timeout.
 */
export function runScript(file: string, args: readonly string[], options: { pinCpu?: number; timeoutMs?: number } = {}): Promise<string> {
  const node = [process.execPath, ...process.execArgv, file, ...args];
  const argv = options.pinCpu === undefined ? node : ['taskset', '-c', String(options.pinCpu), ...node];
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'], timeout: options.timeoutMs ?? 300_000 });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => void (out += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => (code === 0 ? resolve(out) : reject(new Error(`${argv[0]} ${file} exited ${code ?? signal}`))));
  });
}
