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
 * relative to the working directory. A position costs at most EVERY lines
 * of decoding, from the StackMap's checkpoints (as in ring 3): the map is
 * never decoded whole, and nothing but the StackMap (cached per program) is
 * kept.
 */
export function sourcePositions(program: Program): (text: string) => string {
  if (program.sourceMap === undefined) return (text) => text;
  const at = new RegExp(`${escapeRegExp(bundleName(program))}:(\\d+):(\\d+)`, 'g');
  return (text) => {
    const map = stackMap(program);
    return map === undefined ? text : text.replace(at, (whole, line: string, column: string) => originalOf(map, Number(line), Number(column)) ?? whole);
  };
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

const COMMA = 0x2c;
const SEMICOLON = 0x3b;

/**
 * Mappings reads VLQ source-map mappings as ring 3's decoder does: a
 * segment's source, line and column count only when it has all of them (4
 * or 5 fields; past 5 the rest of the segment is skipped), and a character
 * outside base64 ends the text.
 */
class Mappings {
  /** The generated column of the segment last read, from its line's start, and whether it maps (4 or 5 fields). */
  generated = 0;
  mapped = false;

  private readonly text: string;
  /** The offset into the text, and the decoder's state there: source, original line and original column. */
  at: number;
  source: number;
  line: number;
  column: number;

  constructor(text: string, at = 0, source = 0, line = 0, column = 0) {
    this.text = text;
    this.at = at;
    this.source = source;
    this.line = line;
    this.column = column;
  }

  /** next reads on: a segment (true; `generated`, `mapped` and the state are its), a line's end (false), or the text's end (undefined). */
  next(): boolean | undefined {
    const text = this.text;
    for (;;) {
      if (this.at >= text.length) return undefined;
      const c = text.charCodeAt(this.at);
      if (c === SEMICOLON) {
        this.at++;
        this.generated = 0;
        return false;
      }
      if (c !== COMMA) return this.segment();
      this.at++;
    }
  }

  private segment(): boolean | undefined {
    const text = this.text;
    const fields = [0, 0, 0, 0];
    let n = 0;
    for (;;) {
      const c = text.charCodeAt(this.at);
      if (c === COMMA || c === SEMICOLON || Number.isNaN(c)) break;
      let value = 0;
      let shift = 0;
      let digit: number;
      do {
        const ch = text.charCodeAt(this.at++);
        digit = ch < 128 ? DIGITS[ch]! : -1;
        if (digit < 0) {
          this.at = text.length;
          return undefined;
        }
        value += (digit & 31) * 2 ** shift;
        shift += 5;
      } while (digit & 32 && shift < 50);
      if (n < 4) fields[n] = value % 2 === 1 ? -(value - 1) / 2 : value / 2;
      n++;
    }
    this.generated += fields[0]!;
    this.mapped = n === 4 || n === 5;
    if (this.mapped) {
      this.source += fields[1]!;
      this.line += fields[2]!;
      this.column += fields[3]!;
    }
    return true;
  }
}

/** checkpointsOf scans VLQ `mappings` once: the decoder's state at the start of every EVERY-th line (see StackMap). */
function checkpointsOf(mappings: string): number[] {
  const out: number[] = [0, 0, 0, 0];
  const reader = new Mappings(mappings);
  let line = 0;
  for (let read = reader.next(); read !== undefined; read = reader.next()) {
    if (read === false && ++line % EVERY === 0) out.push(reader.at, reader.source, reader.line, reader.column);
  }
  return out;
}

/**
 * originalOf is the author's `file:line:col` for the bundle's 1-based
 * `line:col` (the segment at or before the column; of segments at one
 * column, the first, as ring 3 takes it), or undefined. It decodes at most
 * EVERY lines, from the checkpoint at or before the line.
 */
function originalOf(map: StackMap, line: number, column: number): string | undefined {
  const k = Math.floor((line - 1) / map.every);
  if (line < 1 || column < 1 || k * 4 >= map.checkpoints.length) return undefined;
  const [at, source, original, originalColumn] = map.checkpoints.slice(k * 4, k * 4 + 4) as [number, number, number, number];
  const reader = new Mappings(map.mappings, at, source, original, originalColumn);
  for (let current = k * map.every; current < line - 1; ) {
    const read = reader.next();
    if (read === undefined) return undefined;
    if (read === false) current++;
  }
  let found: { generated: number; source: number; line: number; column: number } | undefined;
  while (reader.next() === true && reader.generated <= column - 1) {
    if (found === undefined || found.generated !== reader.generated) found = { generated: reader.generated, source: reader.mapped ? reader.source : -1, line: reader.line, column: reader.column };
  }
  if (found === undefined || found.source < 0 || found.source >= map.sources.length) return undefined;
  return `${map.sources[found.source]}:${found.line + 1}:${found.column + 1}`;
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
