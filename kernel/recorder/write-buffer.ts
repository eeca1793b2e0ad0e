/**
 * WriteBuffer holds a file log's records that are taken and not yet written,
 * as the bytes to write: each record is sealed straight into one reusable
 * buffer (chain.ts sealInto: its JSON text converted to UTF-8 once, hashed
 * over those bytes) and written from there, whole records at a time.
 */
import { writeSync } from 'node:fs';
import { SEAL_ADDS, sealInto } from './chain.ts';

/** The buffer starts this large and doubles as it needs; one grown past KEPT_BUFFER_BYTES (records kept waiting by a failing disk) is let go once they are written. */
const FIRST_BUFFER_BYTES = 64 * 1024;
const KEPT_BUFFER_BYTES = 4 * 1024 * 1024; // four of file-log.ts's write-at-once batches

export class WriteBuffer {
  /** UTF-8 from 0 to `used`, the records one after another; `ends` says where each one ends. */
  private buffer = Buffer.allocUnsafeSlow(FIRST_BUFFER_BYTES);
  private ends: number[] = [];
  private used = 0;

  /** records is how many records wait to be written. */
  get records(): number {
    return this.ends.length;
  }

  /** bytes is the size, as written, of the records waiting. */
  get bytes(): number {
    return this.used;
  }

  /** endOf says how many bytes the first `i + 1` records take. */
  endOf(i: number): number {
    return this.ends[i]!;
  }

  /** seal appends the sealed line of `json` (a record's JSON text, as sealRecord serialises it) and returns its hash and size in bytes. */
  seal(json: string): { hash: string; bytes: number } {
    // Room for the line however its characters encode (at most 3 bytes each in UTF-8), sealed where it will be written from.
    if (this.used + json.length * 3 + SEAL_ADDS > this.buffer.length) this.grow(json.length * 3 + SEAL_ADDS);
    const sealed = sealInto(json, this.buffer, this.used);
    this.used += sealed.bytes;
    this.ends.push(this.used);
    return sealed;
  }

  /** grow makes the buffer large enough for `more` bytes past the records in it. */
  private grow(more: number): void {
    let size = this.buffer.length * 2;
    while (size < this.used + more) size *= 2;
    const grown = Buffer.allocUnsafeSlow(size);
    this.buffer.copy(grown, 0, 0, this.used);
    this.buffer = grown;
  }

  /**
   * writeFirst writes the first `count` records to `fd` with write(), whole,
   * lets them go and returns their size in bytes. A write that throws keeps
   * every record; `failed` is told how many bytes reached the file, and what
   * it returns is thrown.
   */
  writeFirst(fd: number, count: number, failed: (err: unknown, written: number) => Error): number {
    const ends = this.ends;
    const bytes = ends[count - 1]!;
    let written = 0;
    try {
      while (written < bytes) written += writeSync(fd, this.buffer, written, bytes - written);
    } catch (err) {
      throw failed(err, written);
    }
    if (count === ends.length) {
      ends.length = 0;
      this.used = 0;
      if (this.buffer.length > KEPT_BUFFER_BYTES) this.buffer = Buffer.allocUnsafeSlow(FIRST_BUFFER_BYTES);
    } else {
      // The rest move to the front (a roll wrote only the records that fit in the segment).
      this.buffer.copy(this.buffer, 0, bytes, this.used);
      this.used -= bytes;
      this.ends = ends.slice(count).map((end) => end - bytes);
    }
    return bytes;
  }
}
