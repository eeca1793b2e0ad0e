/**
 * An agent's TypeScript, compiled by esbuild's own binary in a process of
 * its own, one per program: what a program from an agent can make the
 * compiler do stays with that process. Its address space is capped
 * (COMPILE_MEMORY_MIB, `ulimit -v`), it is killed past COMPILE_MS, and its
 * output is read up to MAX_COMPILED_BYTES and killed past it. (esbuild folds
 * a TypeScript enum's string members and copies them to every use: a
 * 374-byte file compiled to ~600 MB, which esbuild's long-lived service
 * handed back to the kernel's process whole, taking it down; an attacker
 * pass.) At most COMPILES_AT_ONCE run at a time; the rest wait their turn,
 * in order, without being charged for it.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { KernelError } from '../abi/errno.ts';

/** The longest a program from an agent may take to compile, ms (esbuild takes time quadratic in some inputs: 40,000 redeclarations of one name took 66 s). */
export const COMPILE_MS = 10_000;

/** The address space one compile may use, MiB: ordinary programs of the largest size take well under it. */
export const COMPILE_MEMORY_MIB = 1024;

/** The most a compile may write (the code and its inline source map), bytes: past it the program is refused (EFBIG). */
export const MAX_COMPILED_BYTES = 16 * 1024 * 1024;

/** Compiles at once; the others wait. */
const COMPILES_AT_ONCE = Math.max(1, Math.min(4, availableParallelism()));

/** The most of a failed compile's messages read, bytes. */
const MAX_ERROR_BYTES = 64 * 1024;

const MAP_COMMENT = '//# sourceMappingURL=data:application/json;base64,';

/** Compiled is a program's JavaScript and its source map back to the author's file. */
export interface Compiled {
  readonly code: string;
  readonly map: string;
}

let binary: string | undefined;

/** esbuildBinary is the path of esbuild's executable (ESBUILD_BINARY_PATH, else the platform package npm installed beside esbuild). */
function esbuildBinary(): string {
  if (binary !== undefined) return binary;
  const named = process.env.ESBUILD_BINARY_PATH;
  if (named !== undefined && named !== '') return (binary = named);
  const require = createRequire(import.meta.url);
  const file = process.platform === 'win32' ? 'esbuild.exe' : 'bin/esbuild';
  try {
    return (binary = require.resolve(`@esbuild/${process.platform}-${process.arch}/${file}`));
  } catch {
    throw new KernelError('ENOEXEC', `cannot compile TypeScript: esbuild's binary for ${process.platform}-${process.arch} is not installed (npm ci installs it)`);
  }
}

/** Slots: compiles under way, and the ones waiting for a turn. */
let running = 0;
const waiting: (() => void)[] = [];

async function turn(): Promise<() => void> {
  if (running >= COMPILES_AT_ONCE) await new Promise<void>((resolve) => waiting.push(resolve));
  running++;
  let freed = false;
  return () => {
    if (freed) return;
    freed = true;
    running--;
    waiting.shift()?.();
  };
}

/** syntaxError reads esbuild's first error (`✘ [ERROR] text` then `file:line:column:`) into ENOEXEC naming file, line and column. */
function syntaxError(filename: string, stderr: string): KernelError {
  const text = /✘ \[ERROR\] (.*)/.exec(stderr)?.[1];
  if (text === undefined) return new KernelError('ENOEXEC', `${filename}: cannot compile: ${stderr.trim().split('\n')[0]?.slice(0, 300) || 'the compiler failed'}`);
  const at = /\n\s+\S.*?:(\d+):(\d+):\n/.exec(stderr);
  return new KernelError('ENOEXEC', `${filename}${at ? `:${at[1]}:${Number(at[2]) + 1}` : ''}: SyntaxError: ${text}`);
}

/** failure is why a compile that did not end well failed, from how it ended and what it said. */
function failure(filename: string, ended: { code: number | null; signal: NodeJS.Signals | null }, stderr: string, why: 'timeout' | 'output' | undefined): KernelError {
  if (why === 'timeout') return new KernelError('ENOEXEC', `${filename}: cannot compile: it took longer than ${COMPILE_MS} ms`);
  if (why === 'output') return new KernelError('EFBIG', `${filename}: the program compiles to more than ${MAX_COMPILED_BYTES} bytes`);
  if (/fatal error: out of memory/.test(stderr)) return new KernelError('ENOEXEC', `${filename}: cannot compile: esbuild's compiler process crashed on it: it needs more than ${COMPILE_MEMORY_MIB} MiB (a program nested too deeply, about 100,000 levels, or one that grows as it compiles)`);
  if (ended.code === 1 && stderr.includes('[ERROR]')) return syntaxError(filename, stderr);
  return new KernelError('ENOEXEC', `${filename}: cannot compile: esbuild's compiler process crashed on it (${ended.signal ?? `status ${ended.code}`})`);
}

/** split takes the inline source map off the end of esbuild's output. */
function split(output: string): Compiled {
  const at = output.lastIndexOf(MAP_COMMENT);
  if (at === -1) return { code: output, map: '' };
  return { code: output.slice(0, at), map: Buffer.from(output.slice(at + MAP_COMMENT.length).trim(), 'base64').toString('utf8') };
}

/**
 * compileTypeScript compiles `text` (TypeScript; TSX for a `.tsx` file) in a
 * process of its own. ENOEXEC names file, line and column on a syntax error,
 * or why the compiler stopped (time, memory, a crash); EFBIG past
 * MAX_COMPILED_BYTES. `spent` is told the compile's own time (not its wait).
 */
export async function compileTypeScript(filename: string, text: string, spent: (ms: number) => void = () => {}): Promise<Compiled> {
  const path = esbuildBinary();
  const free = await turn();
  const started = performance.now();
  try {
    return await new Promise<Compiled>((resolve, reject) => {
      const args = [`--loader=${filename.endsWith('.tsx') ? 'tsx' : 'ts'}`, `--sourcefile=${filename}`, '--sourcemap=inline', '--sources-content=false', '--target=esnext', '--log-level=error', '--log-limit=10', '--color=false'];
      // The shell sets the limit and becomes esbuild: the limit holds for the compiler alone.
      const child = spawn('/bin/sh', ['-c', `ulimit -v ${COMPILE_MEMORY_MIB * 1024} && exec "$0" "$@"`, path, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      let outBytes = 0;
      let err = '';
      let why: 'timeout' | 'output' | undefined;
      const stop = (reason: 'timeout' | 'output') => {
        why ??= reason;
        child.kill('SIGKILL');
      };
      const timer = setTimeout(() => stop('timeout'), COMPILE_MS);
      child.stdout.on('data', (chunk: Buffer) => {
        outBytes += chunk.byteLength;
        if (outBytes > MAX_COMPILED_BYTES) stop('output');
        else out.push(chunk);
      });
      child.stderr.on('data', (chunk: Buffer) => {
        if (err.length < MAX_ERROR_BYTES) err += chunk.toString('utf8');
      });
      // A compiler that is gone before it read its input: the write fails, the exit says why.
      child.stdin.on('error', () => {});
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(new KernelError('ENOEXEC', `${filename}: cannot compile: esbuild could not be started (${e.message})`));
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        if (code === 0 && why === undefined) resolve(split(Buffer.concat(out, outBytes).toString('utf8')));
        else reject(failure(filename, { code, signal }, err, why));
      });
      child.stdin.end(text, 'utf8');
    });
  } finally {
    spent(performance.now() - started);
    free();
  }
}
