/**
 * Compiling a process's program in its isolate: the program's source wrapped
 * as the runtime's `main` (so it may `await` at its top level), with
 * positions kept so errors name the author's lines. ENOEXEC on a syntax error.
 */
import type ivm from 'isolated-vm';
import { KernelError } from '../abi/errno.ts';
import { bundleName, syntaxMessage } from './agent-stack.ts';
import { cacheDir } from './build-cache.ts';
import { compileCached, programSlot } from './code-cache.ts';
import type { Program } from './program.ts';

const WRAPPER_HEAD = '__start(async function main() {';

function wrapped(program: Program): string {
  return `${WRAPPER_HEAD}${program.source}\n});`;
}

function origin(program: Program): ivm.ScriptOrigin {
  return { filename: bundleName(program), columnOffset: -WRAPPER_HEAD.length };
}

/** compileProgram compiles on the calling thread, with the program's code cache (programs the operator handed over). */
export function compileProgram(isolate: ivm.Isolate, program: Program, toSource: (text: string) => string): ivm.Script {
  try {
    return compileCached(isolate, wrapped(program), origin(program), programSlot(program, cacheDir()));
  } catch (err) {
    throw new KernelError('ENOEXEC', syntaxMessage(program, err, toSource));
  }
}

/** compileProgramAsync compiles on the isolate's own thread, leaving the event loop free (programs from agents: never cached). EINTR if the isolate is disposed meanwhile. */
export async function compileProgramAsync(isolate: ivm.Isolate, program: Program, toSource: (text: string) => string): Promise<ivm.Script> {
  try {
    return await isolate.compileScript(wrapped(program), origin(program));
  } catch (err) {
    if (isolate.isDisposed) throw new KernelError('EINTR', 'the process ended while its program was compiled');
    throw new KernelError('ENOEXEC', syntaxMessage(program, err, toSource));
  }
}
