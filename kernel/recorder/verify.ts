/**
 * verifyLog checks a decision log: every line must be a record rebuilt byte
 * for byte from its own fields (else it was edited), sequence numbers must
 * run on by one (a gap is a deletion, a repeat an insertion, a step back a
 * reordering), each record must name the previous record's hash, and the
 * file must end with a complete line (else its tail is torn). The first
 * problem is reported with its sequence number.
 *
 * ChainVerifier does the same over a stream of lines, one at a time, in
 * constant memory (see verify-file.ts for files and their segments):
 * verifyLog is ChainVerifier fed from a string.
 */
import { hash, type KeyObject } from 'node:crypto';
import { anchorVerifies, parseAnchor } from './anchors.ts';
import { GENESIS, RECORD_KEYS } from './chain.ts';
import { type LineKind, MAX_LINE_BYTES } from './line-reader.ts';

export type ProblemKind = 'edited' | 'deleted' | 'inserted' | 'reordered' | 'broken-chain' | 'malformed' | 'torn-tail' | 'bad-anchor' | 'unanchored';

export interface VerifyProblem {
  readonly kind: ProblemKind;
  /** The sequence number of the first bad record (expected one, for a deletion). */
  readonly seq: number;
  /** 1-based line number in the file (in its segment; 0 for a missing segment). */
  readonly line: number;
  readonly message: string;
  /** The segment's file name, when a file log was verified. */
  readonly segment?: string;
}

export interface VerifyResult {
  readonly ok: boolean;
  /** Records that verified before the first problem. */
  readonly records: number;
  /** Hash of the last good record. */
  readonly head: string;
  readonly problem?: VerifyProblem;
  /** With a public key: the anchors that verified, and the last record they cover. */
  readonly anchors?: number;
  readonly anchoredThrough?: number;
  /** With a public key: the records after the last anchor, which rest on the chain alone (the anchor's own record is not one: its signature covers it). */
  readonly unanchored?: number;
}

export interface VerifyOptions {
  /** The hash the last record must have (an anchor kept elsewhere); catches a rewritten chain. */
  expectHead?: string;
  /** Where the chain starts: prev of the first record. */
  genesis?: string;
  /** Ed25519 key the log's anchors must verify with (anchors.ts): catches a chain rewritten with recomputed hashes. */
  publicKey?: KeyObject;
  /**
   * What the live log's writer says it wrote up to where it is read: the
   * last record's seq and hash. A log that ends before it (cut back to a
   * whole record, its last segments deleted) or whose last record is not
   * that one (a tail re-sealed with recomputed hashes) verifies as a chain,
   * and fails this.
   */
  written?: WrittenEnd;
}

/** WrittenEnd is how far a log's writer wrote it, and who that writer is (named in messages). */
export interface WrittenEnd {
  readonly records: number;
  readonly head: string;
  /** The writer, for messages ("agentd"). */
  readonly by: string;
}

/** `,"hash":"<64 hex>"}` closes every sealed line. */
const SEAL_BYTES = 75;
const KEY_ORDER = new Map<string, number>(RECORD_KEYS.map((key, i) => [key, i]));

/**
 * sealedAsWritten reports whether `line` is exactly what seal(body(record))
 * writes: the record's keys in canonical order with `hash` last, its JSON
 * serialisation equal to the line, and its hash the SHA-256 of the line
 * without the seal (over `raw`, the line's bytes, when given).
 */
function sealedAsWritten(record: Record<string, unknown>, line: string, raw: Uint8Array | undefined): boolean {
  const keys = Object.keys(record);
  if (keys[keys.length - 1] !== 'hash') return false;
  let last = -1;
  for (let i = 0; i < keys.length - 1; i++) {
    const at = KEY_ORDER.get(keys[i]!);
    if (at === undefined || at <= last) return false;
    last = at;
  }
  if (JSON.stringify(record) !== line) return false;
  const unsealed = raw === undefined ? line.slice(0, line.length - SEAL_BYTES) : raw.subarray(0, raw.length - SEAL_BYTES);
  return hash('sha256', unsealed) === record.hash;
}

interface Gap {
  readonly seq: number;
  readonly line: number;
  readonly segment: string | undefined;
  readonly prefix: string;
  readonly note: string;
  readonly marker: Buffer;
}

/**
 * ChainVerifier checks a log fed line by line (segment by segment for a
 * segmented log). Once it has found a problem it only looks further for
 * what tells a reordering from a deletion; `done` says when more lines
 * cannot change the answer.
 */
