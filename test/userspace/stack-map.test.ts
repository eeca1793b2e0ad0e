/**
 * Stack traces inside a program name the author's files and lines
 * (userspace/runtime/stack-map.js): a built program runs as one bundle, and
 * `err.stack` as the program reads it is mapped through its source map —
 * frames in its own TypeScript files and in a package under node_modules,
 * async frames, Error.captureStackTrace — while the kernel's report of an
 * uncaught error is mapped once, not twice. A program that sets its own
 * Error.prepareStackTrace gets V8's call sites, and its uncaught errors are
 * still mapped by the kernel. A program without a source map is unchanged.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kernel, type KernelOptions } from '../../kernel/kernel.ts';
import type { ExitRecord } from '../../kernel/process.ts';
import { buildProgramFile, shown } from '../../kernel/program-build.ts';
import { capture, runAgent } from '../helpers.ts';

let dir: string;
let savedCache: string | undefined;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'stack-map-'));
  savedCache = process.env.AGENT_KERNEL_CACHE;
  process.env.AGENT_KERNEL_CACHE = join(dir, 'cache');
  mkdirSync(join(dir, 'p', 'node_modules', 'pkg'), { recursive: true });
  writeFileSync(join(dir, 'p', 'package.json'), '{"name":"p","type":"module"}');
  writeFileSync(join(dir, 'p', 'node_modules', 'pkg', 'package.json'), '{"name":"pkg","main":"index.js"}');
  writeFileSync(join(dir, 'p', 'node_modules', 'pkg', 'index.js'), ['// a package', 'exports.fail = function fail(why) {', '  throw new TypeError(why);', '};', ''].join('\n'));
  writeFileSync(
    join(dir, 'p', 'helper.ts'),
    ['type Count = number;', '', 'export function boom(n: Count): never {', '  throw new Error(`boom ${n}`);', '}', '', 'export async function later(n: Count): Promise<void> {', '  await null;', '  boom(n);', '}', ''].join('\n'),
  );
});
afterAll(() => {
  if (savedCache === undefined) delete process.env.AGENT_KERNEL_CACHE;
  else process.env.AGENT_KERNEL_CACHE = savedCache;
  rmSync(dir, { recursive: true, force: true });
});

/** run builds `main` (a file of the project) and runs it: what it printed and how it ended. */
async function run(name: string, main: string[], options: KernelOptions = {}): Promise<{ stdout: string; exit: ExitRecord }> {
  const file = join(dir, 'p', name);
  writeFileSync(file, main.join('\n'));
  const kernel = new Kernel(options);
  try {
    const out = capture();
    const proc = await kernel.spawnAsync(await buildProgramFile(file), { stdout: out.sink, stderr: out.sink });
    const exit = await kernel.wait(proc.pid);
    return { stdout: out.text, exit };
  } finally {
    await kernel.shutdown();
  }
}

/** at is how errors name a file of the project, as the kernel shows it (relative to the working directory when under it). */
const at = (file: string) => shown(join(dir, 'p', file));

