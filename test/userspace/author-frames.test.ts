/**
 * A built program's stack shows the author's frames only: a CommonJS-looking
 * file (esbuild wraps it in a function named after its path, loaded through
 * `__require`, from the kernel's `<agent-entry>` import) reads as an ES
 * module's does — its top level is `main`, with no bundler helper, no
 * entry shim (never a URL-encoded `%3Cagent-entry%3E`) and no runtime frame —
 * in err.stack as the program reads it and in the kernel's report of an
 * uncaught error; a CommonJS package's top level is `Object.<anonymous>`, as
 * Node names it.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kernel } from '../../kernel/kernel.ts';
import type { ExitRecord } from '../../kernel/process.ts';
import { buildProgramFile, shown } from '../../kernel/program-build.ts';
import { capture } from '../helpers.ts';

let dir: string;
let savedCache: string | undefined;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'author-frames-'));
  savedCache = process.env.AGENT_KERNEL_CACHE;
  process.env.AGENT_KERNEL_CACHE = join(dir, 'cache');
  mkdirSync(join(dir, 'p', 'myagent'), { recursive: true });
  mkdirSync(join(dir, 'p', 'node_modules', 'pkg'), { recursive: true });
  writeFileSync(join(dir, 'p', 'package.json'), '{"name":"p"}');
  writeFileSync(join(dir, 'p', 'node_modules', 'pkg', 'package.json'), '{"name":"pkg","main":"index.js"}');
  writeFileSync(join(dir, 'p', 'node_modules', 'pkg', 'index.js'), ['// a CommonJS package that fails as it loads', "throw new Error('no config');", 'exports.ready = true;', ''].join('\n'));
});
afterAll(() => {
  if (savedCache === undefined) delete process.env.AGENT_KERNEL_CACHE;
  else process.env.AGENT_KERNEL_CACHE = savedCache;
  rmSync(dir, { recursive: true, force: true });
});

/** run builds `lines` as the project's file `name` and runs it: what it printed, and its error as the kernel reports it. */
async function run(name: string, lines: string[]): Promise<{ stdout: string; exit: ExitRecord; error: string }> {
  const file = join(dir, 'p', name);
  writeFileSync(file, lines.join('\n'));
  const kernel = new Kernel();
  try {
    const out = capture();
    const proc = await kernel.spawnAsync(await buildProgramFile(file), { stdout: out.sink, stderr: out.sink });
    const exit = await kernel.wait(proc.pid);
    return { stdout: out.text, exit, error: exit.reason.kind === 'error' ? exit.reason.error : '' };
  } finally {
    await kernel.shutdown();
  }
}

const at = (file: string) => shown(join(dir, 'p', file));

describe("a built program's stack: the author's frames only", () => {
  it('a script that uses module.exports (wrapped as CommonJS) throws: its top level is main, as an ES module\'s is', async () => {
    const { exit, error } = await run('myagent/throws.ts', ['function f() {', "  throw new Error('boom');", '}', 'f();', 'module.exports = {};']);
    expect(exit.status).toBe(1);
    expect(error).toBe(`Error: boom\n    at f (${at('myagent/throws.ts')}:2:9)\n    at main (${at('myagent/throws.ts')}:4:1)`);
  });

  it('err.stack as that program reads it: the same two frames, no __require, no entry shim, no runtime', async () => {
    const { stdout, exit } = await run('myagent/reads.ts', ['function f() {', "  try { throw new Error('boom'); } catch (e) { console.log((e as Error).stack); }", '}', 'f();', 'module.exports = {};']);
    expect(exit.status).toBe(0);
    expect(stdout).toBe(`Error: boom\n    at f (${at('myagent/reads.ts')}:2:15)\n    at main (${at('myagent/reads.ts')}:4:1)\n`);
  });

  it('the same script as an ES module: unchanged', async () => {
    const { error } = await run('myagent/esm.ts', ['export {};', 'function f() {', "  throw new Error('boom');", '}', 'f();']);
    expect(error).toBe(`Error: boom\n    at f (${at('myagent/esm.ts')}:3:9)\n    at main (${at('myagent/esm.ts')}:5:1)`);
  });

  it("a CommonJS package that throws as it loads: its top level is Object.<anonymous>, as in Node, then the importer's line", async () => {
    const { error } = await run('loads.ts', ["import 'pkg';", 'console.log("not reached");']);
    expect(error).toBe(`Error: no config\n    at Object.<anonymous> (${at('node_modules/pkg/index.js')}:2:7)\n    at main (${at('loads.ts')}:1:8)`);
  });

  it("a program with its own Error.prepareStackTrace: the kernel's report is cleaned the same way", async () => {
    const { error } = await run('myagent/own.ts', ['Error.prepareStackTrace = (err, sites) => `${err}\\n` + sites.map((s) => `    at ${s}`).join("\\n");', 'function f() {', "  throw new Error('boom');", '}', 'f();', 'module.exports = {};']);
    expect(error).toBe(`Error: boom\n    at f (${at('myagent/own.ts')}:3:9)\n    at main (${at('myagent/own.ts')}:5:1)`);
  });
});
