/**
 * An agent's TypeScript, compiled by esbuild's own binary in a process of
 * its own, one per program, started by the compile host (compile-host.ts:
 * one small process, so a compile never forks the kernel's). What a program
 * from an agent can make the compiler do stays with that process: it may
 * allocate COMPILE_MEMORY_MIB (RLIMIT_DATA), is killed past COMPILE_MS and
 * past MAX_COMPILED_BYTES of output (EFBIG). (esbuild folds a TypeScript
 * enum's string members and copies them to every use: a 374-byte file
 * compiled to ~600 MB, which esbuild's long-lived service handed back to the
 * kernel's process whole, taking it down; an attacker pass.) At most
 * COMPILES_AT_ONCE run at a time; the rest wait their turn, in order, not
 * charged for it; a compile whose process ends meanwhile is dropped from the
 * queue, or stopped.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KernelError } from '../abi/errno.ts';
import type { FromCompileHost, ToCompileHost } from './compile-host.ts';
import { encode, FrameReader } from './hosts/frames.ts';
import { CallSlots } from './tools/call-slots.ts';

/** The longest a program from an agent may take to compile, ms (esbuild takes time quadratic in some inputs: 40,000 redeclarations of one name took 66 s). */
export const COMPILE_MS = 10_000;

/** What one compile may allocate, MiB: the largest ordinary program (4 MiB of TypeScript) takes ~420. */
export const COMPILE_MEMORY_MIB = 1024;

/** The most a compile may write (the code and its inline source map), bytes: past it the program is refused (EFBIG). */
export const MAX_COMPILED_BYTES = 16 * 1024 * 1024;

/** Compiles at once; the others wait. */
const COMPILES_AT_ONCE = Math.max(1, Math.min(4, availableParallelism()));

const MAP_COMMENT = '//# sourceMappingURL=data:application/json;base64,';

const HOST_MAIN = fileURLToPath(new URL(`./compile-host${extname(fileURLToPath(import.meta.url))}`, import.meta.url));

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

/** One compile asked of the host, until it answers. */
interface Asked {
  readonly filename: string;
  readonly resolve: (compiled: Compiled) => void;
  readonly reject: (err: KernelError) => void;
}

/** The host process, started on the first compile and again after it ends. */
let host: { readonly child: ChildProcess; readonly asked: Map<number, Asked> } | undefined;
let nextId = 1;

/** The longest the kernel waits for the host's answer to one compile, ms: past it the host is taken to be stuck and ended. */
const ANSWER_MS = COMPILE_MS + 5_000;

function startHost(): NonNullable<typeof host> {
  // Its own process group: when it ends, the kernel ends the compilers it started too (reparented, they would run on).
  const child = spawn(process.execPath, ['--no-node-snapshot', '--disable-warning=ExperimentalWarning', '--max-old-space-size=128', HOST_MAIN], { stdio: ['pipe', 'pipe', 'inherit'], detached: true });
  const asked = new Map<number, Asked>();
  const started = { child, asked };
  const ended = (why: string) => {
    if (host === started) host = undefined;
    killGroup(child);
    for (const [, a] of asked) a.reject(new KernelError('ENOEXEC', `${a.filename}: cannot compile: the compile host ended (${why})`));
    asked.clear();
  };
  const reader = new FrameReader(
    (message) => {
      const reply = message as FromCompileHost;
      const waiting = asked.get(reply.id);
      if (waiting === undefined) return;
      asked.delete(reply.id);
      if (reply.ok) waiting.resolve(split(Buffer.from(reply.output.buffer, reply.output.byteOffset, reply.output.byteLength).toString('utf8')));
      else waiting.reject(failure(waiting.filename, reply));
    },
    (why) => ended(why),
  );
  child.stdout!.on('data', (chunk: Buffer) => reader.push(chunk));
  child.stdin!.on('error', () => {});
  child.on('error', (err) => ended(err.message));
  child.on('exit', (code, signal) => ended(signal ?? `status ${code}`));
  holding(child, false);
  return started;
}

/** killGroup ends the host and every compiler in its process group. */
function killGroup(child: ChildProcess): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
  } catch {
    // gone already
  }
}

/** holding makes the host keep the kernel's process alive (while compiles are under way) or not (idle). */
function holding(child: ChildProcess, hold: boolean): void {
  for (const handle of [child, child.stdout, child.stdin] as unknown as { ref?: () => void; unref?: () => void }[]) {
    if (hold) handle.ref?.();
    else handle.unref?.();
  }
}

/** The compile slots: in order, a freed one handed to the first waiting, a wait given up when its process ends. */
const slots = new CallSlots(COMPILES_AT_ONCE, COMPILES_AT_ONCE);

/** turn waits for a slot (EINTR if `signal` aborts first) and returns its release. */
function turn(signal: AbortSignal | undefined): Promise<() => void> {
  return slots.take('', signal ?? new AbortController().signal).catch(() => {
    throw new KernelError('EINTR', 'the process ended while its program waited to be compiled');
  });
}

