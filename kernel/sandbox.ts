/**
 * Sandbox is one process's isolate: a memory-limited isolated-vm isolate whose
 * global scope holds only the userspace runtime and one syscall entry point.
 * What crosses the boundary is copied plain data: the host hands the isolate
 * `ivm.Callback`s (arguments and results copied) and a copied boot record,
 * never a Reference, an ExternalCopy or the ivm module.
 */
import { originalPositionFor, TraceMap } from '@jridgewell/trace-mapping';
import ivm from 'isolated-vm';
import { readFileSync } from 'node:fs';
import { KernelError } from '../syscalls/errno.ts';
import type { Reply } from '../syscalls/dispatch.ts';
import type { Program } from './program.ts';

const RUNTIME_FILE = 'agent-runtime.js';
const RUNTIME_SOURCE = readFileSync(new URL('../userspace/runtime.js', import.meta.url), 'utf8');
const WRAPPER_HEAD = '__start(async function main() {';
const MAX_ERROR_TEXT = 8192;

/** How a sandbox's program ended, as far as the isolate can tell. */
export type SandboxEnd =
  | { readonly kind: 'returned' }
  | { readonly kind: 'threw'; readonly error: string }
  | { readonly kind: 'memory-limit' }
  /** V8 hit a catastrophic out-of-memory path; isolated-vm quarantined the isolate instead of aborting the process. */
  | { readonly kind: 'catastrophic'; readonly message: string };

export interface BootRecord {
  readonly SYS: Readonly<Record<string, number>>;
  /** The most entries one SYS_READDIR returns. */
  readonly readdirPage: number;
  /** The most bytes one SYS_WRITE carries. */
  readonly writeMax: number;
  /** What the runtime lets cross in one syscall's arguments: string units and bytes, values, nesting. */
  readonly argUnits: number;
  readonly argNodes: number;
  readonly argDepth: number;
  readonly argv: readonly string[];
  readonly pid: number;
  readonly agentId: string;
}

export interface SandboxHooks {
  syscall(nr: unknown, args: unknown[]): Reply;
  /** end is called at most once, when the program's main settles or the isolate dies on its own. */
  end(how: SandboxEnd): void;
  /** idle is called when the program's synchronous part is done but main has not settled. */
  idle(): void;
}

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * sourcePositions maps `file:line:col` positions of a compiled program back
 * to the author's source through its source map (a program without one is
 * its own source).
 */
function sourcePositions(program: Program): (text: string) => string {
  if (program.sourceMap === undefined) return (text) => text;
  let map: TraceMap | undefined;
  const at = new RegExp(`${escapeRegExp(program.filename)}:(\\d+):(\\d+)`, 'g');
  return (text) =>
    text.replace(at, (whole, line: string, column: string) => {
      map ??= new TraceMap(program.sourceMap!);
      const pos = originalPositionFor(map, { line: Number(line), column: Math.max(0, Number(column) - 1) });
      return pos.line === null ? whole : `${program.filename}:${pos.line}:${(pos.column ?? 0) + 1}`;
    });
}

/** agentStack keeps the agent-side frames of an error text, at the author's positions, and bounds its size. */
function agentStack(text: string, toSource: (text: string) => string): string {
  // Drop the runtime's frames, isolated-vm's boundary marker and the kernel's one-line program wrapper (line 1, negative column).
  const lines = text.slice(0, MAX_ERROR_TEXT * 4).split('\n').filter((l) => !l.includes(RUNTIME_FILE) && !l.includes('<isolated-vm boundary>') && !/:1:-\d+\)?$/.test(l));
  return toSource(lines.join('\n')).slice(0, MAX_ERROR_TEXT);
}

/** syntaxMessage turns a compile error into `file:line:col: SyntaxError: …`. */
function syntaxMessage(program: Program, err: unknown, toSource: (text: string) => string): string {
  const text = err instanceof Error ? err.message : String(err);
  const at = /\[(.*):(\d+):(\d+)\]$/.exec(text);
  const message = text.replace(/\s*\[.*\]$/, '');
  return at ? `${toSource(`${program.filename}:${at[2]}:${at[3]}`)}: SyntaxError: ${message}` : `${program.filename}: SyntaxError: ${message}`;
}

