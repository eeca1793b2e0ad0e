/**
 * What an agent's error looks like to the operator: its own frames only (no
 * runtime, no host), at the author's files and lines through the program's
 * source map, bounded in size; and compile errors as
 * `file:line:col: SyntaxError: …`.
 */
import { originalPositionFor, TraceMap } from '@jridgewell/trace-mapping';
import { resolve } from 'node:path';
import { shown } from './program-build.ts';
import type { Program } from './program.ts';
import { RUNTIME_PREFIX } from './runtime-bundle.ts';

const MAX_ERROR_TEXT = 8192;

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * sourcePositions maps `file:line:col` positions of a compiled program back
 * to the author's source through its source map (a program without one is
 * its own source). In a bundle, each position names the file it came from,
 * relative to the working directory.
 */
export function sourcePositions(program: Program): (text: string) => string {
  if (program.sourceMap === undefined) return (text) => text;
  let map: TraceMap | undefined;
  const at = new RegExp(`${escapeRegExp(program.filename)}:(\\d+):(\\d+)`, 'g');
  const base = program.sourceBase;
  const fileOf = (source: string | null): string => (base === undefined || source === null ? program.filename : shown(resolve(base, source)));
  return (text) =>
    text.replace(at, (whole, line: string, column: string) => {
      map ??= new TraceMap(program.sourceMap!);
      const pos = originalPositionFor(map, { line: Number(line), column: Math.max(0, Number(column) - 1) });
      return pos.line === null ? whole : `${fileOf(pos.source)}:${pos.line}:${(pos.column ?? 0) + 1}`;
    });
}

/** agentStack keeps the agent-side frames of an error text, at the author's positions, and bounds its size. */
export function agentStack(text: string, toSource: (text: string) => string): string {
  // Keep what is above isolated-vm's boundary marker (below it are the host's frames), less the runtime's frames and the kernel's one-line program wrapper (line 1, negative column).
  const all = text.slice(0, MAX_ERROR_TEXT * 4).split('\n');
  const boundary = all.findIndex((l) => l.includes('<isolated-vm boundary>'));
  const lines = (boundary === -1 ? all : all.slice(0, boundary)).filter((l) => !l.includes(RUNTIME_PREFIX) && !/:1:-\d+\)?$/.test(l) && !/(\(|at )(node:|file:\/\/)/.test(l));
  return toSource(lines.join('\n')).slice(0, MAX_ERROR_TEXT);
}

/** syntaxMessage turns a compile error into `file:line:col: SyntaxError: …`. */
export function syntaxMessage(program: Program, err: unknown, toSource: (text: string) => string): string {
  const text = err instanceof Error ? err.message : String(err);
  const at = /\[(.*):(\d+):(\d+)\]$/.exec(text);
  let message = text.replace(/\s*\[.*\]$/, '');
  // A program an agent spawns from its VFS is one file: say so rather than leave V8's wording alone.
  if (/Cannot use import statement|Unexpected token 'export'/.test(message)) message += ' (a program spawned from the VFS is compiled as one file: imports are not bundled)';
  return at ? `${toSource(`${program.filename}:${at[2]}:${at[3]}`)}: SyntaxError: ${message}` : `${program.filename}: SyntaxError: ${message}`;
}
