/**
 * An isolate whose thread does not stop when it is disposed (found by an
 * attacker pass). isolated-vm reads the reason of a promise left rejected at
 * the end of a call into the isolate — its `message` and `stack` — by running
 * the program's getters, and after a disposal stopped the first it runs the
 * second where nothing stops it: the thread spins for good, and the process
 * that holds it cannot exit. The kernel notices (a call into the disposed
 * isolate still running STUCK_MS later) and names the process that must end: a
 * sandbox host is drained and replaced; the kernel's own process says it is
 * degraded (agentd's /readyz 503) and records why.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MemoryDecisionLog } from '../../kernel/decision-log.ts';
import { Kernel } from '../../kernel/kernel.ts';
import { programFromSource } from '../../kernel/program.ts';
import { STUCK_MS } from '../../kernel/disposal-watch.ts';
import { until } from '../until.ts';

const ATTACK = 'Promise.reject({ get message() { for (;;); }, get stack() { for (;;); } });';
const REPO = join(import.meta.dirname, '..', '..');

describe('an isolate whose thread runs on after its disposal', () => {
  it('on a sandbox host: the host is drained and replaced, and the next agent runs on a fresh one', async () => {
    const recorder = new MemoryDecisionLog();
    const kernel = new Kernel({ recorder, hosts: { count: 1, agentsPerHost: 8, spares: 0 }, stdout: () => {}, stderr: () => {} });
    try {
      const attacker = await kernel.spawnAsync(programFromSource('attacker.js', ATTACK), { limits: { cpuMs: 200 } });
      expect(await kernel.wait(attacker.pid)).toMatchObject({ status: 132, reason: { why: expect.stringMatching(/^CPU time limit 200 ms/) } });
      const records = () => recorder.list().filter((r) => r.type === 'limit').map((r) => ('detail' in r ? r.detail : ''));
      await until(() => records().some((d) => /sandbox host 1 .* drained and ended/.test(d)), () => `host 1 to drain and end (records: ${JSON.stringify(records())})`, STUCK_MS + 15_000);
      expect(records().some((d) => new RegExp(`sandbox host 1 .* quarantined: an isolate's thread still ran ${STUCK_MS} ms after its disposal`).test(d))).toBe(true);
      expect(kernel.degraded).toBeUndefined();
      const next = await kernel.spawnAsync(programFromSource('next.js', 'console.log(6 * 7);'));
      expect((await kernel.wait(next.pid)).status).toBe(0);
    } finally {
      await kernel.shutdown();
    }
  }, 60_000);

  it("in the kernel's own process: the kernel says it is degraded and records why (a child process, which the stuck thread keeps from exiting, so it kills itself)", () => {
    const dir = mkdtempSync(join(tmpdir(), 'stuck-'));
    try {
      const script = join(dir, 'stuck.ts');
      const at = (file: string) => JSON.stringify(pathToFileURL(join(REPO, file)).href);
      writeFileSync(
        script,
        [
          `import { Kernel } from ${at('kernel/kernel.ts')};`,
          `import { MemoryDecisionLog } from ${at('kernel/decision-log.ts')};`,
          `import { programFromSource } from ${at('kernel/program.ts')};`,
          'const recorder = new MemoryDecisionLog();',
          'const kernel = new Kernel({ recorder, stdout: () => {}, stderr: () => {} });',
          `const attacker = await kernel.spawnAsync(programFromSource('attacker.js', ${JSON.stringify(ATTACK)}), { limits: { cpuMs: 200 } });`,
          'const exit = await kernel.wait(attacker.pid);',
          `await new Promise((r) => setTimeout(r, ${STUCK_MS + 1000}));`,
          "const next = await kernel.spawnAsync(programFromSource('next.js', 'console.log(1)'));",
          'const after = await kernel.wait(next.pid);',
          "const limits = recorder.list().filter((r) => r.type === 'limit' && r.pid === attacker.pid).map((r) => r.detail);",
          'console.log(JSON.stringify({ status: exit.status, degraded: kernel.degraded, limits, next: after.status }));',
          "process.kill(process.pid, 'SIGKILL');",
        ].join('\n'),
      );
      const run = spawnSync(process.execPath, ['--no-node-snapshot', '--disable-warning=ExperimentalWarning', script], { cwd: REPO, encoding: 'utf8', timeout: 40_000 });
      expect(run.signal).toBe('SIGKILL');
      const seen = JSON.parse(run.stdout.trim()) as { status: number; degraded?: string; limits: string[]; next: number };
      expect(seen).toMatchObject({ status: 132, next: 0, degraded: expect.stringMatching(new RegExp(`^pid 1: an isolate's thread still ran ${STUCK_MS} ms after its disposal .* restart this kernel soon$`)) });
      expect(seen.limits).toEqual([expect.stringMatching(new RegExp(`^an isolate's thread still ran ${STUCK_MS} ms after its disposal`))]);
      // agentctl run says so and ends itself (it hung for good before).
      const program = join(dir, 'stuck.mjs');
      writeFileSync(program, ATTACK);
      const ctl = spawnSync(process.execPath, ['--no-node-snapshot', '--disable-warning=ExperimentalWarning', 'bin/agentctl.ts', 'run', program, '--cpu-ms', '200'], { cwd: REPO, encoding: 'utf8', timeout: 40_000 });
      expect(ctl.signal).toBe('SIGKILL');
      expect(ctl.stderr).toMatch(new RegExp(`agentctl: pid 1: an isolate's thread still ran ${STUCK_MS} ms after its disposal .* restart this kernel soon`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);
});
