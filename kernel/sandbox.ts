/**
 * Sandbox is one process's isolate: a memory-limited isolated-vm isolate whose
 * global scope holds only the userspace runtime and one syscall entry point.
 * What crosses the boundary is copied plain data: the host hands the isolate
 * `ivm.Callback`s (arguments and results copied) and a copied boot record,
 * never a Reference, an ExternalCopy or the ivm module (a runtime layer's
 * own function goes back in, before the program runs: sandbox-layers.ts).
 */
import ivm from 'isolated-vm';
import { KernelError } from '../abi/errno.ts';
import { agentStack, sourcePositions } from './agent-stack.ts';
import type { Completion } from './async-calls.ts';
import { compileProgram, compileProgramAsync } from './program-compile.ts';
import type { Program } from './program.ts';
import type { BoundaryTape, Entry, TapeDriver } from './run-tape/boundary-tape.ts';
import { SandboxTape } from './run-tape/sandbox-tape.ts';
import { type BootCalls, type BootedRuntime, bootRuntime, chargedCpu, othersStarting, startingOne } from './sandbox-boot.ts';
import { watchDisposal } from './disposal-watch.ts';
import type { WireReply } from './wire-reply.ts';
import { RejectionReports, stoppedBy } from './isolate-reports.ts';
import { giveLayers, sourceMapOnce } from './sandbox-layers.ts';
import { handedBack } from './crossing-turn.ts';
import { SandboxCalls } from './sandbox-calls.ts';
import type { BootRecord, ProcessSandbox, SandboxEnd, SandboxHooks } from './process-sandbox.ts';
import { freshIsolate } from './spare-isolates.ts';

/** What a host function answers once its sandbox is disposed (its isolate can no longer call it). */
const ENDED: WireReply = { t: 'fault', errno: 'EINTR', message: 'the process has ended' };

/**
 * Its syscalls, blocking and asynchronous, come in through SandboxCalls
 * (kernel/sandbox-calls.ts); completions go back through the runtime's
 * `complete` entry point, which only the kernel holds (a Reference taken
 * from the runtime before the program runs). Disposing the isolate
 * interrupts a blocked call's wait.
 *
 * The process ends (Node's rule) when main has settled, nothing runs in the
 * isolate and no referenced asynchronous call is outstanding; a main that
 * never settles with nothing outstanding leaves the process idle (blocked)
 * until a signal or a limit ends it.
 */
export class Sandbox implements ProcessSandbox {
  private readonly isolate: ivm.Isolate;
  /** The context made with a spare isolate (spare-isolates.ts), until the runtime's boot takes it. */
  private readyContext: ivm.Context | undefined;
  private readonly program: Program;
  private readonly toSource: (text: string) => string;
  private script: ivm.Script | undefined;
  private readonly hooks: SandboxHooks;
  /** The context and the runtime's signal and completion entry points, held host-side only (never handed to the isolate), once booted. */
  private runtime: BootedRuntime | undefined;
  private booting: Promise<BootedRuntime> | undefined;
  /** The boot record until the runtime has it (argv and env can be megabytes: a review found them kept for the process's life); then only its layers and whether they come warm. */
  private boot: BootRecord | undefined;
  private readonly layers: readonly string[];
  /** Its layers come with their warm code caches (the boot record's commonPaths). */
  private readonly commonPaths: boolean;
  /** Counts this sandbox as starting until its program's synchronous part is over or blocks (or it is disposed first). */
  private readonly doneStarting: () => void;
  /** Aborted when the sandbox is disposed: the cancel signal of blocking calls. */
  private readonly lifetime = new AbortController();
  /** Its syscalls' way into the kernel. */
  private readonly calls: SandboxCalls;
  /** main's exit status once it has settled (process.exitCode may update it). */
  private mainStatus: number | undefined;
  /** The source map, for ring 3's first stack trace (sandbox-layers.ts). */
  private readonly sourceMap: (name: unknown) => unknown;
  /** Host calls into the isolate under way (the program's start, signal deliveries). */
  private entered = 0;
  private ended = false;
  private readonly reports: RejectionReports;
  /** Set by start(): until the program has run, the sandbox is not idle (a handler delivered then would find none registered). */
  private started = false;
  /** A recorded or replayed run's tape (kernel/run-tape): it sees every crossing, and a replay answers for the kernel. */
  private readonly tape: BoundaryTape | undefined;
  private readonly taping: SandboxTape | undefined;
  /**
   * What the host functions handed to isolated-vm (the runtime's callbacks,
   * the catastrophic-error handler) reach this sandbox through. isolated-vm
   * lets go of them some time after the isolate is disposed — in a spawn
   * loop 300–450 disposed sandboxes, each with its process, tree and VFS,
   * were still held that way — so dispose() cuts this link and they hold
   * nothing of the kernel's.
   */
  private readonly link: { to: Sandbox | undefined } = { to: this };
  private readonly driver: TapeDriver = {
    batch: (batch) => void this.deliverBatch(batch).then(() => this.afterEntry()),
    signals: (names) => void this.deliver(names),
  };

