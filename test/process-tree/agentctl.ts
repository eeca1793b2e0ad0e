/**
 * Run `agentctl` as a real child process for the process-tree tests.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));

export interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** agentctl runs `agentctl ...args` from the repository root and resolves when it exits (killed after 60 s). */
export function agentctl(args: readonly string[]): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--no-node-snapshot', '--disable-warning=ExperimentalWarning', join(REPO, 'bin', 'agentctl.ts'), ...args],
      { cwd: REPO, timeout: 60_000, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        if (err !== null && typeof err.code !== 'number') reject(new Error(`agentctl ${args.join(' ')}: ${err.message}\n${stderr}`));
        else resolve({ code: err === null ? 0 : (err.code as number), stdout, stderr });
      },
    );
  });
}
