/**
 * Segment naming for the file decision log. A log named by one path (say
 * `decisions.jsonl`) is a series of segments: segment 1 is that path itself,
 * segment k ≥ 2 inserts k, zero-padded to six digits, before the extension
 * (`decisions.000002.jsonl`, `decisions.000003.jsonl`, …; a path without an
 * extension gets it as a suffix: `decisions.000002`). A log that never rolled
 * is one segment, so every single-file log is a valid segmented log.
 * Sequence numbers and the hash chain run on across segments: the first
 * record of segment k names the last hash of segment k−1, and the segments
 * read in order are the same bytes a single file would hold.
 */
import { readdirSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { type ChunkOptions, LineSplitter, type LineSink, readChunks } from './line-reader.ts';

export interface Segment {
  /** 1 for the log's own path, 2, 3, … for later segments. */
  readonly index: number;
  readonly path: string;
  /** The file name alone, for messages. */
  readonly name: string;
}

const DIGITS = 6;

function parts(base: string): { dir: string; stem: string; ext: string } {
  const name = basename(base);
  const ext = extname(name);
  return { dir: dirname(base), stem: name.slice(0, name.length - ext.length), ext };
}

/** segmentPath is the path of segment `index` (≥ 1) of the log at `base`. */
export function segmentPath(base: string, index: number): string {
  if (index === 1) return base;
  const { dir, stem, ext } = parts(base);
  return join(dir, `${stem}.${String(index).padStart(DIGITS, '0')}${ext}`);
}

/**
 * segmentBaseOf reads `path` as a later segment's name (`name.000003.jsonl`,
 * `name.000003`) and returns the log it would belong to and its index, or
 * undefined when the name has no segment number. Whether that log exists is
 * the caller's to check.
 */
export function segmentBaseOf(path: string): { base: string; index: number } | undefined {
  const name = basename(path);
  const m = /^(.+)\.(\d{6,})((?:\.[^.]*)?)$/.exec(name);
  if (m === null) return undefined;
  const index = Number(m[2]);
  if (index < 2 || !Number.isSafeInteger(index) || String(index).padStart(DIGITS, '0') !== m[2]) return undefined;
  return { base: join(dirname(path), `${m[1]}${m[3]}`), index };
}

/** segmentOf names segment `index` of the log at `base`. */
export function segmentOf(base: string, index: number): Segment {
  const path = segmentPath(base, index);
  return { index, path, name: basename(path) };
}

/**
 * listSegments returns the segments of the log at `base` that exist, in
 * order (numbers may have gaps: a missing segment is the verifier's to
 * report). An empty list when neither the log nor its directory exists.
 * Errors other than ENOENT reading the directory are thrown.
 */
export function listSegments(base: string): Segment[] {
  const { dir, stem, ext } = parts(base);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const first = basename(base);
  const prefix = `${stem}.`;
  const found: Segment[] = [];
  for (const name of names) {
    if (name === first) {
      found.push({ index: 1, path: base, name });
      continue;
    }
    if (!name.startsWith(prefix) || !name.endsWith(ext)) continue;
    const digits = name.slice(prefix.length, name.length - ext.length);
    if (!/^\d+$/.test(digits)) continue;
    const index = Number(digits);
    // Only the canonical spelling counts, so two names never claim one index.
    if (index < 2 || !Number.isSafeInteger(index) || String(index).padStart(DIGITS, '0') !== digits) continue;
    found.push({ index, path: join(dir, name), name });
  }
  return found.toSorted((a, b) => a.index - b.index);
}

/** LogEnd is how far a live log was written: read segments up to `segment`, and that one up to `bytes`. */
export interface LogEnd {
  readonly segment: number;
  readonly bytes: number;
}

/** ReadLogOptions: how to read a log (chunk and line sizes) and where to stop. */
export interface ReadLogOptions extends ChunkOptions {
  /** Stop here (a live log's writer says where its last complete record ends). */
  readonly end?: LogEnd;
}

/**
 * logSegments lists the segments of the log at `base` to read, up to `end`.
 * When none exists it returns the log's own path, so that reading it fails
 * with the file's ENOENT.
 */
export function logSegments(base: string, end?: LogEnd): Segment[] {
  const segments = listSegments(base).filter((s) => end === undefined || s.index <= end.segment);
  return segments.length === 0 ? [segmentOf(base, 1)] : segments;
}

/** readLimit is how many bytes of `segment` to read under `end` (undefined: all of it). */
export function readLimit(segment: Segment, end: LogEnd | undefined): number | undefined {
  return end !== undefined && segment.index === end.segment ? end.bytes : undefined;
}

/** LogWalk is what walkSegments tells a reader of every line of a log. */
export interface LogWalk {
  /** A segment begins; `missing` is the one that should have come before it and does not exist; `last`: none follows. */
  segment(segment: Segment, missing: Segment | undefined, last: boolean): void;
  /** Each line of it, as the line reader splits them (an unterminated end of a segment as `torn`). */
  readonly line: LineSink;
  /** Stop reading: nothing further can change the reader's answer. */
  done?(): boolean;
}

/**
 * walkSegments reads `segments` of the log at `base` (logSegments) in order,
 * in chunks with flat memory, through one line splitter: each segment is
 * announced with the one missing before it, if any, and ends its own last
 * line. Reading stops once `walk.done()` says so. File errors as they are.
 */
export function walkSegments(base: string, segments: readonly Segment[], walk: LogWalk, options: ReadLogOptions = {}): void {
  const splitter = new LineSplitter(walk.line, options.maxLineBytes);
  let next = 1;
  for (const [i, segment] of segments.entries()) {
    walk.segment(segment, segment.index === next ? undefined : segmentOf(base, next), i === segments.length - 1);
    next = segment.index + 1;
    for (const chunk of readChunks(segment.path, { chunkBytes: options.chunkBytes, limit: readLimit(segment, options.end) })) {
      splitter.push(chunk);
      if (walk.done?.()) break;
    }
    splitter.end();
    if (walk.done?.()) return;
  }
}