  /**
   * Sandbox makes a fresh isolate with the runtime for `program`; the
   * program itself is compiled by compile() or compileAsync() before start().
   */
  constructor(program: Program, memoryLimitMib: number, boot: BootRecord, hooks: SandboxHooks, tape?: BoundaryTape) {
    this.hooks = hooks;
    this.tape = tape;
    this.taping = tape === undefined ? undefined : new SandboxTape(tape, hooks.charge);
    this.calls = new SandboxCalls({
      hooks,
      tape,
      lifetime: this.lifetime.signal,
      cpuTime: () => this.isolate.cpuTime,
      doneStarting: () => this.doneStarting(),
      ended: () => this.ended,
      deliver: (batch) => this.deliverBatch(batch),
      after: () => this.afterEntry(),
    });
    this.program = program;
    this.sourceMap = sourceMapOnce(program, memoryLimitMib, hooks.charge);
    // Copying a reason back in is the kernel's work for the program (a listener that rejects again loops in follow).
    this.reports = new RejectionReports(
      (err) => this.reportable(err),
      (reason) => chargedCpu(hooks.charge, () => this.booted.rejected.apply(undefined, [reason], { arguments: { copy: true } })),
    );
    // Mapping an error through the program's source map decodes the map on the event loop (~77 ms for a 3.5 MiB TypeScript program): the tree pays.
    const toSource = sourcePositions(program);
    this.toSource = program.sourceMap === undefined ? toSource : (text) => chargedCpu(hooks.charge, () => toSource(text));
    this.boot = boot;
    this.layers = boot.layers ?? [];
    this.commonPaths = boot.commonPaths === true;
    const fresh = freshIsolate(memoryLimitMib, hooks.charge);
    fresh.catastrophe.to = Sandbox.onCatastrophe(this.link);
    this.isolate = fresh.isolate;
    this.readyContext = fresh.context;
    this.doneStarting = startingOne();
  }

  /**
   * startBoot lays the context and the runtime out (sandbox-boot.ts says on
   * which thread; the tree pays for the event loop's part) once the program
   * is compiled: a synchronous compile would otherwise wait for the
   * isolate's lock. start() waits for it.
   */
  private startBoot(): void {
    const boot = this.boot;
    if (boot === undefined) throw new Error('the runtime is booting already');
    this.boot = undefined;
    const ready = this.readyContext;
    this.readyContext = undefined;
    this.booting = bootRuntime(this.isolate, ready, boot, this.calls.blocked.buffer, Sandbox.hostCalls(this.link, this.taping !== undefined), !othersStarting(), (ns) => this.hooks.charge(ns)).then((runtime) => (this.runtime = runtime));
    this.booting.catch(() => undefined);
  }

  /**
   * hostCalls are the runtime's callbacks. They are made here, apart from
   * any method's scope, so that their closures hold `link` and nothing else
   * (V8 gives the closures of one scope one context: made in startBoot, they
   * held the sandbox itself). A disposed isolate calls none of them; once it
   * is, they answer as if the process had ended.
   */
  private static hostCalls(link: { readonly to: Sandbox | undefined }, clock: boolean): BootCalls {
    return {
      syscall: (nr, ...args) => handedBack(link.to?.calls.enter(nr, args) ?? ENDED),
      async: (flags, nr, ...args) => handedBack(link.to?.calls.enterAsync(typeof flags === 'number' ? flags : 0, nr, args) ?? ENDED),
      collect: (ticket) => handedBack(link.to?.calls.collect(ticket) ?? ENDED),
      layer: (name) => (link.to?.runtime === undefined ? false : link.to.sourceMap(name)),
      settle: (code, text) => link.to?.settled(code, text),
      ...(clock ? { clock: () => link.to?.taping?.clock() ?? 0 } : {}),
    };
  }

