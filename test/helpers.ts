/**
 * Test helpers: run agent source in a real kernel (real isolates, memfs) and
 * collect what it printed.
 */
import { Kernel, type KernelOptions, type SpawnOptions } from '../kernel/kernel.ts';
import type { ExitRecord } from '../kernel/process.ts';
import { programFromSource } from '../kernel/program.ts';
import { KernelError } from '../abi/errno.ts';

export interface RunResult {
  exit: ExitRecord;
  stdout: string;
  stderr: string;
  kernel: Kernel;
}

/** capture returns a sink that appends decoded text to `into.text`. */
export function capture(): { text: string; sink: (chunk: Uint8Array) => void } {
  const decoder = new TextDecoder();
  const out = { text: '', sink: (chunk: Uint8Array) => void (out.text += decoder.decode(chunk)) };
  return out;
}

/** testKernel makes a kernel whose default stdout/stderr are captured, not printed. */
export function testKernel(options: KernelOptions = {}): { kernel: Kernel; stdout: ReturnType<typeof capture>; stderr: ReturnType<typeof capture> } {
  const stdout = capture();
  const stderr = capture();
  return { kernel: new Kernel({ stdout: stdout.sink, stderr: stderr.sink, ...options }), stdout, stderr };
}

/** runAgent runs `source` as `filename` in `kernel` (a fresh one by default) and waits for it. */
export async function runAgent(source: string, options: SpawnOptions & { filename?: string; kernel?: Kernel } = {}): Promise<RunResult> {
  const kernel = options.kernel ?? new Kernel();
  const stdout = capture();
  const stderr = capture();
  const proc = kernel.spawn(programFromSource(options.filename ?? 'agent.ts', source), { ...options, stdout: stdout.sink, stderr: stderr.sink });
  const exit = await kernel.wait(proc.pid);
  return { exit, stdout: stdout.text, stderr: stderr.text, kernel };
}

/** errnoOf returns the errno of the KernelError `fn` throws (other errors propagate), or 'ok'. */
export function errnoOf(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (err) {
    if (err instanceof KernelError) return err.errno;
    throw err;
  }
}
