/**
 * Reading a file decision log of any size, every segment in order, with
 * flat memory: records come in batches (one per chunk read), and a query for
 * the last N matches keeps only those N in a ring. Lines that are not
 * complete records (malformed, longer than the line limit, a torn tail) are
 * skipped: finding them is verify's business.
 */
import type { ChainRecord } from './chain.ts';
import { LineSplitter, readChunks } from './line-reader.ts';
import { matchesFilter, type RecordFilter } from './query.ts';
import { logSegments, type ReadLogOptions, readLimit } from './segments.ts';

/** ScannedRecord is a parsed record and its line as written. */
export interface ScannedRecord {
  readonly record: ChainRecord;
  readonly line: string;
}

/** parseRecordLine parses one line into a record, or undefined if it is not one (no number seq and time). */
function parseRecordLine(line: string): ChainRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const record = value as ChainRecord;
  return typeof record.seq === 'number' && typeof record.time === 'number' ? record : undefined;
}

/** Record scans read 64 KiB at a time: a batch stays small, so little of it outlives a young-generation GC. */
export const SCAN_CHUNK_BYTES = 64 * 1024;

/**
 * recordBatches yields, for the records of the log at `base` that match
 * `filter`, what `pick` makes of each (by default the record and its line as
 * written), one batch per chunk read (a batch may be empty). File errors
 * (ENOENT…) are thrown as they are.
 */
export function recordBatches(base: string, filter?: RecordFilter, options?: ReadLogOptions): Generator<ScannedRecord[], void, void>;
export function recordBatches<T>(base: string, filter: RecordFilter, options: ReadLogOptions, pick: (record: ChainRecord, line: string) => T): Generator<T[], void, void>;
export function* recordBatches<T>(base: string, filter: RecordFilter = {}, options: ReadLogOptions = {}, pick?: (record: ChainRecord, line: string) => T): Generator<(T | ScannedRecord)[], void, void> {
  let batch: (T | ScannedRecord)[] = [];
  const splitter = new LineSplitter((bytes, kind) => {
    if (kind !== 'line') return;
    const line = bytes.toString('utf8');
    const record = parseRecordLine(line);
    if (record !== undefined && matchesFilter(record, filter)) batch.push(pick === undefined ? { record, line } : pick(record, line));
  }, options.maxLineBytes);
  for (const segment of logSegments(base, options.end)) {
    for (const chunk of readChunks(segment.path, { chunkBytes: options.chunkBytes ?? SCAN_CHUNK_BYTES, limit: readLimit(segment, options.end) })) {
      splitter.push(chunk);
      yield batch;
      batch = [];
    }
    splitter.end();
  }
}

/** LastMatches is the end of a query: the last matching lines, oldest first. */
export interface LastMatches {
  /** The lines as written, oldest first. */
  readonly lines: string[];
  /** Every match in the log. */
  readonly matched: number;
  /** Matches among the last `limit` left out to stay within `maxBytes`. */
  readonly omitted: number;
}

/** LineRing keeps the newest lines: at most `limit` of them and `maxChars` characters in all. */
class LineRing {
  private readonly slots: (string | undefined)[];
  private first = 0;
  private count = 0;
  private chars = 0;
  private readonly maxChars: number;

  constructor(limit: number, maxChars: number) {
    this.slots = Array.from({ length: limit });
    this.maxChars = maxChars;
  }

  get size(): number {
    return this.count;
  }

  /** push adds `line`, dropping the oldest to stay within both bounds (a line longer than maxChars alone is not kept). */
  push(line: string): void {
    if (this.count === this.slots.length) this.dropOldest();
    while (this.count > 0 && this.chars + line.length > this.maxChars) this.dropOldest();
    if (line.length > this.maxChars) return;
    this.slots[(this.first + this.count) % this.slots.length] = line;
    this.count++;
    this.chars += line.length;
  }

  /** lines returns the kept lines, oldest first. */
  lines(): string[] {
    const out: string[] = [];
    for (let i = 0; i < this.count; i++) out.push(this.slots[(this.first + i) % this.slots.length]!);
    return out;
  }

  private dropOldest(): void {
    this.chars -= this.slots[this.first]!.length;
    this.slots[this.first] = undefined;
    this.first = (this.first + 1) % this.slots.length;
    this.count--;
  }
}

/**
 * lastMatches reads the whole log at `base` and keeps the last `limit`
 * records matching `filter`, and of those no more than `maxBytes` of lines
 * (counted in characters; the oldest go first). Memory is bounded by `limit`
 * and `maxBytes`, not by the log. RangeError for a limit that is not a
 * positive integer; file errors are thrown as they are.
 */
export function lastMatches(base: string, filter: RecordFilter, options: ReadLogOptions & { limit: number; maxBytes: number }): LastMatches {
  const { limit, maxBytes } = options;
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`limit must be a positive integer, not ${limit}`);
  const ring = new LineRing(limit, maxBytes);
  let matched = 0;
  for (const batch of recordBatches(base, filter, options, (_record, line) => line)) {
    for (const line of batch) {
      matched++;
      ring.push(line);
    }
  }
  return { lines: ring.lines(), matched, omitted: Math.min(matched, limit) - ring.size };
}