export class ChainVerifier {
  private readonly options: VerifyOptions;
  /** Name problems by segment (a log of more than one segment). */
  private readonly named: boolean;
  private prev: string;
  private expected = 1;
  private lineNo = 0;
  private segment: string | undefined;
  private previousSegment: string | undefined;
  private lastSegment = true;
  private gap: Gap | undefined;
  private problem: VerifyProblem | undefined;
  private readonly maxLineBytes: number;
  private anchors = 0;
  private anchoredThrough = 0;
  private unanchored = 0;

  constructor(options: VerifyOptions & { named?: boolean; maxLineBytes?: number } = {}) {
    this.options = options;
    this.named = options.named ?? false;
    this.prev = options.genesis ?? GENESIS;
    this.maxLineBytes = options.maxLineBytes ?? MAX_LINE_BYTES;
  }

  /** done is true once further lines cannot change the result. */
  get done(): boolean {
    return this.problem !== undefined;
  }

  /**
   * beginSegment starts the segment in file `name`; `missing` names a
   * segment that should have come before it and does not exist; `last`
   * says no segment follows (an incomplete line there is a torn tail).
   */
  beginSegment(name: string, missing?: string, last = true): void {
    if (!this.done && this.gap === undefined && missing !== undefined) {
      const after = this.segment === undefined ? '' : ` after ${this.segment}`;
      this.problem = { kind: 'deleted', seq: this.expected, line: 0, segment: missing, message: `segment ${missing} is missing${after}: record ${this.expected} onwards should be there; the next segment present is ${name}` };
    }
    this.previousSegment = this.segment;
    this.segment = name;
    this.lastSegment = last;
    this.lineNo = 0;
  }

  /**
   * line checks the next line: its text, or its bytes as read from a file
   * (then hashed as they are); `kind` as the line reader found it.
   */
  line(line: string | Buffer, kind: LineKind): void {
    this.lineNo++;
    if (this.problem !== undefined) return;
    if (this.gap !== undefined) {
      const { marker } = this.gap;
      const head = typeof line === 'string' ? Buffer.from(line.slice(0, marker.length)) : line;
      if (head.length >= marker.length && marker.compare(head, 0, marker.length) === 0) this.reordered();
      return;
    }
    const lineNo = this.lineNo;
    const expected = this.expected;
    if (kind === 'torn') {
      const cut = this.lastSegment ? '(torn tail)' : '(the segment was cut short: later segments follow)';
      return this.fail('torn-tail', expected, `line ${lineNo} is an incomplete record ${cut}; ${expected - 1} records before it verify`);
    }
    if (kind === 'overlong') return this.fail('malformed', expected, `line ${lineNo} is longer than ${this.maxLineBytes} bytes: not a decision record`);
    const raw = typeof line === 'string' ? undefined : line;
    const text = typeof line === 'string' ? line : line.toString('utf8');
    let record: { seq?: unknown; hash?: unknown; prev?: unknown; type?: unknown; detail?: unknown };
    try {
      record = JSON.parse(text) as typeof record;
    } catch {
      return this.fail('malformed', expected, `line ${lineNo} is not a JSON record`);
    }
    if (record === null || typeof record !== 'object' || typeof record.seq !== 'number' || typeof record.hash !== 'string') {
      return this.fail('malformed', expected, `line ${lineNo} is not a decision record`);
    }
    const seq = record.seq;
    if (!sealedAsWritten(record as Record<string, unknown>, text, raw)) return this.fail('edited', seq, `record ${seq} (line ${lineNo}) does not match its hash: edited`);
    if (seq !== expected) {
      if (seq > expected) {
        const note = lineNo === 1 && this.previousSegment !== undefined ? `; ${this.previousSegment} ends at record ${expected - 1}` : '';
        this.gap = { seq, line: lineNo, segment: this.segment, prefix: this.prefix(), note, marker: Buffer.from(`{"seq":${expected},`) };
        return;
      }
      // Every seq from 1 to expected − 1 has verified, so a repeat of one of them is an insertion.
      const found = Number.isInteger(seq) && seq >= 1 ? 'inserted' : 'reordered';
      return this.fail(found, seq, `record ${seq} at line ${lineNo} comes after ${expected - 1}: ${found}`);
    }
    if (record.prev !== this.prev) {
      return this.fail('broken-chain', seq, `record ${seq} does not follow the hash of record ${expected - 1}: inserted or edited`);
    }
    if (this.options.publicKey !== undefined && record.type === 'log' && typeof record.detail === 'string' && record.detail.startsWith('anchor ')) {
      const anchor = parseAnchor(record.detail);
      if (anchor === undefined || anchor.seq !== seq - 1 || anchor.head !== this.prev || !anchorVerifies(this.options.publicKey, anchor)) {
        return this.fail('bad-anchor', seq, `record ${seq} is an anchor that does not verify with the key for record ${seq - 1}: the log before it was rewritten, or the anchor forged`);
      }
      this.anchors++;
      this.anchoredThrough = anchor.seq;
      this.unanchored = 0;
    } else this.unanchored++;
    this.prev = record.hash;
    this.expected++;
  }