/**
 * Blocking syscalls: when the kernel answers `{ later }`, the isolate gets
 * `{ wait: ticket }` and its runtime sleeps in Atomics.wait on a private
 * shared flag (its pool thread blocks, never the kernel's event loop); when
 * the reply is ready the kernel stores it, raises the flag and notifies, and
 * the runtime collects it with `__collect(ticket)`. Disposing the isolate
 * interrupts the wait.
 */
export class Sandbox {
  private readonly isolate: ivm.Isolate;
  private readonly context: ivm.Context;
  private readonly program: Program;
  private readonly toSource: (text: string) => string;
  private script: ivm.Script | undefined;
  private readonly hooks: SandboxHooks;
  private readonly wake = new Int32Array(new SharedArrayBuffer(4));
  private readonly ready = new Map<number, Reply>();
  /** The runtime's signal entry point, held host-side only (never handed to the isolate). */
  private readonly deliverRef: ivm.Reference;
  private nextTicket = 1;
  /** The ticket the isolate is sleeping on, if any. */
  private waiting: number | undefined;
  /**
   * isolate.cpuTime runs on while the isolate sleeps in Atomics.wait for a
   * blocked call, so that sleep is measured (from sleepStart) and taken out.
   */
  private sleepStart: bigint | undefined;
  private sleptNs = 0n;
  /** Host calls into the isolate under way (the program's start, signal deliveries). */
  private entered = 0;
  private ended = false;
  /** Set by start(): until the program has run, the sandbox is not idle (a handler delivered then would find none registered). */
  private started = false;

  /**
   * Sandbox makes a fresh isolate with the runtime for `program`; the
   * program itself is compiled by compile() or compileAsync() before start().
   */
  constructor(program: Program, memoryLimitMib: number, boot: BootRecord, hooks: SandboxHooks) {
    this.hooks = hooks;
    this.program = program;
    this.toSource = sourcePositions(program);
    this.isolate = new ivm.Isolate({
      memoryLimit: memoryLimitMib,
      // Without this handler some out-of-memory paths (a Map grown without bound) abort the whole host process.
      onCatastrophicError: (message: string) => setImmediate(() => this.finish({ kind: 'catastrophic', message: String(message) })),
    });
    try {
      this.context = this.isolate.createContextSync();
      const global = this.context.global;
      global.setSync('__syscall', new ivm.Callback((nr: unknown, ...args: unknown[]) => this.enter(nr, args)));
      global.setSync('__collect', new ivm.Callback((ticket: unknown) => this.collect(ticket)));
      global.setSync('__wake', new ivm.ExternalCopy(this.wake.buffer).copyInto({ release: true }));
      global.setSync('__settle', new ivm.Callback((code: unknown, text: unknown) => this.finish(code === 0 ? { kind: 'returned' } : { kind: 'threw', error: agentStack(String(text), this.toSource) })));
      global.setSync('__boot', new ivm.ExternalCopy(boot).copyInto({ release: true }));
      this.deliverRef = this.isolate.compileScriptSync(RUNTIME_SOURCE, { filename: RUNTIME_FILE }).runSync(this.context, { reference: true }) as ivm.Reference;
    } catch (err) {
      this.isolate.dispose();
      throw err;
    }
  }

  private wrapped(): string {
    return `${WRAPPER_HEAD}${this.program.source}\n});`;
  }

  private compileOptions(): ivm.ScriptOrigin {
    return { filename: this.program.filename, columnOffset: -WRAPPER_HEAD.length };
  }

  /** compile compiles the program on the calling thread (programs the operator handed over). ENOEXEC on a syntax error. */
  compile(): void {
    try {
      this.script = this.isolate.compileScriptSync(this.wrapped(), this.compileOptions());
    } catch (err) {
      throw new KernelError('ENOEXEC', syntaxMessage(this.program, err, this.toSource));
    }
  }

  /** compileAsync compiles the program on the isolate's own thread, leaving the event loop free (programs from agents). ENOEXEC. */
  async compileAsync(): Promise<void> {
    try {
      this.script = await this.isolate.compileScript(this.wrapped(), this.compileOptions());
    } catch (err) {
      if (this.isolate.isDisposed) throw new KernelError('EINTR', 'the process ended while its program was compiled');
      throw new KernelError('ENOEXEC', syntaxMessage(this.program, err, this.toSource));
    }
  }

