/**
 * The compile host: a small process the kernel starts once
 * (compile-process.ts) that runs esbuild's binary for each program it is
 * handed. A fork of a process this small costs about a millisecond, where a
 * fork of the kernel's own (gigabytes, with its isolates) held the kernel's
 * event loop for tens (a review). Each compile runs under RLIMIT_DATA
 * (`ulimit -d`: what it can allocate, not the address space Go reserves),
 * is killed past its time or its output, and the host answers what it made
 * (the output's bytes: code and inline source map) or how it ended. Frames
 * both ways are kernel/hosts/frames.ts's, on stdin and stdout.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { encode, FrameReader } from './hosts/frames.ts';

/** What the kernel asks: compile, or stop compile `id` (the process that asked has ended). */
export type ToCompileHost =
  | { readonly t: 'compile'; readonly id: number; readonly binary: string; readonly args: readonly string[]; readonly text: string; readonly dataKib: number; readonly ms: number; readonly maxBytes: number }
  | { readonly t: 'cancel'; readonly id: number };

/** Why the host stopped a compile. */
export type Stop = 'timeout' | 'output' | 'cancel';

/** How a compile ended: its output, or its exit (code, signal), its messages, and whether the host stopped it. */
export type FromCompileHost =
  | { readonly id: number; readonly ok: true; readonly output: Uint8Array }
  | { readonly id: number; readonly ok: false; readonly code: number | null; readonly signal: string | null; readonly stderr: string; readonly stopped?: Stop; readonly spawnError?: string };

/** The most of a failed compile's messages kept, characters. */
const MAX_ERROR_CHARS = 64 * 1024;

/** The compiles under way, each with what stops it. */
const running = new Map<number, { readonly child: ChildProcess; readonly stop: (why: Stop) => void }>();

function answer(message: FromCompileHost): void {
  process.stdout.write(encode(message));
}

function compile(ask: Extract<ToCompileHost, { t: 'compile' }>): void {
  // The shell sets the limit and becomes esbuild: the limit holds for the compiler alone.
  const child = spawn('/bin/sh', ['-c', `ulimit -d ${ask.dataKib} && exec "$0" "$@"`, ask.binary, ...ask.args], { stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  let outBytes = 0;
  let stderr = '';
  let stopped: Stop | undefined;
  let spawnError: string | undefined;
  const stop = (why: Stop) => {
    stopped ??= why;
    child.kill('SIGKILL');
  };
  running.set(ask.id, { child, stop });
  const timer = setTimeout(() => stop('timeout'), ask.ms);
  child.stdout!.on('data', (chunk: Buffer) => {
    outBytes += chunk.byteLength;
    if (outBytes > ask.maxBytes) stop('output');
    else out.push(chunk);
  });
  // Decoded as a stream: a character split between two chunks stays whole.
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    if (stderr.length < MAX_ERROR_CHARS) stderr += chunk;
  });
  // A compiler gone before it read its input: the write fails, its exit says why.
  child.stdin!.on('error', () => {});
  child.on('error', (err) => (spawnError = err.message));
  child.on('close', (code, signal) => {
    clearTimeout(timer);
    running.delete(ask.id);
    if (code === 0 && stopped === undefined) answer({ id: ask.id, ok: true, output: Buffer.concat(out, outBytes) });
    else answer({ id: ask.id, ok: false, code, signal, stderr: stderr.slice(0, MAX_ERROR_CHARS), ...(stopped ? { stopped } : {}), ...(spawnError ? { spawnError } : {}) });
  });
  child.stdin!.end(ask.text, 'utf8');
}

/** quit ends the host and every compile under way (the kernel also ends the host's process group when it goes). */
function quit(status: number): never {
  for (const { child } of running.values()) child.kill('SIGKILL');
  process.exit(status);
}

const reader = new FrameReader(
  (message) => {
    const ask = message as ToCompileHost;
    if (ask.t === 'compile') compile(ask);
    else running.get(ask.id)?.stop('cancel');
  },
  // The kernel's frames are its own; one that does not decode ends the host (the kernel starts another).
  () => quit(2),
);
process.stdin.on('data', (chunk: Buffer) => reader.push(chunk));
// The kernel is gone: so are its compiles.
process.stdin.on('end', () => quit(0));