describe("a program's own stack traces", () => {
  it("name the author's files and lines: its TypeScript, a package's JavaScript, async frames, captureStackTrace", async () => {
    const { stdout, exit } = await run('main.ts', [
      "import { boom, later } from './helper.ts';",
      "import { fail } from 'pkg';",
      '',
      'const frames = (e: unknown) => String((e as Error).stack).split("\\n").slice(0, 3).join(" | ");',
      'try { boom(1); } catch (e) { console.log(frames(e)); }',
      'try { fail("bad"); } catch (e) { console.log(frames(e)); }',
      'await later(2).catch((e) => console.log(frames(e)));',
      'const o: { stack?: string } = {};',
      'Error.captureStackTrace(o);',
      'console.log(String(o.stack).split("\\n").slice(0, 2).join(" | "));',
      'console.log(String(new Error("again").stack).split("\\n")[1]);',
    ]);
    expect(exit.status).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(`Error: boom 1 |     at boom (${at('helper.ts')}:4:9) |     at main (${at('main.ts')}:5:7)`);
    // The function's name is the bundle's (esbuild renames one that another module's name shadows: fail2).
    expect(lines[1]?.replace(/at fail\d* /, 'at fail ')).toBe(`TypeError: bad |     at fail (${at('node_modules/pkg/index.js')}:3:9) |     at main (${at('main.ts')}:6:7)`);
    expect(lines[2]).toBe(`Error: boom 2 |     at boom (${at('helper.ts')}:4:9) |     at later (${at('helper.ts')}:9:3)`);
    expect(lines[3]).toBe(`Error |     at main (${at('main.ts')}:9:7)`);
    expect(lines[4]).toBe(`    at main (${at('main.ts')}:11:20)`);
    expect(stdout).not.toContain('agent-bundle:');
  });

  it("the kernel's report of an uncaught error is mapped once: the same positions", async () => {
    // Its own frames sit further down its file than in the bundle, so a position mapped twice would name another place.
    const { exit } = await run('uncaught.ts', ["import { later } from './helper.ts';", '', 'type Unused = string;', 'const pad: number = 1;', '', '', '', '', 'async function go(): Promise<void> {', '  await later(3 * pad);', '}', 'await go();']);
    expect(exit.status).toBe(1);
    if (exit.reason.kind !== 'error') throw new Error(`expected an error exit, got ${JSON.stringify(exit.reason)}`);
    expect(exit.reason.error.split('\n').slice(0, 4)).toEqual(['Error: boom 3', `    at boom (${at('helper.ts')}:4:9)`, `    at later (${at('helper.ts')}:9:3)`, `    at async go (${at('uncaught.ts')}:10:3)`]);
  });

  it('a program with its own Error.prepareStackTrace gets call sites in the bundle; the kernel still maps its uncaught error', async () => {
    const { stdout, exit } = await run('own.ts', [
      "import { boom } from './helper.ts';",
      'Error.prepareStackTrace = (err, sites) => `${err}\\n` + sites.map((s) => `    at ${s}`).join("\\n");',
      'try { boom(4); } catch (e) { console.log(String((e as Error).stack).split("\\n")[1]); }',
      'boom(5);',
    ]);
    expect(stdout).toMatch(/^ {4}at boom \(agent-bundle:.*own\.ts:\d+:\d+\)\n$/);
    if (exit.reason.kind !== 'error') throw new Error(`expected an error exit, got ${JSON.stringify(exit.reason)}`);
    expect(exit.reason.error.split('\n').slice(0, 2)).toEqual(['Error: boom 5', `    at boom (${at('helper.ts')}:4:9)`]);
  });

  it('in a sandbox host, too: the program maps its own stack, the kernel its uncaught error', async () => {
    const { stdout, exit } = await run('hosted.ts', ["import { boom } from './helper.ts';", '', 'try { boom(6); } catch (e) { console.log(String((e as Error).stack).split("\\n")[1]); }', 'boom(7);'], { hosts: { count: 1, agentsPerHost: 4, spares: 0 } });
    expect(stdout).toBe(`    at boom (${at('helper.ts')}:4:9)\n`);
    if (exit.reason.kind !== 'error') throw new Error(`expected an error exit, got ${JSON.stringify(exit.reason)}`);
    expect(exit.reason.error.split('\n').slice(0, 3)).toEqual(['Error: boom 7', `    at boom (${at('helper.ts')}:4:9)`, `    at main (${at('hosted.ts')}:4:1)`]);
  });

  it('a stack read while a runtime layer loads leaves the layer whole (found by a review: the map came in through the layers\' one-shot __register, and the layer loading lost it)', async () => {
    const { stdout, exit } = await runAgent(
      [
        'let armed = true; const freeze = Object.freeze;',
        "Object.freeze = function (o: any) { if (armed) { armed = false; void new Error('peek').stack; } return freeze(o); } as any;",
        "console.log(new URL('http://x/y').pathname, typeof process.argv);",
        "throw new TypeError('the real error');",
      ].join('\n'),
      { filename: 'nested.ts' },
    );
    expect(stdout).toBe('/y object\n');
    expect(exit.reason).toMatchObject({ kind: 'error', error: expect.stringMatching(/^TypeError: the real error\n {4}at main \(nested\.ts:4:7\)/) });
  });

  it('a map too large for the heap stays out of the isolate: the program runs on, its frames at the bundle\'s positions (found by a review: a 4 MiB program died of the copy)', async () => {
    const lines = Array.from({ length: 100_000 }, (_, i) => `const v${i}: number = ${i};`);
    const { stdout, exit } = await runAgent(`${lines.join('\n')}\nconsole.log(String(new Error('x').stack).split('\\n')[1]);`, { filename: 'huge.ts', memoryLimitMib: 16 });
    expect(exit.status).toBe(0);
    expect(stdout).toMatch(/^ {4}at main \(agent-bundle:huge\.ts:\d+:\d+\)\n$/);
  });

  it('a frame that names a line past the bundle maps to nothing, at once', async () => {
    const { stdout } = await runAgent(
      "const prepare = Error.prepareStackTrace as (e: Error, frames: unknown[]) => string;\nconst t0 = Date.now();\nconst text = prepare(new Error('x'), [{ toString: () => 'f (agent-bundle:forged.ts:999999999:1)' }]);\nconsole.log(text.split('\\n')[1], Date.now() - t0 < 1000);",
      { filename: 'forged.ts' },
    );
    expect(stdout).toBe('    at f (agent-bundle:forged.ts:999999999:1) true\n');
  });

  it('a program without a source map keeps its positions', async () => {
    const { stdout } = await runAgent('function f() { throw new Error("plain"); }\ntry { f(); } catch (e) { console.log(e.stack.split("\\n")[1]); }', { filename: 'plain.js' });
    expect(stdout).toMatch(/^ {4}at f \(plain\.js:1:22\)\n$/);
  });
});
