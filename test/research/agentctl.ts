/** agentctl for the research tests: `agentctl ...args` as a child process in `cwd`, its output collected. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
const AGENTCTL = join(REPO, 'bin', 'agentctl.ts');

export interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface AgentctlOptions {
  readonly cwd: string;
  /** Killed (SIGKILL) past this; default 60 s. */
  readonly timeoutMs?: number;
  /** onStdout sees stdout as it comes, with the child's pid (to signal the run at a point). */
  readonly onStdout?: (text: string, pid: number) => void;
  /** More options for node (a heap limit, say). */
  readonly node?: readonly string[];
  /** Variables added to the test's environment for the command. */
  readonly env?: Readonly<Record<string, string>>;
  /** A slow reader: stdout is not read until this says so of the stderr so far (the run's writes to stdout wait meanwhile). */
  readonly readStdout?: (stderr: string) => boolean;
}

export function agentctl(args: readonly string[], options: AgentctlOptions): Promise<Outcome> {
  const child = spawn(process.execPath, ['--no-node-snapshot', '--disable-warning=ExperimentalWarning', ...(options.node ?? []), AGENTCTL, ...args], { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'], timeout: options.timeoutMs ?? 60_000, killSignal: 'SIGKILL' });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    options.onStdout?.(stdout, child.pid!);
  });
  if (options.readStdout !== undefined) child.stdout.pause();
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    if (child.stdout.isPaused() && options.readStdout?.(stderr)) child.stdout.resume();
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}
