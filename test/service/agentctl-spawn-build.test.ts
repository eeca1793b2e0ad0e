/**
 * `agentctl spawn FILE` builds the program as `agentctl run` does
 * (kernel/program-build.ts) and sends agentd what it built: a program that
 * imports its own files or an npm package of its project runs (it failed in
 * agentd with "Cannot use import statement outside a module"); one that does
 * not build is one line naming the file and line, status 2, as with run.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentctl, json, startAgentd, until, type Agentd } from './helpers.ts';

let agentd: Agentd;
const dir = mkdtempSync(join(tmpdir(), 'agentctl-spawn-build-'));
const write = (name: string, text: string) => {
  const path = join(dir, name);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
  return path;
};
beforeAll(async () => {
  agentd = await startAgentd();
  write('package.json', JSON.stringify({ name: 'spawned', type: 'module' }));
  write('node_modules/shout/package.json', JSON.stringify({ name: 'shout', main: 'index.js' }));
  write('node_modules/shout/index.js', 'module.exports = (s) => s.toUpperCase() + "!";\n');
  write('lib.ts', 'export const greet = (who: string): string => `hello ${who}`;\n');
}, 60_000);
afterAll(async () => {
  await agentd?.remove();
  rmSync(dir, { recursive: true, force: true });
});

/** finished waits for `pid` to exit and answers its output. */
async function finished(pid: number): Promise<{ stdout: string; stderr: string; status?: number }> {
  await until(async () => (await json(agentd, 'output', String(pid))).status !== undefined, `pid ${pid} to exit`);
  return json(agentd, 'output', String(pid));
}

describe('agentctl spawn builds the program as run does', { timeout: 60_000 }, () => {
  it('a TypeScript program importing a relative file and an npm package runs; run and spawn print the same', async () => {
    const main = write('main.ts', "import shout from 'shout';\nimport { greet } from './lib.ts';\nconst who: string = process.argv[2] ?? 'nobody';\nconsole.log(shout(greet(who)));\n");
    const spawned = await json<{ pid: number }>(agentd, 'spawn', main, '--', 'Ada');
    expect(await finished(spawned.pid)).toMatchObject({ stdout: 'HELLO ADA!\n', stderr: '', status: 0 });
    expect(await agentctl(undefined, 'run', main, '--', 'Ada')).toMatchObject({ status: 0, stdout: 'HELLO ADA!\n' });
    // ps shows the file as it was named.
    const listed = await json<{ pid: number; program: string }[]>(agentd, 'ps');
    expect(listed.find((p) => p.pid === spawned.pid)?.program).toBe(main);
  });

  it("an uncaught error of a bundled TypeScript program names the author's line", async () => {
    const main = write('throws.ts', "import { greet } from './lib.ts';\nconsole.log(greet('x'));\n\n\nthrow new Error('on line five');\n");
    const spawned = await json<{ pid: number }>(agentd, 'spawn', main);
    expect((await finished(spawned.pid)).status).toBe(1);
    const report = (await agentctl(agentd, 'output', String(spawned.pid))).stderr;
    expect(report).toContain('on line five');
    expect(report).toMatch(/throws\.ts:5:\d+/);
  });

  it('the bundle runs as the JavaScript it is: a comparison esbuild prints as `a < b > (c)` is not read as a TypeScript generic call (a review)', async () => {
    write('compare.js', 'export const f = (a, b, x, y) => (a < b) > (x ? y : 0);\n');
    const main = write('generic.ts', "import { f } from './compare.js';\nconsole.log(String(f(1, 2, true, 0)));\n");
    const spawned = await json<{ pid: number }>(agentd, 'spawn', main);
    expect(await finished(spawned.pid)).toMatchObject({ stdout: 'true\n', stderr: '', status: 0 });
    expect(await agentctl(undefined, 'run', main)).toMatchObject({ status: 0, stdout: 'true\n' });
  });

  it('a program that does not build is one line naming file:line and status 2, as run says it', async () => {
    const broken = write('broken.ts', "import { greet } from './lib.ts';\nconst x = greet(;\n");
    const spawned = await agentctl(agentd, 'spawn', broken);
    const ran = await agentctl(undefined, 'run', broken);
    expect(spawned).toMatchObject({ status: 2, stdout: '' });
    expect(spawned.stderr).toMatch(/^agentctl: .*broken\.ts:2:\d+: SyntaxError: .*\n$/);
    expect(spawned.stderr).toBe(ran.stderr);
    expect(ran.status).toBe(2);
  });

  it('a file the build refuses (an import outside the project, a refused built-in) is status 2 too', async () => {
    const refused = write('refused.ts', "import { spawn } from 'node:child_process';\nspawn('ls');\n");
    const r = await agentctl(agentd, 'spawn', refused);
    expect(r).toMatchObject({ status: 2, stdout: '' });
    expect(r.stderr).toMatch(/^agentctl: .*refused\.ts:1:\d+: imports node:child_process, which agent programs cannot use.*\n$/);
  });
});
