/**
 * Segments: FileDecisionLog rolls to `name.000002.ext`, … past segmentBytes
 * with the chain and sequence running on; a reopened log continues its last
 * segment; `agentctl audit verify` checks every segment and the links between
 * them, naming the segment and seq of a missing, reordered, edited or cut
 * segment, and `audit show` reads them all in order.
 */
import { cpSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ChainRecord } from '../../kernel/recorder/chain.ts';
import { FileDecisionLog } from '../../kernel/recorder/file-log.ts';
import { listSegments, segmentBaseOf, segmentPath } from '../../kernel/recorder/segments.ts';
import { verifyLogFile } from '../../kernel/recorder/verify-file.ts';
import { verifyLog } from '../../kernel/recorder/verify.ts';
import type { DecisionInput } from '../../syscalls/records.ts';
import { agentctl, scratch } from './helpers.ts';

const files = scratch();
afterAll(() => files.remove());

const SEGMENT = 8 * 1024;
const N = 200;

/** entry i: an allowed write (written at once, so every record is its own write) from agent a or b. */
function entry(i: number): DecisionInput {
  const agentId = i % 2 === 0 ? 'b' : 'a';
  return { type: 'syscall', pid: 1 + (i % 2), agentId, syscall: i % 3 === 0 ? 'SYS_UNLINK' : 'SYS_WRITE', access: 'write', effect: i % 3 === 0 ? 'deny' : 'allow', rule: `r${i % 3}`, reason: 'because', policyVersion: 'sha256:p', path: `/agent/${agentId}/mem/${i}`, args: { n: i } };
}

/** write records entries from..to into the log at `base` with small segments and returns the log's head. */
function write(base: string, from: number, to: number, options: { segmentBytes?: number } = { segmentBytes: SEGMENT }): string {
  const log = new FileDecisionLog(base, options);
  for (let i = from; i <= to; i++) log.record(entry(i));
  const head = log.head;
  log.close();
  return head;
}

/** fresh makes an empty directory for one log and returns the log's path in it. */
function fresh(name: string): string {
  const dir = join(files.dir, name);
  mkdirSync(dir);
  return join(dir, 'decisions.jsonl');
}

const good = (() => {
  const base = fresh('good');
  const head = write(base, 1, N);
  const segments = listSegments(base);
  const texts = segments.map((s) => readFileSync(s.path, 'utf8'));
  return { base, head, segments, texts };
})();
const seqsOf = (text: string) => text.trimEnd().split('\n').map((l) => (JSON.parse(l) as ChainRecord).seq);

