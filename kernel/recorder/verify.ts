/**
 * verifyLog checks a decision log: every line must be a record rebuilt byte
 * for byte from its own fields (else it was edited), sequence numbers must
 * run on by one (a gap is a deletion, a repeat an insertion, a step back a
 * reordering), each record must name the previous record's hash, and the
 * file must end with a complete line (else its tail is torn). The first
 * problem is reported with its sequence number.
 */
import { body, type ChainRecord, GENESIS, seal } from './chain.ts';

export type ProblemKind = 'edited' | 'deleted' | 'inserted' | 'reordered' | 'broken-chain' | 'malformed' | 'torn-tail';

export interface VerifyProblem {
  readonly kind: ProblemKind;
  /** The sequence number of the first bad record (expected one, for a deletion). */
  readonly seq: number;
  /** 1-based line number in the file. */
  readonly line: number;
  readonly message: string;
}

export interface VerifyResult {
  readonly ok: boolean;
  /** Records that verified before the first problem. */
  readonly records: number;
  /** Hash of the last good record. */
  readonly head: string;
  readonly problem?: VerifyProblem;
}

export interface VerifyOptions {
  /** The hash the last record must have (an anchor kept elsewhere); catches a rewritten chain. */
  expectHead?: string;
  /** Where the chain starts: prev of the first record. */
  genesis?: string;
}

/** appearsLater reports whether a record with sequence `seq` stands in lines[from…]. */
function appearsLater(lines: readonly string[], from: number, seq: number): boolean {
  const marker = `{"seq":${seq},`;
  for (let j = from; j < lines.length; j++) if (lines[j]!.startsWith(marker)) return true;
  return false;
}

export function verifyLog(text: string, options: VerifyOptions = {}): VerifyResult {
  const lines = text.split('\n');
  const complete = text.endsWith('\n') || text.length === 0;
  if (complete) lines.pop();
  let prev = options.genesis ?? GENESIS;
  let expected = 1;
  const seen = new Set<number>();
  const fail = (kind: ProblemKind, seq: number, line: number, message: string): VerifyResult => ({
    ok: false,
    records: expected - 1,
    head: prev,
    problem: { kind, seq, line, message },
  });
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const lineNo = i + 1;
    const last = i === lines.length - 1;
    if (last && !complete) return fail('torn-tail', expected, lineNo, `line ${lineNo} is an incomplete record (torn tail); ${expected - 1} records before it verify`);
    let record: ChainRecord;
    try {
      record = JSON.parse(line) as ChainRecord;
    } catch {
      return fail('malformed', expected, lineNo, `line ${lineNo} is not a JSON record`);
    }
    if (record === null || typeof record !== 'object' || typeof record.seq !== 'number' || typeof record.hash !== 'string') {
      return fail('malformed', expected, lineNo, `line ${lineNo} is not a decision record`);
    }
    if (seal(body(record as unknown as Record<string, unknown>)).line !== `${line}\n`) {
      return fail('edited', record.seq, lineNo, `record ${record.seq} (line ${lineNo}) does not match its hash: edited`);
    }
    if (record.seq !== expected) {
      if (record.seq > expected) {
        if (appearsLater(lines, i + 1, expected)) return fail('reordered', record.seq, lineNo, `record ${record.seq} at line ${lineNo} comes before record ${expected}: reordered`);
        return fail('deleted', expected, lineNo, `record ${expected} is missing (found ${record.seq} at line ${lineNo}): deleted`);
      }
      const kind = seen.has(record.seq) ? 'inserted' : 'reordered';
      return fail(kind, record.seq, lineNo, `record ${record.seq} at line ${lineNo} comes after ${expected - 1}: ${kind}`);
    }
    if (record.prev !== prev) {
      return fail('broken-chain', record.seq, lineNo, `record ${record.seq} does not follow the hash of record ${expected - 1}: inserted or edited`);
    }
    seen.add(record.seq);
    prev = record.hash;
    expected++;
  }
  if (options.expectHead !== undefined && options.expectHead !== prev) {
    return fail('edited', expected - 1, lines.length, `the last record's hash is not the expected head ${options.expectHead}: the chain was rewritten or cut`);
  }
  return { ok: true, records: expected - 1, head: prev };
}
