/**
 * The run tape's codec and file: text() is JSON.stringify(encode()) for any
 * value that can cross the boundary (the recorder writes the one, a replay
 * compares against the other), decode() undoes encode(), and a tape written
 * by TapeWriter reads back — a call still waiting at the end written as
 * interrupted, a size limit kept with a `cut` line.
 */
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { RecordingTape } from '../../kernel/run-tape/boundary-tape.ts';
import { decode, encode, text } from '../../kernel/run-tape/codec.ts';
import { TAPE_FORMAT, TAPE_VERSION } from '../../kernel/run-tape/events.ts';
import { readTape } from '../../kernel/run-tape/tape-read.ts';
import { ReplyIndex, TapeCursor } from '../../kernel/run-tape/tape-cursor.ts';
import { TapeWriter } from '../../kernel/run-tape/tape-file.ts';

const dir = mkdtempSync(join(tmpdir(), 'tape-codec-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Values as they cross the boundary: plain data with bytes, odd numbers, and keys that look like the codec's own. */
const value = fc.letrec((tie) => ({
  any: fc.oneof(
    { depthSize: 'small' },
    fc.constantFrom(null, true, false, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0, 0, 1e21, -1.5e-7),
    fc.double(),
    fc.integer(),
    fc.string(),
    fc.uint8Array({ maxLength: 40 }).map((b) => new Uint8Array(b)),
    fc.array(tie('any'), { maxLength: 5 }),
    fc.dictionary(fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom('$b', '$n', '$o', '$x', '__proto__', 'constructor')), tie('any'), { maxKeys: 5 }),
  ),
})).any;

describe('the tape codec', () => {
  it('writes text() as JSON.stringify(encode()) and decodes what it encoded', () => {
    fc.assert(
      fc.property(value, (v) => {
        const t = text(v);
        expect(t).toBe(JSON.stringify(encode(v)));
        const back = decode(JSON.parse(t));
        expect(text(back)).toBe(t);
      }),
      { numRuns: 2000 },
    );
  });

  it('keeps bytes, NaN, -0 and a __proto__ key as themselves', () => {
    const v = decode(JSON.parse(text({ bytes: new Uint8Array([0, 255]), nan: Number.NaN, negZero: -0, ['__proto__']: { $b: 'x' } }))) as Record<string, unknown>;
    expect(v.bytes).toEqual(new Uint8Array([0, 255]));
    expect(v.nan).toBeNaN();
    expect(Object.is(v.negZero, -0)).toBe(true);
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(v, '__proto__')?.value).toEqual({ $b: 'x' });
  });
});

const HEADER = { format: TAPE_FORMAT, version: TAPE_VERSION, program: { path: '/p.ts', hash: 'h' }, argv: [], env: {}, manifest: {}, policyVersion: 'v', started: 0, limits: { heapMib: 64 } } as const;

/** writeTape records `calls` calls with argument `arg` into `name`: where it is and its tape file. */
function writeTape(name: string, calls: number, arg: string): { at: string; file: string } {
  const at = join(dir, name);
  const writer = new TapeWriter(at, 'version: 1\nrules: []\n');
  writer.start(HEADER);
  const tape = new RecordingTape(writer);
  for (let i = 0; i < calls; i++) tape.call('blocking', 0, 8, [arg]).answered({ t: 'value', v: i });
  writer.close({ k: 'x', status: 0, reason: 'exit' });
  return { at, file: join(at, 'tape.jsonl') };
}

/** cursorOver reads a checked tape's events through `fd` (no waiting calls in these tapes). */
function cursorOver(file: string, checked: { tapeSha256: string; tapeBytes: number; header: { version: number } }, fd: number): TapeCursor {
  return new TapeCursor({ file, fd, size: checked.tapeBytes, digest: checked.tapeSha256, version: checked.header.version, replies: new ReplyIndex() });
}