  /** finish returns the verdict once every line has been fed. */
  finish(): VerifyResult {
    if (this.gap !== undefined && this.problem === undefined) {
      const { seq, line, segment, prefix, note } = this.gap;
      const expected = this.expected;
      this.problem = { kind: 'deleted', seq: expected, line, ...this.where(segment), message: `${prefix}record ${expected} is missing (found ${seq} at line ${line}): deleted${note}` };
    }
    const anchored = this.options.publicKey === undefined ? {} : { anchors: this.anchors, anchoredThrough: this.anchoredThrough, unanchored: this.unanchored };
    if (this.problem === undefined && this.options.publicKey !== undefined && this.anchors === 0) {
      this.problem = { kind: 'unanchored', seq: this.expected - 1, line: this.lineNo, ...this.where(this.segment), message: 'no anchor signed by the key: nothing proves this chain was not rewritten' };
    }
    if (this.problem === undefined && this.options.written !== undefined) this.checkWritten(this.options.written);
    if (this.problem !== undefined) return { ok: false, records: this.expected - 1, head: this.prev, problem: this.problem, ...anchored };
    const { expectHead } = this.options;
    if (expectHead !== undefined && expectHead !== this.prev) {
      this.problem = { kind: 'edited', seq: this.expected - 1, line: this.lineNo, ...this.where(this.segment), message: `the last record's hash is not the expected head ${expectHead}: the chain was rewritten or cut` };
      return { ok: false, records: this.expected - 1, head: this.prev, problem: this.problem };
    }
    return { ok: true, records: this.expected - 1, head: this.prev, ...anchored };
  }

  /** checkWritten fails a whole chain that does not end where its writer says it wrote to. */
  private checkWritten({ records: wrote, head, by }: WrittenEnd): void {
    const records = this.expected - 1;
    const where = { line: this.lineNo, ...this.where(this.segment) };
    if (records < wrote) {
      const missing = wrote === records + 1 ? `record ${wrote} is missing` : `records ${records + 1}-${wrote} are missing`;
      this.problem = { kind: 'deleted', seq: records + 1, ...where, message: `the log ends at record ${records} but ${by} wrote ${wrote}: ${missing}` };
    } else if (records > wrote) {
      this.problem = { kind: 'inserted', seq: wrote + 1, ...where, message: `the log holds ${records} records but ${by} wrote ${wrote}: record ${wrote + 1} onwards were added` };
    } else if (this.prev !== head) {
      this.problem = { kind: 'edited', seq: records, ...where, message: `record ${records}'s hash is not the one ${by} wrote (${head}): the chain was rewritten` };
    }
  }

  private reordered(): void {
    const { seq, line, segment, prefix } = this.gap!;
    this.problem = { kind: 'reordered', seq, line, ...this.where(segment), message: `${prefix}record ${seq} at line ${line} comes before record ${this.expected}: reordered` };
  }

  private fail(kind: ProblemKind, seq: number, message: string): void {
    this.problem = { kind, seq, line: this.lineNo, ...this.where(this.segment), message: `${this.prefix()}${message}` };
  }

  private prefix(): string {
    return this.named && this.segment !== undefined ? `${this.segment}: ` : '';
  }

  private where(segment: string | undefined): { segment?: string } {
    return segment === undefined ? {} : { segment };
  }
}

/** verifyLog verifies a whole log held in a string (see ChainVerifier for logs of any size). */
export function verifyLog(text: string, options: VerifyOptions = {}): VerifyResult {
  const verifier = new ChainVerifier(options);
  const max = MAX_LINE_BYTES;
  let start = 0;
  while (!verifier.done) {
    const nl = text.indexOf('\n', start);
    if (nl < 0) {
      if (start < text.length) verifier.line(text.slice(start), 'torn');
      break;
    }
    const line = text.slice(start, nl);
    verifier.line(line, line.length > max / 3 && Buffer.byteLength(line) > max ? 'overlong' : 'line');
    start = nl + 1;
  }
  return verifier.finish();
}
