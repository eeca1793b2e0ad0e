/**
 * The run tape's codec and file: text() is JSON.stringify(encode()) for any
 * value that can cross the boundary (the recorder writes the one, a replay
 * compares against the other), decode() undoes encode(), and a tape written
 * by TapeWriter reads back — a call still waiting at the end written as
 * interrupted, a size limit kept with a `cut` line.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { RecordingTape } from '../../kernel/run-tape/boundary-tape.ts';
import { decode, encode, text } from '../../kernel/run-tape/codec.ts';
import { TAPE_FORMAT, TAPE_VERSION } from '../../kernel/run-tape/events.ts';
import { readTape } from '../../kernel/run-tape/tape-read.ts';
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

const HEADER = { format: TAPE_FORMAT, version: TAPE_VERSION, program: { path: 'p.ts', hash: 'h' }, argv: [], env: {}, manifest: {}, policyVersion: 'v', started: 0, limits: { heapMib: 64 } } as const;

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

  it('a tape changed after it was checked ends its events with a cut that says so, never a crash', () => {
    const at = join(dir, 'changed');
    const writer = new TapeWriter(at, 'version: 1\nrules: []\n');
    writer.start(HEADER);
    const tape = new RecordingTape(writer);
    for (let i = 0; i < 3; i++) tape.call('blocking', 0, 8, []).answered({ t: 'value', v: i });
    writer.close({ k: 'x', status: 0, reason: 'exit' });
    const read = readTape(at);
    const file = join(at, 'tape.jsonl');
    writeFileSync(file, readFileSync(file, 'utf8').replace('"n":2', '"n":7'));
    const events = [...read.events()];
    expect(events.map((e) => e.k)).toEqual(['c', 'cut']);
    expect(events[1]).toMatchObject({ k: 'cut', why: expect.stringMatching(/changed since it was checked: line 3: n: call 7 where call 2 was due/) as unknown });
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
