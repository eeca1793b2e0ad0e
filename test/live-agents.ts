/**
 * Helpers for tests that steer live agents from the host: start a program
 * without waiting for it, feed it through a pipe the test holds, wait for a
 * condition (test/until.ts), and shut every kernel down after each test.
 * Real kernel, real isolates: nothing here is a mock.
 */
import { afterEach } from 'vitest';
import { Kernel, type KernelOptions, type SpawnOptions } from '../kernel/kernel.ts';
import type { Entry } from '../kernel/fd-entries.ts';
import { Pipe } from '../kernel/pipe.ts';
import type { Process } from '../kernel/process.ts';
import { programFromSource } from '../kernel/program.ts';
import { capture } from './helpers.ts';
import { HANG_GUARD_MS, until, within } from './until.ts';

/** A program body that leaves the agent idle for ever: an await that never settles. */
export const IDLE = 'await new Promise(() => {});';

/** A program body that spins without ever making a syscall. */
export const SPIN = 'for (;;) {}';

const kernels: Kernel[] = [];

afterEach(async () => {
  await Promise.all(kernels.splice(0).map((k) => k.shutdown()));
});

/** kernelFor makes a kernel that is shut down (every process killed and reaped) after the test. */
export function kernelFor(options: KernelOptions = {}): Kernel {
  const kernel = new Kernel({ stdout: () => {}, stderr: () => {}, ...options });
  kernels.push(kernel);
  return kernel;
}

export interface LiveAgent {
  readonly proc: Process;
  readonly pid: number;
  readonly kernel: Kernel;
  /** What the agent wrote to fd 1 and fd 2 so far. */
  stdout(): string;
  stderr(): string;
}

/** start spawns `source` (JavaScript) in `kernel` and returns at once, capturing its output. */
export function start(kernel: Kernel, source: string, options: SpawnOptions & { filename?: string } = {}): LiveAgent {
  const out = capture();
  const err = capture();
  const proc = kernel.spawn(programFromSource(options.filename ?? 'agent.js', source), { stdout: out.sink, stderr: err.sink, ...options });
  return { proc, pid: proc.pid, kernel, stdout: () => out.text, stderr: () => err.text };
}

/** exited waits for `agent` to end (with a hang guard) and returns its exit record without reaping it. */
export function exited(agent: LiveAgent, timeoutMs = HANG_GUARD_MS): Promise<NonNullable<Process['exit']>> {
  return within(agent.proc.exited, () => `pid ${agent.pid} to exit (stdout: ${JSON.stringify(agent.stdout())}, stderr: ${JSON.stringify(agent.stderr())})`, timeoutMs);
}

/** idle waits until `agent` has run its synchronous part and sits idle (awaiting). */
export function idle(agent: LiveAgent): Promise<void> {
  return until(() => agent.proc.state === 'blocked' && agent.proc.sandbox?.idle === true, `pid ${agent.pid} to be idle`);
}

/** printed waits until the agent's stdout contains `text`. */
export function printed(agent: LiveAgent, text: string): Promise<void> {
  return until(() => agent.stdout().includes(text), () => `pid ${agent.pid} to print ${JSON.stringify(text)} (stdout so far: ${JSON.stringify(agent.stdout().slice(-200))})`);
}

/** parked waits until the agent sleeps inside a blocking syscall. */
export function parked(agent: LiveAgent): Promise<void> {
  return until(() => agent.proc.sandbox?.blockedInSyscall === true, `pid ${agent.pid} to block in a syscall`);
}

/**
 * HostPipe is a pipe whose write end the test holds: pass `stdin` as an
 * agent's fd 0 and feed it lines with send().
 */
export interface HostPipe {
  readonly stdin: Entry;
  send(text: string): Promise<void>;
  close(): void;
}

export function hostPipe(): HostPipe {
  const pipe = new Pipe();
  pipe.open('w');
  let open = true;
  return {
    stdin: { kind: 'pipe', pipe, end: 'r' },
    async send(text) {
      await pipe.write(new TextEncoder().encode(text));
    },
    close() {
      if (open) pipe.close('w');
      open = false;
    },
  };
}

/** HostReader is a pipe whose read end the test holds: pass `stdout` as an agent's fd 1. */
export interface HostReader {
  readonly stdout: Entry;
  /** read returns up to `max` bytes, waiting for some (empty at end of file). */
  read(max: number): Promise<Uint8Array>;
  close(): void;
}

export function hostReader(): HostReader {
  const pipe = new Pipe();
  pipe.open('r');
  return {
    stdout: { kind: 'pipe', pipe, end: 'w' },
    read: async (max) => pipe.read(max),
    close: () => pipe.close('r'),
  };
}

/** readTree reads a file of agent `agentId`'s tree from the host, or undefined if it is absent. */
export async function readTree(kernel: Kernel, agentId: string, rel: string): Promise<string | undefined> {
  const vfs = kernel.vfs(agentId);
  let opened;
  try {
    opened = await vfs.open(`${vfs.root}/${rel}`, 'r');
  } catch {
    return undefined;
  }
  try {
    return new TextDecoder().decode(await opened.file.read(await opened.file.size(), 0));
  } finally {
    await opened.file.close();
  }
}

/** checkpointed waits until checkpoint `n` of agent `agentId` has its manifest (a checkpoint may be written after kill() returns). */
export function checkpointed(kernel: Kernel, agentId: string, n: number): Promise<void> {
  return until(async () => (await readTree(kernel, agentId, `state/checkpoints/${n}/manifest.json`)) !== undefined, `checkpoint ${n} of ${agentId}`);
}

/** listTree lists a directory of agent `agentId`'s tree from the host ([] if absent). */
export async function listTree(kernel: Kernel, agentId: string, rel: string): Promise<string[]> {
  const vfs = kernel.vfs(agentId);
  try {
    return (await vfs.readdir(`${vfs.root}/${rel}`)).map((e) => e.name);
  } catch {
    return [];
  }
}
