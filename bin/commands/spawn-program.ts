/**
 * What `agentctl spawn FILE` sends agentd: the program built here, as
 * `agentctl run` builds it (kernel/program-build.ts: its relative files and
 * npm packages bundled, TypeScript compiled), so that spawn accepts what run
 * accepts. agentd compiles what it is sent as one file, so a program that
 * imports anything goes as its bundle, plain JavaScript, with the bundle's
 * source map beside it (`source_map`): agentd runs it as the JavaScript it
 * is (compiled again as TypeScript, `(a<b)>(c)` read as a generic call: a
 * review), and maps its stacks through the map to the author's lines. A
 * program that imports nothing goes so too: sent as its own text, agentd
 * compiled it as a script, without the bundle's import.meta, __dirname or
 * the project's tsconfig (an attacker pass: import.meta.url ran under run
 * and not under spawn). A program that cannot be read or does not build
 * is a usage error (status 2) naming the file and line, as with run.
 */
import { KernelError } from '../../abi/errno.ts';
import { MAX_PROGRAM_BYTES } from '../../kernel/program.ts';
import { readInput } from './input-file.ts';
import { ArgumentError } from './whole-number.ts';

/** ProgramToSend is the body of a spawn: the text and the name agentd shows it under (the file as named), and, for a bundle, its source map (agentd then runs it as the JavaScript it is). */
export interface ProgramToSend {
  readonly source: string;
  readonly filename: string;
  readonly sourceMap?: string;
}

/** programToSend builds `file` for agentd; InputFileError or ArgumentError (status 2) when it cannot be read or built. */
export async function programToSend(file: string): Promise<ProgramToSend> {
  // Read first: a file that cannot be read is named as every other command names one (input-file.ts).
  readInput(file);
  // esbuild loads only when a program is spawned: `agentctl ps` does not pay for it.
  const { buildProgramFile } = await import('../../kernel/program-build.ts');
  let program;
  try {
    program = await buildProgramFile(file);
  } catch (err) {
    if (err instanceof KernelError) throw new ArgumentError(err.message);
    throw err;
  }
  // The map is dropped rather than the program refused when both do not fit what agentd takes.
  const map = program.sourceMap ?? '';
  return { source: program.source, filename: file, sourceMap: program.source.length + map.length <= MAX_PROGRAM_BYTES ? map : '' };
}
