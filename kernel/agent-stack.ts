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

/** What a compiled program's frames are named when it has a source map: its bundle, never one of its sources (which keep their own names once mapped). */
export const BUNDLE_SCHEME = 'agent-bundle:';

/** bundleName is the name the program is compiled under: its frames say where in it they are. */
export const bundleName = (program: Program): string => (program.sourceMap === undefined ? program.filename : `${BUNDLE_SCHEME}${program.filename}`);

/** fileShown names a source of `program`'s map as errors show it: relative to the working directory, in a bundle. */
function fileShown(program: Program, source: string | null): string {
  const base = program.sourceBase;
  return base === undefined || source === null ? program.filename : shown(resolve(base, source));
}

/**
 * sourcePositions maps `file:line:col` positions of a compiled program back
 * to the author's source through its source map (a program without one is
 * its own source). In a bundle, each position names the file it came from,
 * relative to the working directory.
 */
export function sourcePositions(program: Program): (text: string) => string {
  if (program.sourceMap === undefined) return (text) => text;
  let map: TraceMap | undefined;
  const at = new RegExp(`${escapeRegExp(bundleName(program))}:(\\d+):(\\d+)`, 'g');
  return (text) =>
    text.replace(at, (whole, line: string, column: string) => {
      map ??= new TraceMap(program.sourceMap!);
      const pos = originalPositionFor(map, { line: Number(line), column: Math.max(0, Number(column) - 1) });
      return pos.line === null ? whole : `${fileShown(program, pos.source)}:${pos.line}:${(pos.column ?? 0) + 1}`;
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
  return at ? `${toSource(`${bundleName(program)}:${at[2]}:${at[3]}`)}: SyntaxError: ${message}` : `${program.filename}: SyntaxError: ${message}`;
}

/**
 * StackMap is what ring 3 needs to map its own stack traces
 * (userspace/runtime/stack-map.js): the map's sources as errors show them,
 * its VLQ mappings as they are, and every EVERY generated lines the
 * decoder's state there ([offset into mappings, source, original line,
 * original column]), so that a frame costs at most EVERY lines of decoding.
 */
export interface StackMap {
  readonly sources: readonly string[];
  readonly mappings: string;
  readonly checkpoints: readonly number[];
  readonly every: number;
}

const EVERY = 32;

/** The runtime layer ring 3 asks for to get its program's StackMap. */
export const SOURCE_MAP_LAYER = 'source-map';
const stackMaps = new WeakMap<Program, StackMap | null>();
const DIGITS = new Int8Array(128).fill(-1);
for (const [i, c] of [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'].entries()) DIGITS[c.charCodeAt(0)] = i;

/**
 * checkpointsOf scans VLQ `mappings` once: the decoder's state at the start
 * of every EVERY-th line (see StackMap), as ring 3's decoder keeps it: a
 * segment's source, line and column count only when it has all of them (4
 * or 5 fields), and a character outside base64 ends the scan (ring 3's
 * decoder maps nothing past it either).
 */
function checkpointsOf(mappings: string): number[] {
  const out: number[] = [0, 0, 0, 0];
  const state = [0, 0, 0];
  const fields = [0, 0, 0, 0, 0];
  let n = 0;
  let value = 0;
  let shift = 0;
  const segmentEnds = () => {
    if (n >= 4) for (let i = 0; i < 3; i++) state[i]! += fields[i + 1]!;
    n = 0;
  };
  let line = 0;
  for (let at = 0; at < mappings.length; at++) {
    const c = mappings.charCodeAt(at);
    if (c === 0x2c || c === 0x3b) {
      segmentEnds();
      if (c === 0x3b && ++line % EVERY === 0) out.push(at + 1, state[0]!, state[1]!, state[2]!);
      continue;
    }
    const digit = c < 128 ? DIGITS[c]! : -1;
    if (digit < 0) break;
    value += (digit & 31) * 2 ** shift;
    shift += 5;
    if (digit & 32 && shift < 50) continue;
    if (n < 5) fields[n++] = value % 2 === 1 ? -(value - 1) / 2 : value / 2;
    value = 0;
    shift = 0;
  }
  return out;
}

/** stackMap is `program`'s StackMap (made once per program), or undefined when it has no source map or one that does not read. */
export function stackMap(program: Program): StackMap | undefined {
  const known = stackMaps.get(program);
  if (known !== undefined) return known ?? undefined;
  let made: StackMap | null = null;
  try {
    if (program.sourceMap !== undefined) {
      const raw = JSON.parse(program.sourceMap) as { mappings?: unknown; sources?: unknown; sourceRoot?: unknown };
      const mappings = typeof raw.mappings === 'string' ? raw.mappings : '';
      const root = typeof raw.sourceRoot === 'string' && raw.sourceRoot !== '' ? raw.sourceRoot.replace(/\/?$/, '/') : '';
      const sources = Array.isArray(raw.sources) ? raw.sources.map((source) => fileShown(program, typeof source === 'string' ? root + source : null)) : [];
      made = { sources, mappings, checkpoints: checkpointsOf(mappings), every: EVERY };
    }
  } catch {
    made = null;
  }
  stackMaps.set(program, made);
  return made ?? undefined;
}

/** The share of an isolate's heap a source map may take in it: a larger one is not handed in (its frames keep the bundle's positions). */
const MAP_HEAP_SHARE = 1 / 16;

/** stackMapFor is what ring 3 gets of `program`'s map in an isolate of `heapMib`: its StackMap, or undefined when it has none or it would take more than MAP_HEAP_SHARE of the heap (a string of the map's length, twice: one-byte, and the copy). */
export function stackMapFor(program: Program, heapMib: number): StackMap | undefined {
  const map = stackMap(program);
  if (map === undefined || map.mappings.length * 2 > heapMib * 2 ** 20 * MAP_HEAP_SHARE) return undefined;
  return map;
}
