/**
 * Program is an agent's source made ready for an isolate. TypeScript is
 * compiled to JavaScript by esbuild in ring 0 — asynchronously, in esbuild's
 * own process, for programs that come from agents (buildProgram), so a large
 * or broken file never holds the kernel's event loop — with a source map, so
 * agent stack traces name the author's lines. JavaScript is taken as it is.
 * Syntax errors read `file:line:column: SyntaxError: message`.
 */
import { readFileSync } from 'node:fs';
import { stop, transform, transformSync, type Message, type TransformOptions, type TransformResult } from 'esbuild';
import { KernelError } from '../abi/errno.ts';

export interface Program {
  readonly filename: string;
  readonly source: string;
  /** The source map from `source` back to the author's file, for a compiled program. */
  readonly sourceMap?: string;
  /** For a bundle: the folder the source map's `sources` are relative to (its files are shown relative to the working directory). */
  readonly sourceBase?: string;
  /** For a program built from the host's disk: the SHA-256 of `source`, naming its code cache (code-cache.ts). */
  readonly contentHash?: string;
}

/** The largest program source, bytes (UTF-16 units): a program is agent input too. */
export const MAX_PROGRAM_BYTES = 4 * 1024 * 1024;

const TS_FILE = /\.(ts|mts|cts|tsx)$/;

/** The errors a failed compile hands back: the first names the file and line; decoding 40,000 of them held the kernel's loop 855 ms (found by an attacker pass). */
const LOG_LIMIT = 10;

function options(filename: string): TransformOptions {
  return { loader: filename.endsWith('.tsx') ? 'tsx' : 'ts', sourcefile: filename, sourcemap: 'external', sourcesContent: false, target: 'esnext', logLevel: 'silent', logLimit: LOG_LIMIT };
}

function checkSize(filename: string, text: string): void {
  if (text.length > MAX_PROGRAM_BYTES) throw new KernelError('EFBIG', `${filename}: the program is ${text.length} bytes, more than ${MAX_PROGRAM_BYTES}`);
}