  /** onCatastrophe is the isolate's catastrophic-error handler, made apart from the constructor's scope for the same reason. */
  private static onCatastrophe(link: { readonly to: Sandbox | undefined }): (message: string) => void {
    return (message) => setImmediate(() => link.to?.finish({ kind: 'catastrophic', message: String(message) }));
  }

  /** compile compiles the program on the calling thread (programs the operator handed over). ENOEXEC on a syntax error. */
  compile(): void {
    this.script = compileProgram(this.isolate, this.program, this.toSource);
    this.startBoot();
  }

  /** compileAsync compiles the program on the isolate's own thread, leaving the event loop free (programs from agents). ENOEXEC, EINTR. */
  async compileAsync(): Promise<void> {
    // The program's text is copied into the isolate on the event loop before the compile leaves it (~2 ms for 4 MiB): the tree pays.
    const copying = performance.now();
    const compiled = compileProgramAsync(this.isolate, this.program, this.toSource);
    this.hooks.charge((performance.now() - copying) * 1e6);
    this.script = await compiled;
    this.startBoot();
  }

  /** reportable: `err`, failing a compile or run in the isolate, is isolated-vm's report of a rejection, not the kernel stopping it (out of memory, a disposed isolate). */
  private reportable(err: unknown): boolean {
    return !this.ended && this.runtime !== undefined && !this.isolate.isDisposed && stoppedBy(err) === undefined;
  }

  /** settled takes main's end from the runtime: `text` '' is a normal end with status `code`; else an uncaught error (status 7: a listener of the program's threw). */
  private settled(code: unknown, text: unknown): void {
    if (typeof text === 'string' && text !== '') {
      this.finish({ kind: 'threw', error: agentStack(text, this.toSource), ...(code === 7 ? { status: 7 as const } : {}) });
      return;
    }
    this.mainStatus = typeof code === 'number' && Number.isInteger(code) && code >= 0 && code <= 255 ? code : 1;
  }

  /** nudge has the runtime issue the calls it holds back (the way to the kernel has room again). */
  nudge(): void {
    this.calls.nudge();
  }

  /** hold: the process is stopped (its new asynchronous calls are held back in ring 3) or continued (they go now). */
  hold(stopped: boolean): void {
    this.calls.hold(stopped);
  }

  /** entry runs `apply` (a host→isolate call); with a tape, in the tape's lane. */
  private entry(what: Entry, apply: () => Promise<unknown>): Promise<unknown> {
    const run = () => this.reports.follow(apply());
    return this.taping === undefined ? run() : this.taping.entry(what, () => this.ended, run);
  }

  /** cancel aborts outstanding call `id` (its completion, ECANCELED or not, still comes). False if there is none. */
  cancel(id: number): boolean {
    return this.calls.cancel(id);
  }

  /** booted is the runtime's entry points; only calls the program made (so after its start) reach for them. */
  private get booted(): BootedRuntime {
    if (this.runtime === undefined) throw new Error('the runtime has not booted');
    return this.runtime;
  }

  /** deliverBatch hands completions to the runtime's complete() (behind anything running in the isolate). */
  private async deliverBatch(batch: Completion[]): Promise<void> {
    this.entered++;
    try {
      await this.entry({ batch }, () => {
        // The batch's copy into the isolate is made here, on the kernel's thread: the process's tree pays for it (an
        // attacker pass: with fetches' answers, most of the loop's time an agent took was billed to no one).
        const copying = performance.now();
        try {
          return this.booted.complete.apply(undefined, [batch], { arguments: { copy: true } });
        } finally {
          this.hooks.charge((performance.now() - copying) * 1e6);
        }
      });
    } catch (err) {
      this.failedEntry(err);
    } finally {
      this.entered--;
    }
  }

  /**
   * failedEntry handles a host→isolate call that failed: out of memory ends
   * the program (SIGKILL); any other error escaping the isolate (a promise
   * rejected with nobody to catch it, in a callback after main) ends it as an
   * uncaught error, as in Node; a disposed isolate has ended already.
   */
  private failedEntry(err: unknown): void {
    if (this.ended) return;
    const message = err instanceof Error ? err.message : String(err);
    if (stoppedBy(err) === 'memory') {
      this.releaseHandles();
      this.finish({ kind: 'memory-limit' });
      return;
    }
    if (this.isolate.isDisposed) return;
    this.finish({ kind: 'threw', error: agentStack(err instanceof Error ? (err.stack ?? message) : message, this.toSource) });
  }

