/**
 * An approver that is a program the operator names: agentd runs `argv` (no
 * shell) in the configuration's directory with the question as JSON on its
 * standard input (approvers/question.ts) and reads its verdict from standard
 * output. Exit status other than 0, more than 64 KiB of output, or no answer
 * within `timeout_ms` (the program is killed) is a failure: the chain denies.
 * When agentd stops, programs still running are killed and none is started.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { PendingApproval } from '../../approvals.ts';
import type { ChainStep } from './chain.ts';
import { questionJson, verdictOf, type Verdict } from './question.ts';

export interface CommandSettings {
  readonly argv: readonly string[];
  /** How answers name it: `command:<name>` (default: the program's file name). */
  readonly name: string;
  readonly cwd: string;
  readonly timeoutMs: number;
}

const MAX_OUTPUT = 64 * 1024;

export function commandStep(settings: CommandSettings): ChainStep {
  const name = `command:${settings.name}`;
  const running = new Set<ChildProcess>();
  let stopped = false;
  return {
    name,
    stop() {
      stopped = true;
      for (const child of running) child.kill('SIGKILL');
    },
    ask: (approval: PendingApproval) =>
      new Promise<Verdict>((resolve, reject) => {
        // Questions still queued when agentd stops start nothing (the next start asks them again).
        if (stopped) return reject(new Error(`${name}: agentd is stopping`));
        const child = spawn(settings.argv[0]!, settings.argv.slice(1), { cwd: settings.cwd, stdio: ['pipe', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
        running.add(child);
        let out = '';
        let err = '';
        let failed: string | undefined;
        const timer = setTimeout(() => {
          failed = `no verdict within ${settings.timeoutMs} ms`;
          child.kill('SIGKILL');
        }, settings.timeoutMs);
        child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
          out += chunk;
          if (out.length > MAX_OUTPUT) {
            failed = `more than ${MAX_OUTPUT} bytes of output`;
            child.kill('SIGKILL');
          }
        });
        child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err = (err + chunk).slice(-500)));
        child.on('error', (e) => {
          running.delete(child);
          clearTimeout(timer);
          reject(new Error(`${settings.argv[0]} could not run (${(e as NodeJS.ErrnoException).code ?? e.message})`));
        });
        child.on('close', (status, signal) => {
          running.delete(child);
          clearTimeout(timer);
          if (failed !== undefined) return reject(new Error(`${name}: ${failed}`));
          if (status !== 0) return reject(new Error(`${name} exited ${status ?? signal}${err.trim() ? `: ${err.trim().split('\n').at(-1)}` : ''}`));
          const verdict = verdictOf(out);
          if (typeof verdict === 'string') return reject(new Error(`${name} answered no verdict (${verdict})`));
          resolve(verdict);
        });
        child.stdin.on('error', () => {}); // a program that does not read its input still answers
        child.stdin.end(`${JSON.stringify(questionJson(approval))}\n`);
      }),
  };
}
