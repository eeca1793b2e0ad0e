/**
 * Building a program: what its author reads when a build is refused, and a
 * VFS program with imports (compiled as one file) saying why it fails.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProgramFile } from '../../kernel/program-build.ts';
import { Kernel } from '../../kernel/kernel.ts';
import { runAgent } from '../helpers.ts';

let dir: string;
let savedCache: string | undefined;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'program-build-'));
  savedCache = process.env.AGENT_KERNEL_CACHE;
  process.env.AGENT_KERNEL_CACHE = join(dir, 'cache');
  mkdirSync(join(dir, 'p'));
  writeFileSync(join(dir, 'p', 'package.json'), '{"name":"p"}');
});
afterAll(() => {
  if (savedCache === undefined) delete process.env.AGENT_KERNEL_CACHE;
  else process.env.AGENT_KERNEL_CACHE = savedCache;
  rmSync(dir, { recursive: true, force: true });
});

async function refusal(name: string, source: string): Promise<string> {
  const file = join(dir, 'p', name);
  writeFileSync(file, source);
  try {
    await buildProgramFile(file);
    return 'built';
  } catch (err) {
    return `${(err as { errno?: string }).errno}: ${(err as Error).message}`;
  }
}

describe('a refused build', () => {
  it('names the built-in and the governed way to do the same (found by a newcomer: zlib and stream read "use not provided")', async () => {
    expect(await refusal('net.js', "import net from 'node:net'; net.connect();")).toMatch(/^ENOEXEC: .*net\.js:1:17: imports node:net, which agent programs cannot use; use fetch\(\) \(http\.fetch, governed by policy\)/);
    expect(await refusal('zlib.js', "import zlib from 'zlib'; zlib.gzipSync('x');")).toMatch(/imports node:zlib, which agent programs cannot use; compression is not provided/);
    expect(await refusal('stream.js', "import { Readable } from 'node:stream'; Readable.from([]);")).toMatch(/imports node:stream, which agent programs cannot use; use fs\.promises for files, and web streams/);
  });
});

describe('a program spawned from the VFS', () => {
  it('is one file: an import fails with a message that says so', async () => {
    const { exit, stdout } = await runAgent("sys.writeFile('mem/child.js', \"import x from './y.js';\"); try { sys.spawn('mem/child.js'); } catch (e) { console.log(e.errno, e.message); }");
    expect(exit.status).toBe(0);
    expect(stdout).toMatch(/^ENOEXEC .*Cannot use import statement outside a module \(a program spawned from the VFS is compiled as one file: imports are not bundled\)\n$/);
  });
});

describe('a built program using node:fs', () => {
  // Found by a review: a recursive mkdir whose probe of the path failed for another reason than ENOENT reported the
  // probe (syscall 'stat', on a parent) where Node reports mkdir on the path asked for.
  it('a recursive mkdir that fails says mkdir and the path asked for, as Node does', async () => {
    const file = join(dir, 'p', 'mkdir.mjs');
    writeFileSync(file, "import fs from 'node:fs'; const long = 'a'.repeat(300); try { fs.mkdirSync(`/tmp/x/${long}/y`, { recursive: true }); } catch (e) { console.log(e.code, e.syscall, e.path === `/tmp/x/${long}/y`); }");
    const kernel = new Kernel();
    let out = '';
    const proc = kernel.spawn(await buildProgramFile(file), { stdout: (chunk) => void (out += new TextDecoder().decode(chunk)), stderr: () => {} });
    const exit = await kernel.wait(proc.pid);
    await kernel.shutdown();
    expect({ status: exit.status, reason: exit.reason, out }).toEqual({ status: 0, reason: expect.anything(), out: 'ENAMETOOLONG mkdir true\n' });
  });
});
