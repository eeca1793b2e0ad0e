/**
 * What an agent's error looks like to the operator: its own frames only (no
 * runtime, no host), at the author's files and lines through the program's
 * source map, bounded in size; and compile errors as
 * `file:line:col: SyntaxError: …`.
 */
import { resolve } from 'node:path';
import { shown } from './program-build.ts';
import type { Program } from './program.ts';
import { RUNTIME_PREFIX } from './runtime-bundle.ts';
import { authorFrames, BUNDLE_SCHEME, ENTRY_SOURCE } from '../userspace/runtime/author-frames.js';

const MAX_ERROR_TEXT = 8192;

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** What a compiled program's frames are named when it has a source map: its bundle, never one of its sources (which keep their own names once mapped). */
export { BUNDLE_SCHEME };

/** bundleName is the name the program is compiled under: its frames say where in it they are. */
export const bundleName = (program: Program): string => (program.sourceMap === undefined ? program.filename : `${BUNDLE_SCHEME}${program.filename}`);

/** fileShown names a source of `program`'s map as errors show it: relative to the working directory, in a bundle; the build's entry shim by its own name (its frames are dropped). */
function fileShown(program: Program, source: string | null): string {
  const base = program.sourceBase;
  if (source !== null && (source === ENTRY_SOURCE || decodeURIComponentSafe(source) === ENTRY_SOURCE)) return ENTRY_SOURCE;
  return base === undefined || source === null ? program.filename : shown(resolve(base, source));
}

/** decodeURIComponentSafe decodes `text` (esbuild's map escapes `<` and `>` in a source's name), or keeps it when it does not decode. */
function decodeURIComponentSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * sourcePositions maps `file:line:col` positions of a compiled program back
 * to the author's source through its source map (a program without one is
 * its own source). In a bundle, each position names the file it came from,
 * relative to the working directory. A text costs at most one decoding of
 * each block of EVERY lines it names (from the StackMap's checkpoints, as in
 * ring 3), for at most 64 distinct positions (positionsOf); nothing but the
 * StackMap (cached per program) is kept.
 */
export function sourcePositions(program: Program): (text: string) => string {
  if (program.sourceMap === undefined) return (text) => text;
  const at = new RegExp(`${escapeRegExp(bundleName(program))}:(\\d+):(\\d+)`, 'g');
  return (text) => {
    const map = stackMap(program);
    if (map === undefined) return text;
    const wanted = new Map<number, number[]>();
    let distinct = 0;
    for (const match of text.matchAll(at)) {
      const [line, column] = [Number(match[1]), Number(match[2])];
      const columns = wanted.get(line) ?? [];
      if (line < 1 || column < 1 || columns.includes(column) || distinct >= MAX_POSITIONS) continue;
      columns.push(column);
      wanted.set(line, columns);
      distinct++;
    }
    const answers = positionsOf(map, wanted);
    return text.replace(at, (whole, line: string, column: string) => answers.get(`${Number(line)}:${Number(column)}`) ?? whole);
  };
}

/**
 * agentStack keeps the agent-side frames of an error text, at the author's
 * positions, and bounds its size: none of the host's, the runtime's, the
 * kernel's entry shim's or the bundler's helpers' (author-frames.js).
 */
