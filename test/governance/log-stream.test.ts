/**
 * Reading decision logs in chunks: the line splitter with chunks as small as
 * one byte (lines split across chunks, multi-byte characters cut in two, a
 * line past the limit, a torn tail), the streaming verifier giving exactly
 * verifyLog's answer for a good log and every kind of tampering at every
 * chunk size, and the query ring keeping only the last N matches.
 */
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import type { ChainRecord } from '../../kernel/recorder/chain.ts';
import { FileDecisionLog } from '../../kernel/recorder/file-log.ts';
import { type LineKind, LineSplitter, readLines } from '../../kernel/recorder/line-reader.ts';
import { queryLog } from '../../kernel/recorder/log-query.ts';
import { recordBatches } from '../../kernel/recorder/scan.ts';
import { listSegments } from '../../kernel/recorder/segments.ts';
import { verifyLogFile } from '../../kernel/recorder/verify-file.ts';
import { verifyLog } from '../../kernel/recorder/verify.ts';
import type { DecisionInput } from '../../syscalls/records.ts';
import { scratch } from './helpers.ts';

const files = scratch();
afterAll(() => files.remove());

const N = 400;
const CHUNKS = [1, 2, 3, 7, 64, 509, 4096, 1 << 20];
/** Chunk sizes for reading files: a 1-byte chunk is one read() each, too slow for megabytes. */
const FILE_CHUNKS = (bytes: number) => CHUNKS.filter((c) => c >= (bytes > 1 << 20 ? 509 : 3));

/** entry i (1-based): agents a, b and ü (a two-byte name), paths with a four-byte character now and then. */
function entry(i: number): DecisionInput {
  const agentId = ['a', 'b', 'ü'][i % 3]!;
  if (i % 7 === 0) return { type: 'signal', pid: i % 5, agentId, detail: `SIGSTOP to ${i} 🛑`, policyVersion: 'sha256:p' };
  const path = `/agent/${agentId}/mem/${i}${i % 4 === 0 ? '-😀' : ''}`;
  return { type: 'syscall', pid: i % 5, agentId, syscall: i % 2 === 0 ? 'SYS_OPEN' : 'SYS_WRITE', access: 'write', effect: i % 3 === 0 ? 'deny' : 'allow', rule: `r${i % 4}`, reason: 'because', policyVersion: 'sha256:p', path, args: { path, n: i } };
}

const goodPath = files.write('good.jsonl', '');
{
  const log = new FileDecisionLog(goodPath, { clock: () => 1_700_000_000_000 });
  for (let i = 1; i <= N; i++) log.record(entry(i));
  log.close();
}
const good = readFileSync(goodPath, 'utf8');
const lines = good.trimEnd().split('\n');
const joined = (ls: readonly string[]) => `${ls.join('\n')}\n`;
const seqOf = (line: string) => (JSON.parse(line) as ChainRecord).seq;

/** split feeds `text` to a LineSplitter in chunks of `size` bytes and returns what came out. */
function split(text: string | Buffer, size: number, max?: number): [string, LineKind][] {
  const out: [string, LineKind][] = [];
  const splitter = new LineSplitter((bytes, kind) => out.push([bytes.toString('utf8'), kind]), max);
  const data = typeof text === 'string' ? Buffer.from(text) : text;
  for (let at = 0; at < data.length; at += size) splitter.push(data.subarray(at, at + size));
  splitter.end();
  return out;
}

