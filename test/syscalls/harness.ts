/**
 * Harness for the per-syscall tests: runs real agent programs in a real kernel
 * with a small ring-3 prelude, and parses what they report as JSON.
 *
 * Prelude globals available to agent bodies:
 *   raw(nr, ...args)  the raw syscall, reduced to `{ v }` or `{ errno }`
 *   errnoOf(fn)       'ok' if fn() returns, else the thrown SyscallError's errno
 *   text(bytes)       UTF-8 decode of a Uint8Array
 *   report(value)     prints JSON.stringify(value) on one line of stdout
 */
import { expect } from 'vitest';
import { MemoryDecisionLog, type LoggedDecision } from '../../kernel/decision-log.ts';
import { Kernel, type SpawnOptions } from '../../kernel/kernel.ts';
import { parsePolicy } from '../../kernel/policy/load.ts';
import type { SyscallRecord } from '../../syscalls/records.ts';
import { runAgent, type RunResult } from '../helpers.ts';

const PRELUDE = [
  "const raw = (nr, ...args) => { const r = syscall(nr, ...args); return r !== null && typeof r === 'object' && 'errno' in r ? { errno: r.errno } : { v: r.v }; };",
  "const errnoOf = (fn) => { try { fn(); return 'ok'; } catch (e) { return e && e.errno ? e.errno : String(e); } };",
  'const text = (bytes) => sys.decodeUtf8(bytes);',
  'const report = (value) => console.log(JSON.stringify(value));',
  '',
].join('\n');

export type AgentOptions = SpawnOptions & { kernel?: Kernel };

/** run executes `body` (with the prelude) as an agent and returns the raw result. */
export function run(body: string, options: AgentOptions = {}): Promise<RunResult> {
  return runAgent(PRELUDE + body, { filename: 'agent.js', ...options });
}

/**
 * report runs `body`, which must call report(...) exactly once as its last
 * output line, and returns the parsed value with the run. Fails loudly with the
 * agent's output if it did not exit 0.
 */
export async function report<T = unknown>(body: string, options: AgentOptions = {}): Promise<{ value: T; result: RunResult }> {
  const result = await run(body, options);
  if (result.exit.status !== 0) {
    throw new Error(`agent exited ${result.exit.status} (${JSON.stringify(result.exit.reason)})\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  }
  const lines = result.stdout.trimEnd().split('\n');
  return { value: JSON.parse(lines[lines.length - 1] ?? 'null') as T, result };
}

/** log returns the kernel's decision log; the tests use the default MemoryDecisionLog. */
export function log(kernel: Kernel): readonly LoggedDecision[] {
  if (!(kernel.recorder instanceof MemoryDecisionLog)) throw new Error('kernel.recorder is not a MemoryDecisionLog');
  return kernel.recorder.list();
}

/** syscallRecords lists the syscall decisions named `name`, in order. */
export function syscallRecords(kernel: Kernel, name: string): (SyscallRecord & LoggedDecision)[] {
  return log(kernel).filter((r): r is SyscallRecord & LoggedDecision => r.type === 'syscall' && r.syscall === name);
}

/** ALLOW_ALL allows every syscall, so only the capability check stands between an agent and a row. */
export const ALLOW_ALL = parsePolicy('version: 1\nrules:\n  - id: allow-all\n    effect: allow\n', 'allow-all.yaml');

/** permissiveKernel is a fresh kernel under ALLOW_ALL, for reaching rows the default policy denies. */
export function permissiveKernel(): Kernel {
  return new Kernel({ policy: ALLOW_ALL });
}

/** A path longer than the 4096-unit limit on path arguments. */
export const LONG_PATH = `mem/working/${'x'.repeat(4100)}`;

/** Paths outside agent `a`'s tree `/agent/a`, each with what it resolves to. */
export const OUTSIDE_A: readonly (readonly [input: string, resolved: string])[] = [
  ['/etc/passwd', '/etc/passwd'],
  ['../other-agent/x', '/agent/other-agent/x'],
  ['/agent/b/mem/x', '/agent/b/mem/x'],
  ['mem/../../x', '/agent/x'],
  ['/agent/a/../b/x', '/agent/b/x'],
  ['/agent/ab/x', '/agent/ab/x'],
  ['/', '/'],
];

/**
 * expectConfined runs `call` (agent source of `(path) => ...`) on every
 * OUTSIDE_A path as agent `a`, and checks that each call failed with EACCES
 * and was recorded as a deny by the capability check (before any policy
 * rule) with the resolved path.
 * Returns the kernel, so callers can check nothing was created.
 */
export async function expectConfined(syscall: string, call: string): Promise<Kernel> {
  const inputs = JSON.stringify(OUTSIDE_A.map(([input]) => input));
  const { value, result } = await report<string[]>(`const call = ${call};\nreport(${inputs}.map((p) => errnoOf(() => call(p))));`, { agentId: 'a' });
  expect(value).toEqual(OUTSIDE_A.map(() => 'EACCES'));
  const denies = syscallRecords(result.kernel, syscall).filter((r) => r.effect === 'deny');
  expect(denies.map((r) => [r.path, r.rule, r.agentId, r.pid])).toEqual(OUTSIDE_A.map(([, resolved]) => [resolved, 'capability', 'a', result.exit.pid]));
  for (const r of denies) expect(r.reason).toBe(`no capability covers ${r.access} access to ${r.path}`);
  return result.kernel;
}
