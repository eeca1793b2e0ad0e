/**
 * What an agent writes to the operator's stdout waits for the reader
 * (kernel/stream-output.ts). Found by an attacker pass: with `agentctl run
 * flood.mjs | sleep 9` the kernel queued every chunk for the pipe, growing
 * by 400 MiB/s and holding 2 GB after the wall limit killed the agent. A
 * real `agentctl run` whose stdout pipe nobody reads.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO } from '../process-tree/agentctl.ts';
import { until } from '../until.ts';

const scratch = mkdtempSync(join(tmpdir(), 'output-backpressure-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** rssMib is a live process's resident set, MiB (0 once it is gone). */
function rssMib(pid: number): number {
  try {
    const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? 0 : Number(kb) / 1024;
  } catch {
    return 0;
  }
}

describe("output to a stdout nobody reads", () => {
  it('a flooding agent waits for the reader: agentctl stays small, and the wall limit still ends it', async () => {
    const program = join(scratch, 'flood.mjs');
    writeFileSync(program, "const s = 'x'.repeat(65536); for (;;) sys.write(1, s);");
    const child = spawn(process.execPath, ['--no-node-snapshot', '--disable-warning=ExperimentalWarning', join(REPO, 'bin', 'agentctl.ts'), 'run', '--wall-ms', '3000', program], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    // Nobody reads stdout (the pipe fills at once) until the agent's wall limit, 3 s, has ended it: agentctl says so on
    // stderr. A fixed 4 s wait was too short on a loaded machine, where agentctl took over a second to start the agent,
    // which then flooded the reader for what was left of its 3 s.
    child.stdout.pause();
    let most = 0;
    const sampling = setInterval(() => (most = Math.max(most, rssMib(child.pid!))), 100);
    try {
      await until(() => /killed by SIGKILL/.test(stderr), () => `the wall limit to end the agent (agentctl's stderr: ${JSON.stringify(stderr)})`, 20_000);
    } catch (err) {
      child.kill('SIGKILL');
      throw err;
    } finally {
      clearInterval(sampling);
    }
    let read = 0;
    child.stdout.on('data', (c: Buffer) => (read += c.length));
    child.stdout.resume();
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    // Before the fix: more than 1 GiB by then. A kernel with its isolate takes ~250 MiB here.
    expect(most).toBeLessThan(600);
    // SIGKILL is signal 4 here (README's signal table): status 132.
    expect(code).toBe(132);
    expect(stderr).toMatch(/killed by SIGKILL \(wall time limit 3000 ms\)/);
    // What waited in the stream was delivered: the reader gets at most the high-water mark and the pipe's own buffer more.
    expect(read).toBeLessThan(8 * 1024 * 1024);
  }, 30_000);
});
