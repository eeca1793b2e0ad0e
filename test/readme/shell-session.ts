/**
 * A bash session for running README commands as a reader pastes them: one
 * shell for a whole block, so a line's `&` job, `export` or `kill %1` carries
 * over to the next one. Each command's stdin is /dev/null and its stdout and
 * stderr go to files of its own, so a background job keeps writing where its
 * line can be read.
 *
 * Where the machine allows it (`unshare -rn`, `ip`) the shell runs in a
 * network namespace of its own with only loopback up: the README's agentd
 * listens on its fixed port 7070 there, never colliding with another agentd
 * or test on this machine, and the README's commands reach nothing outside.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** What one command did. */
export interface Step {
  readonly command: string;
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
  /** now reads what the command (or a job it left running) has written by now. */
  now(): { stdout: string; stderr: string };
}

/** A command started in the background (`&`) by the session. */
export interface BackgroundStep {
  readonly command: string;
  /** now reads what it has written by now. */
  now(): { stdout: string; stderr: string };
  /** wait waits for it to end (`wait`) and returns what it did. */
  wait(timeoutMs?: number): Promise<Step>;
}

const STEP_MS = 30_000;
const MARK = '__readme_step_done__';
const DONE = new RegExp(`^${MARK} (\\d+) (\\d+)$`);

let isolatable: boolean | undefined;

/** read is a file's text, '' before the file exists. */
function read(path: string): string {
  return existsSync(path) ? readFileSync(path, 'utf8') : '';
}

/** canIsolateNetwork says whether a shell can get a network namespace of its own here. */
export function canIsolateNetwork(): boolean {
  isolatable ??= spawnSync('unshare', ['-rn', 'sh', '-c', 'ip link set lo up'], { stdio: 'ignore', timeout: 5_000 }).status === 0;
  return isolatable;
}

/** quote makes `text` one shell word. */
function quote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

export class ShellSession {
  readonly #bash: ChildProcess;
  readonly #dir: string;
  readonly #waiting = new Map<number, (status: number) => void>();
  #steps = 0;
  #stdout = '';
  #stderr = '';
  #ended = false;
  /** True when the shell has a network namespace of its own. */
  readonly isolated: boolean;

  /**
   * A new bash in `cwd` with exactly `env`, in a network namespace of its
   * own where canIsolateNetwork; `dir` (created) keeps each command's output.
   */
  constructor(options: { cwd: string; env: NodeJS.ProcessEnv; dir: string }) {
    this.#dir = options.dir;
    mkdirSync(this.#dir, { recursive: true });
    this.isolated = canIsolateNetwork();
    const [file, args] = this.isolated ? ['unshare', ['-rn', 'bash', '--noprofile', '--norc', '-c', 'ip link set lo up && exec bash --noprofile --norc']] : ['bash', ['--noprofile', '--norc']];
    // A process group of its own, so close() ends the shell and every job it started.
    this.#bash = spawn(file, args, { cwd: options.cwd, env: options.env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    // The shell's own complaints (a line it cannot parse, a job it reports killed): not any command's output.
    this.#bash.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.#stderr += chunk));
    this.#bash.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      this.#stdout += chunk;
      const lines = this.#stdout.split('\n');
      this.#stdout = lines.pop()!;
      for (const line of lines) {
        const m = DONE.exec(line);
        if (m === null) continue;
        this.#waiting.get(Number(m[1]))?.(Number(m[2]));
        this.#waiting.delete(Number(m[1]));
      }
    });
    this.#bash.on('exit', () => {
      this.#ended = true;
      for (const done of this.#waiting.values()) done(-1);
      this.#waiting.clear();
    });
  }

  /**
   * run runs `command` (shell text, several lines allowed) in the session
   * and returns its status and output; it fails if the command has not ended
   * after `timeoutMs`.
   */
  async run(command: string, timeoutMs = STEP_MS): Promise<Step> {
    const n = this.#next();
    const status = await this.#send(n, `{\n${command}\n} </dev/null >${quote(this.#out(n))} 2>${quote(this.#err(n))}\n`, command, timeoutMs);
    return { command, status, ...this.#output(n), now: () => this.#output(n) };
  }

  /** start runs `command` as a background job of the session (as if written with `&`) and returns at once. */
  async start(command: string): Promise<BackgroundStep> {
    const n = this.#next();
    await this.#send(n, `{\n${command}\n} </dev/null >${quote(this.#out(n))} 2>${quote(this.#err(n))} &\n__readme_job_${n}=$!\n`, command, STEP_MS);
    return {
      command,
      now: () => this.#output(n),
      wait: async (timeoutMs = STEP_MS) => {
        const waited = await this.run(`wait "$__readme_job_${n}"`, timeoutMs);
        return { command, status: waited.status, ...this.#output(n), now: () => this.#output(n) };
      },
    };
  }

  /** log is what the shell itself wrote to stderr, as a line to add to a failure ('' when nothing). */
  log(): string {
    return this.#stderr === '' ? '' : `\nthe shell said: ${this.#stderr.trimEnd()}`;
  }

  /** close ends the shell and everything it started (SIGKILL to its process group). */
  async close(): Promise<void> {
    if (this.#ended) return;
    const ended = new Promise((resolve) => this.#bash.once('exit', resolve));
    try {
      process.kill(-this.#bash.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
    await ended;
  }

  #next(): number {
    return ++this.#steps;
  }

  #out(n: number): string {
    return join(this.#dir, `${n}.out`);
  }

  #err(n: number): string {
    return join(this.#dir, `${n}.err`);
  }

  #output(n: number): { stdout: string; stderr: string } {
    return { stdout: read(this.#out(n)), stderr: read(this.#err(n)) };
  }

  #send(n: number, script: string, command: string, timeoutMs: number): Promise<number> {
    if (this.#ended) return Promise.reject(new Error(`the shell has ended; cannot run: ${command}`));
    return new Promise<number>((resolve, reject) => {
      const guard = setTimeout(() => {
        this.#waiting.delete(n);
        const { stdout, stderr } = this.#output(n);
        reject(new Error(`still running after ${timeoutMs} ms: ${command}\nstdout: ${stdout}\nstderr: ${stderr}`));
      }, timeoutMs);
      this.#waiting.set(n, (status) => {
        clearTimeout(guard);
        if (status < 0) reject(new Error(`the shell ended while running: ${command}`));
        else resolve(status);
      });
      this.#bash.stdin!.write(`${script}printf '${MARK} %s %s\\n' ${n} "$?"\n`);
    });
  }
}
