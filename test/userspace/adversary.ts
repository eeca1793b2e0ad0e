/**
 * The set-up the adversarial userspace tests share (async-adversarial,
 * timers-adversarial, values-adversarial): one kernel that allows
 * everything; after every test a well-behaved neighbour runs in it, no
 * isolate is left and no host timer outlives the processes; after the file,
 * no process is left. Each test is a real agent in a real kernel: the
 * process may fail, the kernel must not.
 */
import { afterAll, afterEach, expect } from 'vitest';
import { Kernel } from '../../kernel/kernel.ts';
import type { SpawnOptions } from '../../kernel/kernel-options.ts';
import { parsePolicy } from '../../kernel/policy/load.ts';
import type { Process } from '../../kernel/process.ts';
import { programFromSource } from '../../kernel/program.ts';
import { capture, runAgent, type RunResult } from '../helpers.ts';
import { until } from '../until.ts';

/** hostTimers counts the host's active timers (Timeout and Immediate handles). */
const hostTimers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout' || r === 'Immediate').length;

/** Adversary is what a test file of adversarial agents works with. */
export interface Adversary {
  readonly kernel: Kernel;
  /** run runs `source` to its end. */
  run(source: string, options?: SpawnOptions): Promise<RunResult>;
  /** started spawns `source` and returns the process with its captured output. */
  started(source: string, options?: SpawnOptions): { proc: Process; out: () => string };
  /**
   * outlast runs an agent that sleeps `ms` on a kernel timer, armed after
   * every timer of the agent under test (the same length or shorter): once
   * it has ended, those have fired too, and what they would have set going
   * has had its turn.
   */
  outlast(ms: number): Promise<void>;
}

/** adversary makes the file's kernel and registers its checks (call it once, at the top of a test file). */
export function adversary(): Adversary {
  const kernel = new Kernel({ policy: parsePolicy('version: 1\nrules:\n  - id: allow-all\n    effect: allow\n', 'allow-all.yaml'), stdout: () => {}, stderr: () => {} });
  const timersBefore = hostTimers();
  const run = (source: string, options: SpawnOptions = {}) => runAgent(source, { kernel, filename: 'adversary.js', ...options });
  const started = (source: string, options: SpawnOptions = {}) => {
    const out = capture();
    const proc = kernel.spawn(programFromSource('adversary.js', source), { stdout: out.sink, stderr: out.sink, ...options });
    return { proc, out: () => out.text };
  };
  const outlast = async (ms: number) => {
    const { exit } = await run(`await sys.async.sleep(${ms});`);
    expect(exit.status).toBe(0);
  };

  afterEach(async () => {
    const { exit, stdout } = await run("await sys.async.sleep(1); setTimeout(() => console.log('neighbour', 6 * 7), 1);");
    expect(exit).toMatchObject({ status: 0, reason: { kind: 'exit' } });
    expect(stdout).toBe('neighbour 42\n');
    expect(kernel.liveIsolates()).toBe(0);
    // The kernel's timers of a process (its SYS_TIMERs, its tool calls) end with it.
    await until(() => hostTimers() <= timersBefore, () => `the host's timers to be back to ${timersBefore} (now ${hostTimers()})`);
  });

  afterAll(() => {
    expect(kernel.ps()).toEqual([]);
    expect(kernel.liveIsolates()).toBe(0);
  });

  return { kernel, run, started, outlast };
}
