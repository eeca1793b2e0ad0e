/**
 * Where a file log's chain stops, for a writer that reopens it: the last
 * record's seq and hash, read from the end of the last segment that holds
 * one (a segment left empty by a roll cut short holds none).
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { KernelError } from '../../abi/errno.ts';
import { GENESIS } from './chain.ts';
import type { Segment } from './segments.ts';

const TAIL_BYTES = 64 * 1024;

/** readTail finds the last record's seq and hash in `fd` (null if the file is empty). */
export function readTail(fd: number, path: string): { seq: number; hash: string } | null {
  const size = fstatSync(fd).size;
  if (size === 0) return null;
  const length = Math.min(size, TAIL_BYTES);
  const buf = Buffer.alloc(length);
  readSync(fd, buf, 0, length, size - length);
  const text = buf.toString('utf8');
  if (!text.endsWith('\n')) throw new KernelError('EIO', `${path} ends in a torn record; run 'agentctl audit verify ${path}' and start a new log`);
  const lines = text.slice(0, -1).split('\n');
  const last = lines[lines.length - 1] ?? '';
  try {
    const record = JSON.parse(last) as { seq?: unknown; hash?: unknown };
    if (typeof record.seq === 'number' && typeof record.hash === 'string') return { seq: record.seq, hash: record.hash };
  } catch {
    // fall through
  }
  throw new KernelError('EIO', `${path}: the last record cannot be read; run 'agentctl audit verify ${path}'`);
}

/**
 * chainTail finds where the chain of a log stops: the last record of the last
 * segment that holds one, before `current` (whose `fd` is open) or in it.
 * EIO if that segment's tail is torn or unreadable.
 */
export function chainTail(current: Segment, fd: number, earlier: readonly Segment[]): { seq: number; hash: string } {
  const own = readTail(fd, current.path);
  if (own !== null) return own;
  for (let i = earlier.length - 1; i >= 0; i--) {
    const segment = earlier[i]!;
    const other = openSync(segment.path, 'r');
    try {
      const tail = readTail(other, segment.path);
      if (tail !== null) return tail;
    } finally {
      closeSync(other);
    }
  }
  return { seq: 0, hash: GENESIS };
}
