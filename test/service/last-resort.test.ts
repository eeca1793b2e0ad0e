/**
 * bin/last-resort.ts: an error nothing caught ends a binary that runs
 * isolates, even while an isolate's thread waits on the main thread (where
 * Node's own exit hangs for ever: an attacker pass left a kernel hung ten
 * minutes that way). The exit listeners run first, so a decision log still
 * writes what it holds.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

/** A process with an isolate blocked in a call to the host that never answers, then an error thrown on the main thread. */
const script = (thrown: string) => `
import { createRequire } from 'node:module';
import { writeSync } from 'node:fs';
const ivm = createRequire(${JSON.stringify(`${REPO}/`)})('isolated-vm');
import { endOnInternalError } from ${JSON.stringify(join(REPO, 'bin/last-resort.ts'))};
endOnInternalError('probe');
process.on('exit', () => writeSync(1, 'exit listeners ran\\n'));
const isolate = new ivm.Isolate({ memoryLimit: 16 });
const context = await isolate.createContext();
await context.global.set('wait', new ivm.Reference(() => new Promise(() => {})));
void context.eval('wait.applySyncPromise(undefined, [])').catch(() => {});
setTimeout(() => { throw ${thrown}; }, 200);
`;

function runProbe(thrown: string): Promise<{ signal: NodeJS.Signals | null; code: number | null; stdout: string; stderr: string; hung: boolean }> {
  const dir = mkdtempSync(join(tmpdir(), 'last-resort-'));
  const file = join(dir, 'probe.mjs');
  writeFileSync(file, script(thrown));
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--no-node-snapshot', '--disable-warning=ExperimentalWarning', file], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    let hung = false;
    const timer = setTimeout(() => {
      hung = true;
      child.kill('SIGKILL');
    }, 10_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      rmSync(dir, { recursive: true, force: true });
      resolve({ signal, code, stdout, stderr, hung });
    });
  });
}

describe('the last resort of a binary that runs isolates', () => {
  it('an uncaught error ends the process by SIGKILL, saying so, after its exit listeners ran, while an isolate waits on the main thread', async () => {
    const ended = await runProbe("new Error('a bug nobody caught')");
    expect(ended).toMatchObject({ hung: false, signal: 'SIGKILL', stdout: 'exit listeners ran\n' });
    expect(ended.stderr).toMatch(/^probe: internal error, ending \(a bug: please report it\): Error: a bug nobody caught/);
  }, 30_000);

  it('an error that cannot be shown (its toString throws) ends the same way (a review: the handler threw, and Node took its own exit)', async () => {
    const ended = await runProbe('Object.create(null)');
    expect(ended).toMatchObject({ hung: false, signal: 'SIGKILL', stdout: 'exit listeners ran\n' });
    expect(ended.stderr).toBe('probe: internal error, ending (a bug: please report it): an error that cannot be shown\n');
  }, 30_000);
});
