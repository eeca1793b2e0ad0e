/**
 * Program is an agent's source made ready for an isolate: TypeScript has its
 * types stripped here, in ring 0 (whitespace replaces types, so line and
 * column numbers in agent stack traces stay true).
 */
import { stripTypeScriptTypes } from 'node:module';
import { readFileSync } from 'node:fs';
import { KernelError } from '../syscalls/errno.ts';

export interface Program {
  readonly filename: string;
  readonly source: string;
}

const TS_FILE = /\.(ts|mts|cts)$/;

/** programFromSource prepares `text`; ENOEXEC if its TypeScript cannot be stripped. */
const strip = (text: string) => stripTypeScriptTypes(text, { mode: 'strip' });

/**
 * syntaxLine finds the line of a type-stripping error: Node's stripper gives
 * no position, so look for the first prefix of the file that fails with the
 * same message (bounded, so a huge file costs little).
 */
function syntaxLine(text: string, message: string): number | undefined {
  const lines = text.split('\n');
  if (lines.length > 2000) return undefined;
  for (let k = 1; k <= lines.length; k++) {
    try {
      strip(lines.slice(0, k).join('\n'));
    } catch (err) {
      if (err instanceof Error && err.message.split('\n')[0] === message) return k;
    }
  }
  return undefined;
}

export function programFromSource(filename: string, text: string): Program {
  if (!TS_FILE.test(filename)) return { filename, source: text };
  try {
    return { filename, source: strip(text) };
  } catch (err) {
    const message = err instanceof Error ? err.message.split('\n')[0]! : String(err);
    const line = syntaxLine(text, message);
    throw new KernelError('ENOEXEC', `${filename}${line === undefined ? '' : `:${line}`}: SyntaxError: ${message}`);
  }
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