/** syntaxError turns esbuild's failure into ENOEXEC naming file, line and column. */
function syntaxError(filename: string, err: unknown): KernelError {
  const first = (err as { errors?: Message[] }).errors?.[0];
  if (first === undefined) return new KernelError('ENOEXEC', `${filename}: cannot compile: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
  const at = first.location ? `:${first.location.line}:${first.location.column + 1}` : '';
  return new KernelError('ENOEXEC', `${filename}${at}: SyntaxError: ${first.text}`);
}

/**
 * A program nested past the Go stack of esbuild's one long-lived process
 * (~100,000 levels of arrows, unary operators or brackets: well under
 * MAX_PROGRAM_BYTES) takes that process down, and every later transform fails
 * with one of these until the service is started again.
 */
const SERVICE_GONE = /^The service (was stopped|is no longer running)/;

function serviceGone(err: unknown): boolean {
  return err instanceof Error && SERVICE_GONE.test(err.message);
}

/** crashed is the error of a program that took esbuild's service down when it was compiled alone. */
function crashed(filename: string): KernelError {
  return new KernelError('ENOEXEC', `${filename}: cannot compile: esbuild's compiler process crashed on it (a program nested too deeply, about 100,000 levels)`);
}

/** The service's lives: a crash noticed by a build of an older life was handled already (the service was started again since). */
let life = 0;
/** Builds tried again after a crash, one at a time. */
let alone: Promise<unknown> = Promise.resolve();
/** Builds waiting in `alone`: while there are any, new builds wait their turn there too, so a retry runs alone indeed. */
let retrying = 0;

/** The builds under way, by the service's life they started in: what a stop of that life must fail (esbuild's stop() leaves them pending for good). */
const underWay = new Set<{ readonly life: number; readonly fail: (err: Error) => void }>();

/** restarted lets the next transform start a fresh service, once per crash; the builds under way in the stopped one fail as if it had crashed (and are tried again alone). */
async function restarted(lifeSeen: number): Promise<void> {
  if (lifeSeen !== life) return;
  life++;
  for (const build of underWay) {
    if (build.life !== lifeSeen) continue;
    underWay.delete(build);
    build.fail(new Error('The service was stopped'));
  }
  await stop();
}

/**
 * The longest a program from an agent may take to compile, ms. esbuild takes
 * time quadratic in some inputs (40,000 redeclarations of one name took
 * 66 s, found by an attacker pass) and cannot stop one compile: past this,
 * its process is stopped (the builds beside it are tried again, alone).
 */
export const COMPILE_MS = 10_000;

/** timedOut is the error of a program that took longer than COMPILE_MS to compile. */
function timedOut(filename: string): KernelError {
  return new KernelError('ENOEXEC', `${filename}: cannot compile: it took longer than ${COMPILE_MS} ms`);
}

/** bounded runs one transform of `text`, stopping esbuild's service if it takes longer than COMPILE_MS; `spent` is told its time. */
function bounded(filename: string, text: string, spent: (ms: number) => void): Promise<TransformResult> {
  const seen = life;
  const started = performance.now();
  let fail!: (err: Error) => void;
  const ended = new Promise<never>((_, reject) => (fail = reject));
  const build = { life: seen, fail };
  underWay.add(build);
  const timer = setTimeout(() => {
    underWay.delete(build);
    fail(timedOut(filename));
    void restarted(seen);
  }, COMPILE_MS);
  const building = transform(text, options(filename));
  // Stopped (late, or beside a build that was), the build's own end says nothing more.
  building.catch(() => undefined);
  return Promise.race([building, ended]).finally(() => {
    clearTimeout(timer);
    underWay.delete(build);
    spent(performance.now() - started);
  });
}

/**
 * transformed compiles `text` with esbuild's service. A build that the
 * service's crash (or its stop: another build ran out of time) failed is
 * tried once more, alone, on a fresh service: an innocent build then
 * succeeds, and a program that takes the service down again fails with
 * ENOEXEC, the service started again behind it.
 */
async function transformed(filename: string, text: string, spent: (ms: number) => void): Promise<TransformResult> {
  // While a crash's builds are tried again alone, a new build waits behind them: beside one, its crash would be blamed on it.
  if (retrying > 0) {
    retrying++;
    return aloneAgain(filename, text, spent);
  }
  const seen = life;
  try {
    return await bounded(filename, text, spent);
  } catch (err) {
    if (!serviceGone(err)) throw err;
    // Counted before the restart's wait: a build that starts meanwhile queues behind this one.
    retrying++;
    await restarted(seen);
    return aloneAgain(filename, text, spent);
  }
}

/** aloneAgain tries a build once more, alone (after the builds queued before it), on a fresh service; `retrying` counted it already. */
function aloneAgain(filename: string, text: string, spent: (ms: number) => void): Promise<TransformResult> {
  const turn = alone.then(async () => {
    const again = life;
    try {
      return await bounded(filename, text, spent);
    } catch (err) {
      if (!serviceGone(err)) throw err;
      await restarted(again);
      throw crashed(filename);
    } finally {
      retrying--;
    }
  });
  alone = turn.catch(() => undefined);
  return turn;
}

/**
 * programFromSource prepares `text` on the spot (esbuild's synchronous
 * API): for programs the operator hands over (a file, a registered program,
 * a test). ENOEXEC if its TypeScript does not compile, EFBIG past
 * MAX_PROGRAM_BYTES.
 */
export function programFromSource(filename: string, text: string): Program {
  checkSize(filename, text);
  if (!TS_FILE.test(filename)) return { filename, source: text };
  try {
    const out = transformSync(text, options(filename));
    return { filename, source: out.code, sourceMap: out.map };
  } catch (err) {
    if (!serviceGone(err)) throw syntaxError(filename, err);
    // The synchronous service crashed on it: started again for the next program.
    void stop();
    throw crashed(filename);
  }
}

/**
 * buildProgram prepares `text` without blocking the event loop (esbuild
 * runs in its own process): for programs that come from agents. ENOEXEC,
 * EFBIG as programFromSource; a program that crashes esbuild's process
 * fails alone (transformed). `spent` is told the time of each compile of
 * it (not the time it waited behind others), for the caller to charge.
 */
export async function buildProgram(filename: string, text: string, spent: (ms: number) => void = () => {}): Promise<Program> {
  checkSize(filename, text);
  if (!TS_FILE.test(filename)) return { filename, source: text };
  try {
    const out = await transformed(filename, text, spent);
    return { filename, source: out.code, sourceMap: out.map };
  } catch (err) {
    throw err instanceof KernelError ? err : syntaxError(filename, err);
  }
}

let warmed = false;

/**
 * warmCompiler starts esbuild's service (once per process) so that the
 * first agent to spawn a TypeScript program does not pay for it: starting
 * it holds the event loop for tens of milliseconds. Called when a kernel is
 * made.
 */
export function warmCompiler(): void {
  if (warmed) return;
  warmed = true;
  transform('', { loader: 'ts', logLevel: 'silent' }).catch(() => undefined);
}

/** programFromFile reads and prepares a program; ENOENT if it cannot be read. */
export function programFromFile(path: string): Program {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new KernelError('ENOENT', `cannot read program ${path}`);
  }
  return programFromSource(path, text);
}