describe('the tape file', () => {
  it('reads back what was written, a call still waiting at the end as interrupted', () => {
    const at = join(dir, 'one');
    const writer = new TapeWriter(at, 'version: 1\nrules: []\n');
    writer.start(HEADER);
    const tape = new RecordingTape(writer);
    tape.call('blocking', 0, 8, []).answered({ t: 'value', v: 7 });
    tape.clock();
    tape.call('blocking', 0, 0, [0, 10]).waiting!();
    writer.close({ k: 'x', status: 0, reason: 'exit' }, tape.interrupted());
    const read = readTape(at);
    expect(read.header).toEqual(HEADER);
    const events = [...read.events()];
    expect(events.map((e) => e.k)).toEqual(['c', 't', 'c', 'x']);
    expect(events[2]).toMatchObject({ k: 'c', n: 2, s: 0, a: [0, 10], r: { t: 'fault', errno: 'EINTR' } });
  });

  it('reads tapes of version 1 (no decisions of children) and refuses a version it does not know', () => {
    for (const [version, ok] of [[1, true], [2, true], [3, false]] as const) {
      const at = join(dir, `v${version}`);
      const writer = new TapeWriter(at, 'version: 1\nrules: []\n');
      writer.start({ ...HEADER, version });
      writer.close({ k: 'x', status: 0, reason: 'exit' });
      if (ok) expect(readTape(at).header.version).toBe(version);
      else expect(() => readTape(at)).toThrow(/tape\.jsonl:1: version: 3 is not one this agent-kernel reads \(1, 2\)/);
    }
  });

  it('a tape changed after it was checked changes nothing replayed: its events come from a private copy of the bytes checked', () => {
    const small = writeTape('changed', 3, 'a');
    const read = readTape(small.at);
    const original = readFileSync(small.file, 'utf8');
    writeFileSync(small.file, original.replace('"a"]', '"b"]'));
    const events = [...read.events()];
    expect(events.map((e) => e.k)).toEqual(['c', 'c', 'c', 'x']);
    expect(events.filter((e) => e.k === 'c').map((e) => (e as { a: unknown }).a)).toEqual([['a'], ['a'], ['a']]);
    const again = read.events();
    again.next();
    expect(again.finish()).toBeUndefined();
    writeFileSync(small.file, original.slice(0, 10));
    expect([...read.events()].map((e) => e.k)).toEqual(['c', 'c', 'c', 'x']);
    read.close();
  });

  it('a cursor still checks what it reads: bytes changed under it end its events with a cut that says so, never a crash or a replay of the edit', () => {
    // A cursor over the tape itself (readTape gives it a private copy): what it does if even that copy changed.
    // A small tape (one read): an edit of the same length, which still parses, is known before its first event is taken.
    const small = writeTape('changed-under', 3, 'a');
    const checkedSmall = readTape(small.at);
    checkedSmall.close();
    const smallFd = openSync(small.file, 'r');
    writeFileSync(small.file, readFileSync(small.file, 'utf8').replace('"a"]', '"b"]'));
    const events = [...cursorOver(small.file, checkedSmall, smallFd)];
    expect(events.map((e) => e.k)).toEqual(['cut']);
    expect(events[0]).toMatchObject({ k: 'cut', why: expect.stringMatching(/tape\.jsonl changed since it was checked: its bytes differ from those checked$/) as unknown });
    closeSync(smallFd);
    // A tape of several reads: a line that no longer passes ends the events at once; an edit that passes is found once all is read,
    // and a reader that stopped early learns it from finish(). A tape cut shorter says so.
    const big = writeTape('changed-big', 3000, 'x'.repeat(1000));
    const original = readFileSync(big.file, 'utf8');
    const checkedBig = readTape(big.at);
    checkedBig.close();
    const bigFd = openSync(big.file, 'r');
    const over = () => cursorOver(big.file, checkedBig, bigFd);
    writeFileSync(big.file, original.replace('"n":2,', '"n":7,'));
    expect([...over()].at(-1)).toMatchObject({ k: 'cut', why: expect.stringMatching(/line 3: n: call 7 where call 2 was due/) as unknown });
    writeFileSync(big.file, original.replace('"xx', '"yx'));
    const all = [...over()];
    expect(all.length).toBeGreaterThan(500);
    expect(all.at(-1)).toMatchObject({ k: 'cut', why: expect.stringMatching(/its bytes differ from those checked/) as unknown });
    const early = over();
    early.next();
    expect(early.finish()).toMatch(/its bytes differ from those checked/);
    writeFileSync(big.file, original.slice(0, 100_000));
    expect(over().finish()).toMatch(/it now ends at byte 100000, before the \d+ bytes checked/);
    closeSync(bigFd);
  });

  it('stops at its size limit with a cut line, and keeps the end', () => {
    const at = join(dir, 'cut');
    const writer = new TapeWriter(at, 'version: 1\nrules: []\n', 2000);
    writer.start(HEADER);
    const tape = new RecordingTape(writer);
    for (let i = 0; i < 100; i++) tape.call('blocking', 0, 1, [1, 'x'.repeat(50)]).answered({ t: 'value', v: 50 });
    writer.close({ k: 'x', status: 0, reason: 'exit' });
    const lines = readFileSync(join(at, 'tape.jsonl'), 'utf8').trim().split('\n');
    expect(lines.at(-2)).toContain('"k":"cut"');
    expect(readTape(at).calls).toBeLessThan(100);
  });
});
