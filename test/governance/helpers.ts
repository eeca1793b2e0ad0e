/**
 * Helpers for the governance tests: scratch directories for policy and log
 * files, and `agentctl` run as a real child process.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** REPO is the repository root; agentctl runs with it as the working directory. */
export const REPO = fileURLToPath(new URL('../../', import.meta.url));

export const NODE_FLAGS = ['--no-node-snapshot', '--disable-warning=ExperimentalWarning'] as const;

/** scratch makes a fresh temporary directory; `write` puts a file in it and returns its path. */
export function scratch(): { dir: string; write(name: string, text: string): string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'agent-kernel-gov-'));
  return {
    dir,
    write(name, text) {
      const path = join(dir, name);
      writeFileSync(path, text);
      return path;
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface ChildResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** node runs `node [flags] script args…` from the repository root, feeding `input` on stdin. */
export function node(script: string, args: readonly string[], options: { input?: string } = {}): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...NODE_FLAGS, script, ...args], { cwd: REPO, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (status, signal) => resolve({ status, signal, stdout, stderr }));
    child.stdin.on('error', () => {});
    child.stdin.end(options.input ?? '');
  });
}

/** agentctl runs bin/agentctl.ts with `args`. */
export function agentctl(args: readonly string[], options: { input?: string } = {}): Promise<ChildResult> {
  return node('bin/agentctl.ts', args, options);
}
