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
export function programFromSource(filename: string, text: string): Program {
  if (!TS_FILE.test(filename)) return { filename, source: text };
  try {
    return { filename, source: stripTypeScriptTypes(text, { mode: 'strip' }) };
  } catch (err) {
    const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new KernelError('ENOEXEC', `${filename}: ${message}`);
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
