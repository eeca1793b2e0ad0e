/**
 * Reading the records of a file decision log of any size, segment by
 * segment, with flat memory: records come in batches, one per chunk read.
 * Lines that are not complete records (malformed, longer than the line
 * limit, a torn tail) are skipped: finding them is verify's business.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import type { ChainRecord } from './chain.ts';
import { LineSplitter, readChunks } from './line-reader.ts';
import { matchesFilter, type RecordFilter } from './query.ts';
import { logSegments, type ReadLogOptions, readLimit, type Segment } from './segments.ts';

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

type Pick<T> = (record: ChainRecord, line: string) => T;
const both: Pick<ScannedRecord> = (record, line) => ({ record, line });

/**
 * recordBatches yields, for the records of the log at `base` that match
 * `filter`, what `pick` makes of each (by default the record and its line as
 * written), one batch per chunk read (a batch may be empty). File errors
 * (ENOENT…) are thrown as they are.
 */
export function recordBatches(base: string, filter?: RecordFilter, options?: ReadLogOptions): Generator<ScannedRecord[], void, void>;
export function recordBatches<T>(base: string, filter: RecordFilter, options: ReadLogOptions, pick: Pick<T>): Generator<T[], void, void>;
export function* recordBatches<T>(base: string, filter: RecordFilter = {}, options: ReadLogOptions = {}, pick?: Pick<T>): Generator<(T | ScannedRecord)[], void, void> {
  for (const segment of logSegments(base, options.end)) yield* segmentBatches<T | ScannedRecord>(segment, filter, options, pick ?? both);
}

/** segmentBatches is recordBatches for one segment (read up to `options.end` when it is the last). */
export function* segmentBatches<T>(segment: Segment, filter: RecordFilter, options: ReadLogOptions, pick: Pick<T>): Generator<T[], void, void> {
  let batch: T[] = [];
  const splitter = new LineSplitter((bytes, kind) => {
    if (kind !== 'line') return;
    const line = bytes.toString('utf8');
    const record = parseRecordLine(line);
    if (record !== undefined && matchesFilter(record, filter)) batch.push(pick(record, line));
  }, options.maxLineBytes);
  for (const chunk of readChunks(segment.path, { chunkBytes: options.chunkBytes ?? SCAN_CHUNK_BYTES, limit: readLimit(segment, options.end) })) {
    splitter.push(chunk);
    yield batch;
    batch = [];
  }
  splitter.end();
}

/** firstSeq is the sequence number the segment's first line starts with, or undefined (empty, not a record, unreadable). */
export function firstSeq(segment: Segment): number | undefined {
  const head = Buffer.alloc(64);
  let n: number;
  try {
    const fd = openSync(segment.path, 'r');
    try {
      n = readSync(fd, head, 0, head.length, 0);
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
  const m = /^\{"seq":(\d{1,15}),/.exec(head.toString('latin1', 0, n));
  return m === null ? undefined : Number(m[1]);
}