describe('LineSplitter', () => {
  it.each(CHUNKS)('gives back every line, multi-byte characters whole, in chunks of %i bytes', (size) => {
    expect(split(good, size)).toEqual(lines.map((l) => [l, 'line']));
  });

  it('an unterminated end is torn; an empty input gives nothing; empty lines are lines', () => {
    for (const size of [1, 5, 100]) {
      expect(split('abc\ndef', size)).toEqual([['abc', 'line'], ['def', 'torn']]);
      expect(split('', size)).toEqual([]);
      expect(split('\n\nx\n', size)).toEqual([['', 'line'], ['', 'line'], ['x', 'line']]);
    }
  });

  it('a line past the limit is overlong (its first bytes kept, the rest skipped), whether it spans chunks or not', () => {
    const text = `short\n${'y'.repeat(100)}\nafter\n${'z'.repeat(12)}\n${'w'.repeat(50)}`;
    for (const size of [1, 3, 16, 4096]) {
      expect(split(text, size, 12)).toEqual([['short', 'line'], ['y'.repeat(12), 'overlong'], ['after', 'line'], ['z'.repeat(12), 'line'], ['w'.repeat(12), 'torn']]);
    }
  });

  it('memory for a 4 MiB line stays at the limit', () => {
    const huge = Buffer.alloc(4 << 20, 0x41);
    const seen: [number, LineKind][] = [];
    const splitter = new LineSplitter((bytes, kind) => seen.push([bytes.length, kind]), 1 << 16);
    for (let at = 0; at < huge.length; at += 65_000) splitter.push(huge.subarray(at, at + 65_000));
    splitter.push(Buffer.from('\nok\n'));
    expect(seen).toEqual([[1 << 16, 'overlong'], [2, 'line']]);
  });

  it('readLines reads a file in small chunks, up to a limit', () => {
    const out: string[] = [];
    readLines(goodPath, (bytes) => out.push(bytes.toString('utf8')), { chunkBytes: 13 });
    expect(out).toEqual(lines);
    const limited: [string, LineKind][] = [];
    readLines(goodPath, (bytes, kind) => limited.push([bytes.toString('utf8'), kind]), { chunkBytes: 11, limit: lines[0]!.length + 10 });
    expect(limited.map(([, kind]) => kind)).toEqual(['line', 'torn']);
  });
});

const K = 150;
const records = lines.map((l) => JSON.parse(l) as ChainRecord);
/** reordered writes `r` with `time` before `seq`: the same fields and hash, not the bytes that were sealed. */
const reordered = ({ seq, time, ...rest }: ChainRecord) => JSON.stringify({ time, seq, ...rest });
// prettier-ignore
const TAMPERED: readonly [what: string, text: string][] = [
  ['a good log', good],
  ['an edited field', joined(lines.map((l, i) => (i === K - 1 ? l.replace('"pid":', '"pid":9') : l)))],
  ['a deleted record', joined(lines.filter((_, i) => i !== K - 1))],
  ['a duplicated record', joined(lines.flatMap((l, i) => (i === K - 1 ? [l, l] : [l])))],
  ['two swapped records', joined(lines.map((l, i) => (i === K - 1 ? lines[K]! : i === K ? lines[K - 1]! : l)))],
  ['a record moved to the end', joined([...lines.filter((_, i) => i !== K - 1), lines[K - 1]!])],
  ['the first record moved to the end', joined([...lines.slice(1), lines[0]!])],
  ['a cut in the middle of a line', good.slice(0, good.indexOf('\n', 20_000) - 40)],
  ['a torn last line', good.slice(0, -30)],
  ['a line that is not JSON', joined(lines.map((l, i) => (i === K - 1 ? 'not json' : l)))],
  ['a line that is JSON but no record', joined(lines.map((l, i) => (i === K - 1 ? '[1,2]' : l)))],
  ['an empty line', joined(lines.map((l, i) => (i === K - 1 ? '' : l)))],
  ['a record with its keys in another order', joined(lines.map((l, i) => (i === K - 1 ? reordered(records[i]!) : l)))],
  ['a line of 2 MiB in the middle', joined(lines.map((l, i) => (i === K - 1 ? `{"seq":${K},${'x'.repeat(2 << 20)}` : l)))],
  ['an unterminated line of 2 MiB at the end', `${good}{"seq":${N + 1},${'x'.repeat(2 << 20)}`],
];