/** syntaxError reads esbuild's first error (`✘ [ERROR] text` then `file:line:column:`) into ENOEXEC naming file, line and column. */
function syntaxError(filename: string, stderr: string): KernelError {
  const text = /✘ \[ERROR\] (.*)/.exec(stderr)?.[1];
  if (text === undefined) return new KernelError('ENOEXEC', `${filename}: cannot compile: ${stderr.trim().split('\n')[0]?.slice(0, 300) || 'the compiler failed'}`);
  const at = /\n\s+\S.*?:(\d+):(\d+):\n/.exec(stderr);
  return new KernelError('ENOEXEC', `${filename}${at ? `:${at[1]}:${Number(at[2]) + 1}` : ''}: SyntaxError: ${text}`);
}

/** failure is why a compile failed, from how it ended: esbuild's errors (status 1), or why its process stopped. */
function failure(filename: string, ended: Extract<FromCompileHost, { ok: false }>): KernelError {
  if (ended.stopped === 'cancel') return new KernelError('EINTR', 'the process ended while its program was compiled');
  if (ended.stopped === 'timeout') return new KernelError('ENOEXEC', `${filename}: cannot compile: it took longer than ${COMPILE_MS} ms`);
  if (ended.stopped === 'output') return new KernelError('EFBIG', `${filename}: the program compiles to more than ${MAX_COMPILED_BYTES} bytes`);
  if (ended.spawnError !== undefined || ended.code === 126 || ended.code === 127) return new KernelError('ENOEXEC', `${filename}: cannot compile: esbuild's binary ${esbuildBinary()} could not be started (${ended.spawnError ?? `status ${ended.code}`})`);
  if (ended.code === 1 && ended.stderr.includes('✘ [ERROR]')) return syntaxError(filename, ended.stderr);
  if (/ulimit/.test(ended.stderr)) return new KernelError('ENOEXEC', `${filename}: cannot compile: the compiler's memory limit (${COMPILE_MEMORY_MIB} MiB) cannot be set, the kernel's own hard limit (ulimit -Hd) is lower: ${ended.stderr.trim().slice(0, 200)}`);
  // Go's runtime ends a process that runs out of memory with status 2, after esbuild's own messages if any.
  if (ended.code === 2 && /^fatal error: (runtime: )?out of memory/m.test(ended.stderr)) return new KernelError('ENOEXEC', `${filename}: cannot compile: esbuild's compiler process crashed on it: it needs more than ${COMPILE_MEMORY_MIB} MiB (a program nested too deeply, about 100,000 levels, or one that grows as it compiles)`);
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
 * MAX_COMPILED_BYTES; EINTR once `signal` aborts (the compile is dropped or
 * stopped). `spent` is told the compile's own time (not its wait).
 */
export async function compileTypeScript(filename: string, text: string, spent: (ms: number) => void = () => {}, signal?: AbortSignal): Promise<Compiled> {
  const path = esbuildBinary();
  const free = await turn(signal);
  const started = performance.now();
  try {
    if (signal?.aborted) throw new KernelError('EINTR', 'the process ended while its program was compiled');
    host ??= startHost();
    const { child, asked } = host;
    const id = nextId++;
    const args = [`--loader=${filename.endsWith('.tsx') ? 'tsx' : 'ts'}`, `--sourcefile=${filename}`, '--sourcemap=inline', '--sources-content=false', '--target=esnext', '--log-level=error', '--log-limit=10', '--color=false'];
    const ask: ToCompileHost = { t: 'compile', id, binary: path, args, text, dataKib: COMPILE_MEMORY_MIB * 1024, ms: COMPILE_MS, maxBytes: MAX_COMPILED_BYTES };
    const frame = encode(ask);
    if (asked.size === 0) holding(child, true);
    let cancel: (() => void) | undefined;
    let deadline: NodeJS.Timeout | undefined;
    try {
      return await new Promise<Compiled>((resolve, reject) => {
        asked.set(id, { filename, resolve, reject });
        // Aborted: the caller hears at once; the host stops the compiler.
        cancel = () => {
          asked.delete(id);
          reject(new KernelError('EINTR', 'the process ended while its program was compiled'));
          child.stdin!.write(encode({ t: 'cancel', id } satisfies ToCompileHost));
        };
        signal?.addEventListener('abort', cancel, { once: true });
        // A host that answers nothing in time is stuck: it ends, with its compilers, and every compile it held fails.
        deadline = setTimeout(() => killGroup(child), ANSWER_MS);
        child.stdin!.write(frame);
      });
    } finally {
      clearTimeout(deadline);
      if (cancel !== undefined) signal?.removeEventListener('abort', cancel);
      if (asked.size === 0) holding(child, false);
    }
  } finally {
    spent(performance.now() - started);
    free();
  }
}