  private enter(nr: unknown, args: unknown[]): unknown {
    const reply = this.hooks.syscall(nr, args);
    if (!('later' in reply)) return reply;
    const ticket = this.nextTicket++;
    this.waiting = ticket;
    this.sleepStart = this.isolate.cpuTime;
    void reply.later.then((final) => this.answer(ticket, final));
    return { wait: ticket };
  }

  /** answer hands the reply of a blocked call to the sleeping isolate (once per ticket). */
  private answer(ticket: number, reply: Reply): void {
    if (this.ended || this.waiting !== ticket) return;
    this.waiting = undefined;
    this.sleptNs += this.isolate.cpuTime - (this.sleepStart ?? 0n);
    this.sleepStart = undefined;
    this.ready.set(ticket, reply);
    Atomics.store(this.wake, 0, 1);
    Atomics.notify(this.wake, 0);
  }

  private collect(ticket: unknown): unknown {
    const reply = typeof ticket === 'number' ? this.ready.get(ticket) : undefined;
    if (reply === undefined) return { errno: 'EINVAL', message: 'no reply is waiting for that ticket' };
    this.ready.delete(ticket as number);
    return reply;
  }

  /** blockedInSyscall: the isolate is asleep waiting for a blocked call's reply. */
  get blockedInSyscall(): boolean {
    return this.waiting !== undefined;
  }

  /** idle: the program's synchronous part is done and nothing runs in the isolate. */
  get idle(): boolean {
    return this.started && this.entered === 0 && this.waiting === undefined && !this.ended;
  }

  /**
   * deliver runs the agent's handlers for `signals` in an idle isolate. The
   * call is queued behind anything running; a handler that throws ends the
   * program like an uncaught error.
   */
  async deliver(signals: readonly string[]): Promise<void> {
    if (this.ended) return;
    this.entered++;
    try {
      await this.deliverRef.apply(undefined, [[...signals]], { arguments: { copy: true } });
    } catch (err) {
      // Disposed meanwhile, or the handler's error was already reported through __settle;
      // but a handler that runs the isolate out of memory ends the program here.
      if (!this.ended && /memory limit/i.test(err instanceof Error ? err.message : String(err))) {
        this.releaseHandles();
        this.finish({ kind: 'memory-limit' });
      }
    } finally {
      this.entered--;
    }
    if (!this.ended && this.entered === 0 && this.waiting === undefined) this.hooks.idle();
  }

  /** start runs the program; the returned promise settles when its synchronous part is done. */
  async start(): Promise<void> {
    if (this.script === undefined) throw new KernelError('EINVAL', 'start before compile');
    this.started = true;
    this.entered++;
    try {
      await this.script.run(this.context);
      this.entered--;
      if (!this.ended && this.entered === 0) this.hooks.idle();
    } catch (err) {
      this.entered--;
      if (this.ended) return;
      const message = err instanceof Error ? err.message : String(err);
      if (/memory limit/i.test(message)) {
        this.releaseHandles();
        this.finish({ kind: 'memory-limit' });
      }
      else this.finish({ kind: 'threw', error: agentStack(err instanceof Error ? (err.stack ?? message) : message, this.toSource) });
    }
  }

  private finish(how: SandboxEnd): void {
    if (this.ended) return;
    this.ended = true;
    this.hooks.end(how);
  }

  /** cpuTimeNs is the CPU time the program has used: the isolate's, less its sleep in blocked calls. */
  get cpuTimeNs(): bigint {
    if (this.isolate.isDisposed) return 0n;
    const now = this.isolate.cpuTime;
    return now - this.sleptNs - (this.sleepStart === undefined ? 0n : now - this.sleepStart);
  }

  /** heapBytes is the isolate's used heap, for ps. */
  heapBytes(): number {
    if (this.isolate.isDisposed) return 0;
    return this.isolate.getHeapStatisticsSync().used_heap_size;
  }

  get disposed(): boolean {
    return this.isolate.isDisposed;
  }

  /** dispose stops the isolate at once, even mid-loop, and frees it. Idempotent. */
  dispose(): void {
    this.ended = true;
    if (this.isolate.isDisposed) return;
    this.releaseHandles();
    this.isolate.dispose();
  }

  /** releaseHandles frees the script and context handles; they may already be gone with the isolate. */
  private releaseHandles(): void {
    try {
      this.deliverRef.release();
      this.script?.release();
      this.context.release();
    } catch {
      // released with a dead isolate; nothing is left to free
    }
  }
}
