/**
 * kernel/compile-process.ts: an agent's TypeScript compiled by esbuild's
 * binary, a process per program started by the compile host. What a review
 * found in its first form: a program near MAX_PROGRAM_BYTES failed (the
 * address-space limit counted what Go reserves, not what it uses); a
 * compile whose process had ended kept its slot and its place in the queue
 * (killed agents' 10 s compiles held every slot); a program that mentions
 * Go's out-of-memory words was reported as a crash.
 */
import { describe, expect, it } from 'vitest';
import { KernelError } from '../../abi/errno.ts';
import { compileTypeScript } from '../../kernel/compile-process.ts';
import { MAX_PROGRAM_BYTES } from '../../kernel/program.ts';

/** ordinary is ordinary TypeScript (interfaces, functions, classes) of about `chars` characters. */
function ordinary(chars: number): string {
  const parts: string[] = [];
  let size = 0;
  for (let i = 0; size < chars; i++) {
    const part = `interface I${i} { a: number; b: string; c?: I${i}[] }\nexport function f${i}(x: I${i}, y: Array<number> = [1, 2, 3]): number { const z = x.c?.map((q) => q.a + y.length) ?? []; if (x.b === 'k${i}') { return z.reduce((p, q) => p + q, 0) * ${i}; } return x.a; }\nclass C${i}<T> { private v: T; constructor(v: T) { this.v = v } get(): T { return this.v } }\n`;
    parts.push(part);
    size += part.length;
  }
  return parts.join('');
}

const errnoOf = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
    return 'resolved';
  } catch (err) {
    return err instanceof KernelError ? `${err.errno} ${err.message}` : String(err);
  }
};

describe('compiling an agent\'s TypeScript in a process of its own', () => {
  it('an ordinary program just under MAX_PROGRAM_BYTES compiles (under an address-space limit of 1 GiB it ran out of memory past ~3.3 M characters)', async () => {
    const text = ordinary(MAX_PROGRAM_BYTES - 200);
    expect(text.length).toBeLessThanOrEqual(MAX_PROGRAM_BYTES);
    const out = await compileTypeScript('big.ts', text);
    expect(out.code).toContain('function f0(x, y = [1, 2, 3])');
    expect(JSON.parse(out.map)).toMatchObject({ version: 3, sources: ['big.ts'] });
  }, 60_000);

  it('a compile whose process ends gives up its place: waiting, it is dropped; running, it is stopped (EINTR either way), and the next compile runs at once', async () => {
    const endless = 'let a0: number = 1;\n'.repeat(40_000);
    const ended = new AbortController();
    const held = Array.from({ length: 6 }, (_, i) => errnoOf(compileTypeScript(`endless-${i}.ts`, endless, () => {}, ended.signal)));
    await new Promise((r) => setTimeout(r, 300));
    ended.abort();
    expect((await Promise.all(held)).map((e) => e.split(' ')[0])).toEqual(Array(6).fill('EINTR'));
    const started = performance.now();
    expect((await compileTypeScript('fine.ts', 'const n: number = 6 * 7;')).code).toContain('const n = 6 * 7;');
    // Behind six 10 s compiles that kept their slots this took 10 s or more.
    expect(performance.now() - started).toBeLessThan(5000);
  }, 30_000);

  it("a syntax error is a syntax error even when the line holds Go's out-of-memory words (esbuild echoes the line)", async () => {
    expect(await errnoOf(compileTypeScript('x.ts', 'const x = "fatal error: out of memory" b;'))).toBe('ENOEXEC x.ts:1:40: SyntaxError: Expected ";" but found "b"');
  });
});