export function agentStack(text: string, toSource: (text: string) => string): string {
  // Keep what is above isolated-vm's boundary marker (below it are the host's frames), less the runtime's frames and the kernel's one-line program wrapper (line 1, negative column).
  const all = text.slice(0, MAX_ERROR_TEXT * 4).split('\n');
  const boundary = all.findIndex((l) => l.includes('<isolated-vm boundary>'));
  const lines = (boundary === -1 ? all : all.slice(0, boundary)).filter((l) => !l.includes(RUNTIME_PREFIX) && !/:1:-\d+\)?$/.test(l) && !/(\(|at )(node:|file:\/\/)/.test(l));
  return authorFrames(toSource(lines.join('\n')).split('\n')).join('\n').slice(0, MAX_ERROR_TEXT);
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

const COMMA = 0x2c;
const SEMICOLON = 0x3b;

/** Cursor is where a decoding is in the mappings, and the decoder's state there; `broken` once a character outside base64 was met. */
interface Cursor {
  at: number;
  source: number;
  line: number;
  column: number;
  broken: boolean;
}

/**
 * OnSegment sees each segment as it is decoded: its line (0-based, from the
 * decoding's start), its generated column, and what it maps to (source -1:
 * nothing). It returns true when nothing more is needed: the rest of that
 * line is then only checked for a character outside base64, and the
 * decoding ends.
 */
type OnSegment = (line: number, generated: number, source: number, original: number, column: number) => boolean | void;

/**
 * skipLine moves `cursor` to the end of its line (before its ';') reading
 * only whether the line decodes: commas and fields, a field being digits up
 * to one below 32 or 10 digits in all (the decoder stops a value at 50
 * bits); anything else marks it broken, at that character.
 */
function skipLine(mappings: string, cursor: Cursor): void {
  let at = cursor.at;
  while (at < mappings.length) {
    const c = mappings.charCodeAt(at);
    if (c === SEMICOLON) break;
    if (c === COMMA) {
      at++;
      continue;
    }
    for (let k = 1; ; k++) {
      const ch = mappings.charCodeAt(at);
      const digit = ch < 128 ? DIGITS[ch]! : -1;
      if (digit < 0) {
        cursor.at = at;
        cursor.broken = true;
        return;
      }
      at++;
      if (!(digit & 32) || k === 10) break;
    }
  }
  cursor.at = at;
}

/**
 * decodeLines decodes `count` generated lines of VLQ `mappings` from
 * `cursor` (moved on), exactly as ring 3's decoder does
 * (userspace/runtime/stack-map.js): a segment has at most 5 fields (a 6th
 * starts the next segment); its source, line and column count only when it
 * has 4 or 5; a character outside base64 ends the decoding with
 * `cursor.broken` (ring 3 then maps nothing on that line, nor after it). The
 * segments go to `onSegment` as they come (see OnSegment). True while text
 * remains to decode.
 */
function decodeLines(mappings: string, cursor: Cursor, count: number, onSegment?: OnSegment): boolean {
  const fields = [0, 0, 0, 0, 0];
  for (let i = 0; i < count; i++) {
    if (cursor.broken || cursor.at >= mappings.length) return false;
    let generated = 0;
    while (cursor.at < mappings.length) {
      const c = mappings.charCodeAt(cursor.at);
      if (c === SEMICOLON) {
        cursor.at++;
        break;
      }
      if (c === COMMA) {
        cursor.at++;
        continue;
      }
      let n = 0;
      while (cursor.at < mappings.length && n < 5) {
        const d = mappings.charCodeAt(cursor.at);
        if (d === COMMA || d === SEMICOLON) break;
        let value = 0;
        let shift = 0;
        let digit: number;
        do {
          const ch = mappings.charCodeAt(cursor.at++);
          digit = ch < 128 ? DIGITS[ch]! : -1;
          if (digit < 0) {
            // At the character that broke it (positionsOf counts the lines before it).
            cursor.at--;
            cursor.broken = true;
            return false;
          }
          value += (digit & 31) * 2 ** shift;
          shift += 5;
        } while (digit & 32 && shift < 50);
        fields[n++] = value % 2 === 1 ? -(value - 1) / 2 : value / 2;
      }
      generated += fields[0]!;
      if (n >= 4) {
        cursor.source += fields[1]!;
        cursor.line += fields[2]!;
        cursor.column += fields[3]!;
      }
      if (onSegment?.(i, generated, n >= 4 ? cursor.source : -1, cursor.line, cursor.column) === true) {
        skipLine(mappings, cursor);
        return false;
      }
    }
  }
  return cursor.at < mappings.length;
}

/** checkpointsOf scans VLQ `mappings` once: the decoder's state at the start of every EVERY-th line (see StackMap). */
function checkpointsOf(mappings: string): number[] {
  const out: number[] = [0, 0, 0, 0];
  const cursor: Cursor = { at: 0, source: 0, line: 0, column: 0, broken: false };
  while (decodeLines(mappings, cursor, EVERY)) out.push(cursor.at, cursor.source, cursor.line, cursor.column);
  return out;
}

/** The most distinct positions one text has mapped (a stack has a few dozen; the rest of a text an agent chose stays as it is). */
const MAX_POSITIONS = 64;

/**
 * positionsOf maps `wanted` (at most MAX_POSITIONS distinct bundle positions,
 * 1-based line → columns) to the author's `file:line:col` (undefined:
 * unmapped). Each block of EVERY lines that holds one is decoded once, its
 * segments streamed, never kept: a position is the last segment at or
 * before its column (of several at one column, the first), the segments
 * read in order up to the first past the column, as ring 3 reads them.
 */
function positionsOf(map: StackMap, wanted: ReadonlyMap<number, readonly number[]>): Map<string, string | undefined> {
  const answers = new Map<string, string | undefined>();
  const blocks = new Map<number, number[]>();
  for (const line of wanted.keys()) {
    const k = Math.floor((line - 1) / map.every);
    if (k * 4 < map.checkpoints.length) blocks.set(k, [...(blocks.get(k) ?? []), line]);
  }
  for (const [k, lines] of blocks) {
    // Per wanted line: its columns ascending, how many are answered, the segment found so far and the answers so far.
    type Pending = { line: number; columns: number[]; next: number; found: [number, number, number, number] | undefined; got: (string | undefined)[] };
    const pending = new Map<number, Pending>(lines.map((line) => [(line - 1) % map.every, { line, columns: wanted.get(line)!.toSorted((a, b) => a - b), next: 0, found: undefined, got: [] }]));
    const last = Math.max(...pending.keys());
    const answer = (p: Pending, upTo: number) => {
      for (; p.next < p.columns.length && p.columns[p.next]! - 1 < upTo; p.next++) {
        const f = p.found;
        p.got.push(f === undefined || f[1] < 0 || f[1] >= map.sources.length ? undefined : `${map.sources[f[1]]}:${f[2] + 1}:${f[3] + 1}`);
      }
    };
    const [at, source, original, column] = map.checkpoints.slice(k * 4, k * 4 + 4) as [number, number, number, number];
    const cursor: Cursor = { at, source, line: original, column, broken: false };
    decodeLines(map.mappings, cursor, map.every, (i, generated, segSource, segLine, segColumn) => {
      const p = pending.get(i);
      if (p === undefined) return false;
      // A column before this segment is answered by what came before it.
      answer(p, generated);
      if (p.found === undefined || p.found[0] !== generated) p.found = [generated, segSource, segLine, segColumn];
      // The last wanted line answered: only the rest of it is looked at (for a bad character).
      return i === last && p.next === p.columns.length;
    });
    const brokenAt = cursor.broken ? countLines(map.mappings, map.checkpoints[k * 4]!, cursor.at) : Number.POSITIVE_INFINITY;
    for (const [i, p] of pending) {
      answer(p, Number.POSITIVE_INFINITY);
      // Ring 3 maps nothing on the line with a bad character, nor after it.
      p.columns.forEach((c, j) => answers.set(`${p.line}:${c}`, i >= brokenAt ? undefined : p.got[j]));
    }
  }
  return answers;
}

/** countLines is how many line ends (';') `mappings` has from `from` up to `to`. */
function countLines(mappings: string, from: number, to: number): number {
  let n = 0;
  for (let at = mappings.indexOf(';', from); at >= 0 && at < to; at = mappings.indexOf(';', at + 1)) n++;
  return n;
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
