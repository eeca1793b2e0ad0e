/**
 * The base runtime's code cache holds the functions its boot runs
 * (kernel/runtime-bundle.ts warmCache): the first isolate to boot makes it
 * again after its boot, so later isolates do not compile each of them anew.
 * A cache made with the script alone holds its top level only.
 */
import ivm from 'isolated-vm';
import { afterAll, describe, expect, it } from 'vitest';
import { Kernel } from '../../kernel/kernel.ts';
import { programFromSource } from '../../kernel/program.ts';
import { RUNTIME_FILE, runtimeCacheBytes, runtimeSource } from '../../kernel/runtime-bundle.ts';

const kernel = new Kernel({ stdout: () => {}, stderr: () => {} });
afterAll(() => kernel.shutdown());

/** coldBytes is the size of a cache made with the runtime's script alone, in an isolate of its own. */
function coldBytes(): number {
  const isolate = new ivm.Isolate({ memoryLimit: 64 });
  try {
    const script = isolate.compileScriptSync(runtimeSource(), { filename: RUNTIME_FILE, produceCachedData: true }) as ivm.Script & { cachedData?: ivm.ExternalCopy<ArrayBuffer> };
    return script.cachedData!.copy().byteLength;
  } finally {
    isolate.dispose();
  }
}

describe("the runtime's code cache", () => {
  it('is made again once the first isolate has booted, holding the functions the boot compiled, and programs run on it', async () => {
    const program = programFromSource('echo.js', "sys.write(1, `${sys.getpid()} ${new URL('http://a/b?c=1').searchParams.get('c')}\\n`);");
    const out: string[] = [];
    const first = kernel.spawn(program, { stdout: (s) => out.push(Buffer.from(s).toString()) });
    expect((await kernel.wait(first.pid)).status).toBe(0);
    const warm = runtimeCacheBytes();
    expect(warm?.warm).toBe(true);
    expect(warm!.bytes).toBeGreaterThan(coldBytes() * 1.5);
    // Later isolates boot from the warm cache, and behave alike.
    for (let i = 0; i < 3; i++) {
      const proc = kernel.spawn(program, { stdout: (s) => out.push(Buffer.from(s).toString()) });
      expect((await kernel.wait(proc.pid)).status).toBe(0);
    }
    expect(out.map((line) => line.replace(/^\d+ /, ''))).toEqual(Array(4).fill('1\n'));
    expect(runtimeCacheBytes()).toEqual(warm);
  });
});