describe('FileDecisionLog rolls to new segments', () => {
  it('past segmentBytes, into name.000002.ext and on; each segment whole records, none past the size', () => {
    expect(good.segments.length).toBeGreaterThanOrEqual(4);
    expect(readdirSync(join(files.dir, 'good')).toSorted()).toEqual(good.segments.map((s) => s.name).toSorted());
    expect(good.segments.map((s) => s.name)).toEqual(['decisions.jsonl', ...good.segments.slice(1).map((_, i) => `decisions.${String(i + 2).padStart(6, '0')}.jsonl`)]);
    for (const [i, s] of good.segments.entries()) {
      const size = statSync(s.path).size;
      expect(size).toBeLessThanOrEqual(SEGMENT);
      if (i < good.segments.length - 1) expect(size).toBeGreaterThan(SEGMENT - 1000);
      expect(good.texts[i]!.endsWith('\n')).toBe(true);
    }
  });

  it('seq and the chain run on: a segment starts where the one before stopped, and together they are one log', () => {
    let last = 0;
    for (const [i, text] of good.texts.entries()) {
      const seqs = seqsOf(text);
      expect(seqs[0]).toBe(last + 1);
      last = seqs.at(-1)!;
      if (i > 0) {
        const prevTail = JSON.parse(good.texts[i - 1]!.trimEnd().split('\n').at(-1)!) as ChainRecord;
        expect((JSON.parse(text.split('\n')[0]!) as ChainRecord).prev).toBe(prevTail.hash);
      }
    }
    expect(last).toBe(N);
    expect(verifyLog(good.texts.join(''))).toEqual({ ok: true, records: N, head: good.head });
    expect(verifyLogFile(good.base, { chunkBytes: 100 })).toEqual({ ok: true, records: N, head: good.head, segments: good.segments.length });
  });

  it('onRoll names each new segment before anything is written to it', () => {
    const base = fresh('hook');
    const seen: [string, number][] = [];
    const log = new FileDecisionLog(base, { segmentBytes: SEGMENT, onRoll: (s) => seen.push([s.name, statSync(s.path).size]) });
    for (let i = 1; i <= 60; i++) log.record(entry(i));
    log.close();
    expect(seen).toEqual(listSegments(base).slice(1).map((s) => [s.name, 0]));
  });

  it('a reopened log continues its last segment, then rolls on', () => {
    const base = fresh('reopen');
    const first = write(base, 1, 30);
    const before = listSegments(base);
    const log = new FileDecisionLog(base, { segmentBytes: SEGMENT });
    expect([log.count, log.head, log.current.name]).toEqual([30, first, before.at(-1)!.name]);
    log.record(entry(31));
    log.close();
    expect(listSegments(base).map((s) => s.name)).toEqual(before.map((s) => s.name));
    expect(seqsOf(readFileSync(before.at(-1)!.path, 'utf8')).at(-1)).toBe(31);
    const head = write(base, 32, 120);
    expect(listSegments(base).length).toBeGreaterThan(before.length);
    expect(verifyLogFile(base)).toMatchObject({ ok: true, records: 120, head });
  });

  it('an empty last segment (a roll cut short) is continued, its chain taken from the segment before', () => {
    const base = fresh('empty-last');
    const head = write(base, 1, 80);
    const segments = listSegments(base);
    const empty = segmentPath(base, segments.at(-1)!.index + 1);
    writeFileSync(empty, '');
    expect(verifyLogFile(base)).toMatchObject({ ok: true, records: 80, head });
    const log = new FileDecisionLog(base, { segmentBytes: SEGMENT });
    expect([log.count, log.head, log.current.path]).toEqual([80, head, empty]);
    log.record(entry(81));
    log.close();
    expect((JSON.parse(readFileSync(empty, 'utf8')) as ChainRecord).prev).toBe(head);
    expect(verifyLogFile(base)).toMatchObject({ ok: true, records: 81 });
  });

  it('a torn last segment is not reopened (EIO), and nothing is written', () => {
    const base = fresh('torn-last');
    write(base, 1, 80);
    const last = listSegments(base).at(-1)!;
    truncateSync(last.path, statSync(last.path).size - 5);
    const size = statSync(last.path).size;
    expect(() => new FileDecisionLog(base, { segmentBytes: SEGMENT })).toThrow(expect.objectContaining({ errno: 'EIO', message: expect.stringContaining(last.name) }));
    expect(statSync(last.path).size).toBe(size);
  });

  it('without segmentBytes a log is one file for ever; a log that never rolled is one segment, and rolls on when given a size', () => {
    const base = fresh('one-file');
    const head = write(base, 1, N, {});
    expect(listSegments(base).map((s) => s.name)).toEqual(['decisions.jsonl']);
    expect(verifyLogFile(base)).toEqual({ ok: true, records: N, head, segments: 1 });
    const later = write(base, N + 1, N + 20);
    expect(listSegments(base).length).toBeGreaterThan(1);
    expect(verifyLogFile(base)).toEqual({ ok: true, records: N + 20, head: later, segments: listSegments(base).length });
  });

  it('segmentBytes must be a whole number of bytes', () => {
    expect(() => new FileDecisionLog(fresh('bad-size'), { segmentBytes: 1.5 })).toThrow(RangeError);
  });
});

describe('segment names', () => {
  it('insert the number before the extension, or append it; only canonical names count', () => {
    expect(segmentPath('/x/decisions.jsonl', 1)).toBe('/x/decisions.jsonl');
    expect(segmentPath('/x/decisions.jsonl', 2)).toBe('/x/decisions.000002.jsonl');
    expect(segmentPath('/x/log', 1_234_567)).toBe('/x/log.1234567');
    const dir = join(files.dir, 'names');
    mkdirSync(dir);
    for (const name of ['log', 'log.000002', 'log.000010', 'log.2', 'log.0000003', 'log.00000x', 'logs.000004', 'log.000001']) writeFileSync(join(dir, name), '');
    expect(listSegments(join(dir, 'log')).map((s) => [s.index, s.name])).toEqual([[1, 'log'], [2, 'log.000002'], [10, 'log.000010']]);
    expect(listSegments(join(files.dir, 'no-such-dir', 'log'))).toEqual([]);
  });
});

/** tampered copies the good log's directory and lets `change` alter the copy; returns the copy's log path. */
function tampered(name: string, change: (base: string) => void): string {
  const dir = join(files.dir, name);
  cpSync(join(files.dir, 'good'), dir, { recursive: true });
  const base = join(dir, 'decisions.jsonl');
  change(base);
  return base;
}

const seg = (base: string, i: number) => segmentPath(base, i);
const nameOf = (i: number) => good.segments[i - 1]!.name;
const firstSeq = (i: number) => seqsOf(good.texts[i - 1]!)[0]!;
const lastSeq = (i: number) => seqsOf(good.texts[i - 1]!).at(-1)!;

