/**
 * Program is an agent's source made ready for an isolate. TypeScript is
 * compiled to JavaScript by esbuild — for programs that come from agents
 * (buildProgram) in a process of its own per program, bounded in time,
 * memory and output (compile-process.ts), so a large, broken or hostile file
 * never holds or fills the kernel's process — with a source map, so
 * agent stack traces name the author's lines. JavaScript is taken as it is.
 * Syntax errors read `file:line:column: SyntaxError: message`.
 */
import { readFileSync } from 'node:fs';
import { stop, transformSync, type Message, type TransformOptions } from 'esbuild';
import { KernelError } from '../abi/errno.ts';
import { compileTypeScript } from './compile-process.ts';

export { COMPILE_MS } from './compile-process.ts';

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
 * A program nested past the Go stack of esbuild's process (~100,000 levels of
 * arrows, unary operators or brackets: well under MAX_PROGRAM_BYTES) takes
 * that process down; the synchronous API's is started again for the next.
 */
function serviceGone(err: unknown): boolean {
  return err instanceof Error && /^The service (was stopped|is no longer running)/.test(err.message);
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
    throw new KernelError('ENOEXEC', `${filename}: cannot compile: esbuild's compiler process crashed on it (a program nested too deeply, about 100,000 levels)`);
  }
}

/**
 * buildProgram prepares `text` without blocking the event loop, for programs
 * that come from agents: TypeScript is compiled in a process of its own,
 * bounded in time, memory and output (compile-process.ts). ENOEXEC, EFBIG as
 * programFromSource (EFBIG too for a program that compiles to more than
 * MAX_COMPILED_BYTES); EINTR once `signal` aborts. `spent` is told the
 * time of its compile (not the time it waited behind others), for the
 * caller to charge.
 */
export async function buildProgram(filename: string, text: string, spent: (ms: number) => void = () => {}, signal?: AbortSignal): Promise<Program> {
  checkSize(filename, text);
  if (!TS_FILE.test(filename)) return { filename, source: text };
  const out = await compileTypeScript(filename, text, spent, signal);
  return { filename, source: out.code, sourceMap: out.map };
}

/** builtProgram is a program built elsewhere (agentctl spawn): JavaScript as it is, with its source map (none if ''). EFBIG past MAX_PROGRAM_BYTES. */
export function builtProgram(filename: string, source: string, sourceMap: string): Program {
  checkSize(filename, source);
  return sourceMap === '' ? { filename, source } : { filename, source, sourceMap };
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
