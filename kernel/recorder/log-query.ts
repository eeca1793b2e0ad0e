/**
 * queryLog answers /v1/decisions from a file decision log of any size with
 * bounded memory and, as far as segments allow, bounded reading:
 *   - without `after`: the last `limit` matching records. Segments are read
 *     from the newest back, each into a ring of what is still wanted, until
 *     there are enough, so the newest records of a large log cost one
 *     segment, not the whole log.
 *   - with `after` (a sequence number): the first `limit` matches after it,
 *     for paging forward. Segments that end before it are skipped by their
 *     first record's seq, and reading stops at the limit.
 * Either way at most `maxChars` characters of records are answered; when
 * that cuts the answer short, `truncated` says so. Records come back as the
 * lines written, oldest first. A tampered log (seqs out of order) may be
 * answered wrongly: verify is the authority on a log, a query only reads.
 */
import type { RecordFilter } from './query.ts';
import { firstSeq, segmentBatches } from './scan.ts';
import { logSegments, type ReadLogOptions, type Segment } from './segments.ts';

export interface QueryOptions extends ReadLogOptions {
  /** The most records answered (≥ 1). */
  readonly limit: number;
  /** The most characters of records answered. */
  readonly maxChars: number;
}

export interface QueryResult {
  /** The matching lines as written, oldest first. */
  readonly lines: string[];
  /** Matches the limit would have taken were left out to stay within maxChars. */
  readonly truncated: boolean;
}

const lineOnly = (_record: unknown, line: string) => line;

/** LineRing keeps the newest lines: at most `limit` of them and `maxChars` characters in all. */
class LineRing {
  private readonly slots: (string | undefined)[];
  private first = 0;
  private count = 0;
  private kept = 0;
  private readonly maxChars: number;

  constructor(limit: number, maxChars: number) {
    this.slots = Array.from({ length: limit });
    this.maxChars = maxChars;
  }

  get size(): number {
    return this.count;
  }

  get chars(): number {
    return this.kept;
  }

  /** push adds `line`, dropping the oldest to stay within both bounds (a line longer than maxChars alone is not kept). */
  push(line: string): void {
    if (this.count === this.slots.length) this.dropOldest();
    while (this.count > 0 && this.kept + line.length > this.maxChars) this.dropOldest();
    if (line.length > this.maxChars) return;
    this.slots[(this.first + this.count) % this.slots.length] = line;
    this.count++;
    this.kept += line.length;
  }

  /** lines returns the kept lines, oldest first. */
  lines(): string[] {
    const out: string[] = [];
    for (let i = 0; i < this.count; i++) out.push(this.slots[(this.first + i) % this.slots.length]!);
    return out;
  }

  private dropOldest(): void {
    this.kept -= this.slots[this.first]!.length;
    this.slots[this.first] = undefined;
    this.first = (this.first + 1) % this.slots.length;
    this.count--;
  }
}

/** queryLog runs a query on the log at `base` (see above). RangeError for a limit that is not a positive integer; file errors as they are. */
export function queryLog(base: string, filter: RecordFilter, options: QueryOptions): QueryResult {
  if (!Number.isInteger(options.limit) || options.limit < 1) throw new RangeError(`limit must be a positive integer, not ${options.limit}`);
  const segments = logSegments(base, options.end);
  return filter.after === undefined ? newest(segments, filter, options) : after(segments, filter.after, filter, options);
}

function newest(segments: readonly Segment[], filter: RecordFilter, options: QueryOptions): QueryResult {
  let lines: string[] = [];
  let chars = 0;
  for (let i = segments.length - 1; i >= 0 && lines.length < options.limit; i--) {
    const wanted = options.limit - lines.length;
    const ring = new LineRing(wanted, options.maxChars - chars);
    let seen = 0;
    for (const batch of segmentBatches(segments[i]!, filter, options, lineOnly)) {
      for (const line of batch) ring.push(line);
      seen += batch.length;
    }
    lines = ring.lines().concat(lines);
    chars += ring.chars;
    if (Math.min(seen, wanted) > ring.size) return { lines, truncated: true };
  }
  return { lines, truncated: false };
}

function after(segments: readonly Segment[], seq: number, filter: RecordFilter, options: QueryOptions): QueryResult {
  // Segment i holds nothing after `seq` when the next one starts at or before seq + 1.
  let start = 0;
  while (start + 1 < segments.length) {
    const next = firstSeq(segments[start + 1]!);
    if (next === undefined || next > seq + 1) break;
    start++;
  }
  const lines: string[] = [];
  let chars = 0;
  for (const segment of segments.slice(start)) {
    for (const batch of segmentBatches(segment, filter, options, lineOnly)) {
      for (const line of batch) {
        if (chars + line.length > options.maxChars) return { lines, truncated: true };
        lines.push(line);
        chars += line.length;
        if (lines.length === options.limit) return { lines, truncated: false };
      }
    }
  }
  return { lines, truncated: false };
}