describe('agentctl audit verify checks every segment and the links between them', () => {
  it('a good segmented log: exit 0, the records and segments counted', async () => {
    const r = await agentctl(['audit', 'verify', good.base]);
    expect([r.status, r.stdout]).toEqual([0, `ok: ${N} records verify in ${good.segments.length} segments; head ${good.head}\n`]);
    const json = JSON.parse((await agentctl(['audit', 'verify', good.base, '--json', '--head', good.head])).stdout);
    expect(json).toEqual({ ok: true, records: N, head: good.head, segments: good.segments.length });
  });

  // prettier-ignore
  const CASES: readonly [what: string, change: (base: string) => void, kind: string, seq: () => number, message: () => string][] = [
    ['a middle segment deleted', (b) => rmSync(seg(b, 3)), 'deleted', () => firstSeq(3),
      () => `segment ${nameOf(3)} is missing after ${nameOf(2)}: record ${firstSeq(3)} onwards should be there; the next segment present is ${nameOf(4)}`],
    ['the first segment deleted', (b) => rmSync(b), 'deleted', () => 1,
      () => `segment decisions.jsonl is missing: record 1 onwards should be there; the next segment present is ${nameOf(2)}`],
    ['two segments swapped', (b) => { renameSync(seg(b, 2), `${b}.x`); renameSync(seg(b, 3), seg(b, 2)); renameSync(`${b}.x`, seg(b, 3)); }, 'reordered', () => firstSeq(3),
      () => `${nameOf(2)}: record ${firstSeq(3)} at line 1 comes before record ${firstSeq(2)}: reordered`],
    ['a record edited in the third segment', (b) => writeFileSync(seg(b, 3), good.texts[2]!.replace('"pid":', '"pid":7')), 'edited', () => firstSeq(3),
      () => `${nameOf(3)}: record ${firstSeq(3)} (line 1) does not match its hash: edited`],
    ['a middle segment cut mid-record', (b) => truncateSync(seg(b, 2), statSync(seg(b, 2)).size - 10), 'torn-tail', () => lastSeq(2),
      () => `${nameOf(2)}: line ${lastSeq(2) - firstSeq(2) + 1} is an incomplete record (the segment was cut short: later segments follow); ${lastSeq(2) - 1} records before it verify`],
    ['a middle segment cut at a record boundary', (b) => writeFileSync(seg(b, 2), good.texts[1]!.split('\n').slice(0, -3).join('\n') + '\n'), 'deleted', () => lastSeq(2) - 1,
      () => `${nameOf(3)}: record ${lastSeq(2) - 1} is missing (found ${firstSeq(3)} at line 1): deleted; ${nameOf(2)} ends at record ${lastSeq(2) - 2}`],
  ];

  it.each(CASES)('%s: exit 1, naming the segment and the seq', async (what, change, kind, seq, message) => {
    const base = tampered(what.replaceAll(' ', '-'), change);
    const [text, json] = await Promise.all([agentctl(['audit', 'verify', base]), agentctl(['audit', 'verify', base, '--json'])]);
    expect(text.status).toBe(1);
    expect(text.stdout).toBe(`FAILED at seq ${seq()}: ${message()}\n`);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, problem: { kind, seq: seq() } });
  });

  it('a later segment given alone fails at seq 1, with a hint to verify the log it belongs to', async () => {
    const r = await agentctl(['audit', 'verify', good.segments[2]!.path]);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe(
      `FAILED at seq 1: record 1 is missing (found ${firstSeq(3)} at line 1): deleted\n${good.segments[2]!.path} is segment 3 of ${good.base}: run 'agentctl audit verify ${good.base}' to check every segment and the links between them\n`,
    );
    expect(segmentBaseOf('/x/log.000012')).toEqual({ base: '/x/log', index: 12 });
    expect([segmentBaseOf('/x/log.jsonl'), segmentBaseOf('/x/log.000001.jsonl'), segmentBaseOf('/x/log.02.jsonl')]).toEqual([undefined, undefined, undefined]);
  });

  it('the last segment deleted looks whole, and --head catches it', async () => {
    const base = tampered('last-deleted', (b) => rmSync(seg(b, good.segments.length)));
    const [plain, anchored] = await Promise.all([agentctl(['audit', 'verify', base]), agentctl(['audit', 'verify', base, '--head', good.head])]);
    expect(plain.status).toBe(0);
    expect(anchored.status).toBe(1);
    expect(anchored.stdout).toContain(`FAILED at seq ${lastSeq(good.segments.length - 1)}: the last record's hash is not the expected head`);
  });
});

describe('agentctl audit show reads every segment in order', () => {
  it('all records, and a filter across segments', async () => {
    const [all, b] = await Promise.all([agentctl(['audit', 'show', good.base, '--json']), agentctl(['audit', 'show', good.base, '--agent', 'b', '--decision', 'deny'])]);
    expect(all.status).toBe(0);
    expect(all.stdout).toBe(good.texts.join(''));
    const expected = good.texts.join('').trimEnd().split('\n').map((l) => JSON.parse(l) as ChainRecord).filter((r) => r.agent === 'b' && r.decision === 'deny');
    expect(b.stdout.trimEnd().split('\n').map((l) => Number(l.trim().split(' ')[0]))).toEqual(expected.map((r) => r.seq));
  });
});