describe('verifyLogFile streams and agrees with verifyLog', () => {
  it.each(TAMPERED)('%s: the same verdict, problem, line and message at every chunk size', (_what, text) => {
    const path = files.write('tampered.jsonl', text);
    const expected = verifyLog(text);
    for (const chunkBytes of FILE_CHUNKS(text.length)) {
      const { segments, ...streamed } = verifyLogFile(path, { chunkBytes });
      expect(segments).toBe(1);
      expect({ ...streamed, problem: streamed.problem && { ...streamed.problem, segment: undefined } }).toEqual({ ...expected, problem: expected.problem && { ...expected.problem, segment: undefined } });
    }
    if (expected.problem) expect(verifyLogFile(path).problem!.segment).toBe('tampered.jsonl');
  });

  it('finds each problem where verifyLog always did', () => {
    const kinds = TAMPERED.map(([what, text]) => [what, verifyLog(text).problem?.kind ?? 'ok']);
    expect(kinds).toEqual([
      ['a good log', 'ok'],
      ['an edited field', 'edited'],
      ['a deleted record', 'deleted'],
      ['a duplicated record', 'inserted'],
      ['two swapped records', 'reordered'],
      ['a record moved to the end', 'reordered'],
      ['the first record moved to the end', 'reordered'],
      ['a cut in the middle of a line', 'torn-tail'],
      ['a torn last line', 'torn-tail'],
      ['a line that is not JSON', 'malformed'],
      ['a line that is JSON but no record', 'malformed'],
      ['an empty line', 'malformed'],
      ['a record with its keys in another order', 'edited'],
      ['a line of 2 MiB in the middle', 'malformed'],
      ['an unterminated line of 2 MiB at the end', 'torn-tail'],
    ]);
    expect(verifyLog(TAMPERED[13]![1]).problem!.message).toBe(`line ${K} is longer than 1048576 bytes: not a decision record`);
  });

  it('expectHead is checked at the end of the stream', () => {
    const cut = files.write('cut.jsonl', joined(lines.slice(0, -1)));
    expect(verifyLogFile(cut, { chunkBytes: 7 }).ok).toBe(true);
    expect(verifyLogFile(cut, { chunkBytes: 7, expectHead: records.at(-1)!.hash }).problem).toMatchObject({ kind: 'edited', seq: N - 1 });
    expect(verifyLogFile(goodPath, { chunkBytes: 7, expectHead: records.at(-1)!.hash }).ok).toBe(true);
  });

  it('a file that does not exist is an error, not an empty log', () => {
    expect(() => verifyLogFile(`${files.dir}/nope.jsonl`)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  });
});

describe('queries read in chunks and keep only what they answer', () => {
  const path = files.write('query.jsonl', `${good.slice(0, -1)}\nnot a record\n${'{"seq":1}'.padEnd(3000, ' ')}\n{"seq":${N + 1},"time":1,"agent":"torn`);

  it.each([1, 7, 4096])('recordBatches skips what is not a complete record (chunks of %i)', (chunkBytes) => {
    const seqs = [...recordBatches(path, {}, { chunkBytes, maxLineBytes: 2048 })].flat().map((r) => r.record.seq);
    expect(seqs).toEqual(records.map((r) => r.seq));
  });

  it('the last N matching lines as written, oldest first', () => {
    const mine = lines.filter((_, i) => records[i]!.agent === 'ü');
    expect(queryLog(path, { agent: 'ü' }, { limit: 5, maxChars: 1 << 20, chunkBytes: 3 })).toEqual({ lines: mine.slice(-5), truncated: false });
    expect(queryLog(path, { agent: 'ü' }, { limit: 10_000, maxChars: 1 << 20 })).toEqual({ lines: mine, truncated: false });
  });

  it('with after, the first N after that seq (paging forward)', () => {
    expect(queryLog(path, { after: N - 3 }, { limit: 100, maxChars: 1 << 20 }).lines.map(seqOf)).toEqual([N - 2, N - 1, N]);
    expect(queryLog(path, { after: 10 }, { limit: 3, maxChars: 1 << 20, chunkBytes: 7 }).lines.map(seqOf)).toEqual([11, 12, 13]);
    expect(queryLog(path, { after: N }, { limit: 3, maxChars: 1 << 20 }).lines).toEqual([]);
  });

  it('never more than maxChars: the answer is cut and says so', () => {
    const budget = lines.slice(-3).reduce((n, l) => n + l.length, 0);
    expect(queryLog(path, {}, { limit: 10, maxChars: budget })).toEqual({ lines: lines.slice(-3), truncated: true });
    expect(queryLog(path, {}, { limit: 3, maxChars: budget })).toEqual({ lines: lines.slice(-3), truncated: false });
    expect(queryLog(path, { after: 0 }, { limit: 10, maxChars: lines[0]!.length + lines[1]!.length })).toEqual({ lines: lines.slice(0, 2), truncated: true });
  });

  it('a limit that is not a positive integer is refused', () => {
    expect(() => queryLog(path, {}, { limit: 0, maxChars: 10 })).toThrow(RangeError);
  });

  describe('on a segmented log', () => {
    const base = `${files.dir}/segmented/decisions.jsonl`;
    mkdirSync(`${files.dir}/segmented`);
    const log = new FileDecisionLog(base, { segmentBytes: 8192 });
    for (let i = 1; i <= N; i++) log.record(entry(i));
    log.close();

    it('the newest matches, gathered back across segments; the same as reading it all', () => {
      for (const limit of [1, 7, 40, 150, 1000]) {
        for (const filter of [{}, { agent: 'ü' }, { decision: 'deny', agent: 'a' }, { type: 'signal' }]) {
          const all = [...recordBatches(base, filter)].flat().map((r) => r.line);
          expect(queryLog(base, filter, { limit, maxChars: 1 << 20 }), `${limit} ${JSON.stringify(filter)}`).toEqual({ lines: all.slice(-limit), truncated: false });
        }
      }
    });

    it('after skips the segments before it and pages forward across the others', () => {
      const seqs: number[] = [];
      for (let after = 0; ; ) {
        const page = queryLog(base, { after, agent: 'b' }, { limit: 9, maxChars: 1 << 20 }).lines.map(seqOf);
        if (page.length === 0) break;
        seqs.push(...page);
        after = page.at(-1)!;
      }
      expect(seqs).toEqual(records.filter((r) => r.agent === 'b').map((r) => r.seq));
    });

    it('a segment that ends before `after` is not read at all', () => {
      const dir = `${files.dir}/skipped`;
      cpSync(`${files.dir}/segmented`, dir, { recursive: true });
      // Were the first segment read, its planted record would match.
      writeFileSync(`${dir}/decisions.jsonl`, '{"seq":1,"time":1,"agent":"b"}\n{"seq":999999,"time":1,"agent":"b"}\n');
      const second = listSegments(`${dir}/decisions.jsonl`)[1]!;
      const from = seqOf(readFileSync(second.path, 'utf8').split('\n')[0]!);
      const page = queryLog(`${dir}/decisions.jsonl`, { after: from - 1, agent: 'b' }, { limit: 1000, maxChars: 1 << 20 }).lines.map(seqOf);
      expect(page).toEqual(records.filter((r) => r.agent === 'b' && r.seq >= from).map((r) => r.seq));
      expect(queryLog(`${dir}/decisions.jsonl`, { after: 0, agent: 'b' }, { limit: 1000, maxChars: 1 << 20 }).lines.map(seqOf)).toContain(999999);
    });
  });
});

describe('a record with a lone surrogate or odd characters still verifies from bytes', () => {
  it('what JSON.stringify escapes, the verifier hashes as written', () => {
    const path = files.write('odd.jsonl', '');
    const log = new FileDecisionLog(path);
    log.record({ type: 'signal', pid: 1, agentId: 'x\u2028y', detail: 'lone \ud800 surrogate, NUL \u0000, quote " and \\' });
    log.close();
    expect(verifyLogFile(path, { chunkBytes: 5 }).ok).toBe(true);
  });
});