  /** afterEntry runs when a host→isolate call is over: the process ends if main settled and nothing keeps it, else it is idle. */
  private afterEntry(): void {
    if (this.ended || this.entered > 0 || this.calls.blocked.sleeping) return;
    const status = this.mainStatus;
    const ending = status !== undefined && !this.calls.keeps;
    if (this.tape?.idle(this.driver, ending) === true) return;
    if (ending) {
      this.finish({ kind: 'returned', status });
      return;
    }
    this.hooks.idle();
  }

  /** blockedInSyscall: the isolate is asleep waiting for a blocked call's reply. */
  get blockedInSyscall(): boolean {
    return this.calls.blocked.sleeping;
  }

  /** idle: the program's synchronous part is done and nothing runs in the isolate. */
  get idle(): boolean {
    return this.started && this.entered === 0 && !this.calls.blocked.sleeping && !this.ended;
  }

  get waitsOnNothing(): boolean {
    return this.idle && this.mainStatus === undefined && !this.calls.keeps;
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
      await this.entry({ signals }, () => this.booted.deliver.apply(undefined, [[...signals]], { arguments: { copy: true } }));
    } catch (err) {
      // Disposed meanwhile, or the handler's error was already reported through __settle;
      // but a handler that runs the isolate out of memory ends the program here.
      this.failedEntry(err);
    } finally {
      this.entered--;
    }
    this.afterEntry();
  }

  /** start runs the program; the returned promise settles when its synchronous part is done. */
  async start(): Promise<void> {
    if (this.script === undefined || this.booting === undefined) throw new KernelError('EINVAL', 'start before compile');
    try {
      // Disposed while booting (a signal, its tree gone), out of memory, or the program threw: as a failed host→isolate call.
      const runtime = await this.booting;
      await giveLayers(this.isolate, runtime, this.layers, this.commonPaths, this.hooks.charge);
      this.started = true;
      this.entered++;
      const running = this.reports.follow(this.script.run(runtime.context));
      this.taping?.started(running);
      await running.finally(() => this.entered--);
      this.afterEntry();
    } catch (err) {
      this.failedEntry(err);
    } finally {
      this.doneStarting();
    }
  }

  private finish(how: SandboxEnd): void {
    if (this.ended) return;
    this.ended = true;
    this.abortAll();
    this.hooks.end(how);
  }

  /** abortAll cancels every call still running for the process (timers, tool calls, fetches): nothing outlives it. */
  private abortAll(): void {
    if (!this.lifetime.signal.aborted) this.lifetime.abort();
    this.calls.abortAll();
  }

  /** cpuTimeNs is the CPU time the program has used: the isolate's, less its sleep in blocked calls. */
  get cpuTimeNs(): bigint {
    if (this.isolate.isDisposed) return 0n;
    return this.calls.blocked.cpuNs(this.isolate.cpuTime);
  }

  get disposed(): boolean {
    return this.isolate.isDisposed;
  }

  /** quarantine: this isolate lived in the kernel's own process, which isolated-vm says should end soon. */
  quarantine(): boolean {
    return false;
  }

  /** dispose stops the isolate at once, even mid-loop, and frees it. Idempotent. */
  dispose(): void {
    this.ended = true;
    this.doneStarting();
    this.abortAll();
    if (!this.isolate.isDisposed) {
      // Freeing the isolate's heap is the event loop's work, more the more the agent held: its tree pays.
      const freeing = performance.now();
      this.releaseHandles();
      this.isolate.dispose();
      this.hooks.charge((performance.now() - freeing) * 1e6);
      // A call into it still running STUCK_MS later is a thread nothing stops (disposal-watch.ts).
      if (this.entered > 0) watchDisposal(() => this.entered > 0, (why) => this.hooks.stuck?.(why));
    }
    this.link.to = undefined;
  }

  /** releaseHandles frees the script and context handles; they may already be gone with the isolate. */
  private releaseHandles(): void {
    try {
      this.runtime?.deliver.release();
      this.runtime?.complete.release();
      this.runtime?.rejected.release();
      this.runtime?.give.release();
      this.script?.release();
      this.runtime?.context.release();
    } catch {
      // released with a dead isolate; nothing is left to free
    }
  }
}
