// TextDecoder's legacy encodings in a real isolate (UTF-16LE/BE and
// windows-1252 under all their WHATWG labels), compared with Node's own
// TextDecoder (full ICU) on the same bytes: every byte value, random UTF-16
// with lone surrogates and odd lengths, split into random stream chunks,
// with and without `fatal` and `ignoreBOM`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebIsolate, type WebIsolate } from './web-harness.ts';

let web: WebIsolate;
beforeAll(async () => {
  web = await createWebIsolate();
});
afterAll(() => web.dispose());

interface Case {
  label: string;
  fatal: boolean;
  ignoreBOM: boolean;
  /** chunks decoded with `stream: true`, then a final decode() */
  chunks: number[][];
}

// The same decoding run in the isolate (as source) and on the host: the encoding, then each piece of text, or the error's class where it threw.
const DECODE = `(c) => {
  const decoder = new TextDecoder(c.label, { fatal: c.fatal, ignoreBOM: c.ignoreBOM });
  const out = [decoder.encoding];
  try {
    for (const chunk of c.chunks) out.push(decoder.decode(new Uint8Array(chunk), { stream: true }));
    out.push(decoder.decode());
  } catch (e) {
    out.push(e.constructor.name);
  }
  return out;
}`;

/** hostDecode is the same source run by the host's Node (full ICU). */
const hostDecode = new Function(`return ${DECODE}`)() as (c: Case) => string[];

async function compare(cases: Case[]): Promise<void> {
  const got = await web.run<string[][]>(`const decode = ${DECODE}; return ${JSON.stringify(cases)}.map(decode);`);
  expect(got).toEqual(cases.map(hostDecode));
}

/** random is a seeded xorshift, so a failure can be replayed. */
function random(seed: number): (n: number) => number {
  let s = seed;
  return (n) => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) % n;
  };
}

/** split cuts `bytes` into chunks at random places (empty chunks included). */
function split(bytes: number[], next: (n: number) => number): number[][] {
  const chunks: number[][] = [];
  let at = 0;
  while (at < bytes.length) {
    const size = next(4);
    chunks.push(bytes.slice(at, at + size));
    at += size;
  }
  return chunks;
}

const WINDOWS_1252_LABELS = ['ansi_x3.4-1968', 'ascii', 'cp1252', 'cp819', 'csisolatin1', 'ibm819', 'iso-8859-1', 'iso-ir-100', 'iso8859-1', 'iso88591',
  'iso_8859-1', 'iso_8859-1:1987', 'l1', 'latin1', 'us-ascii', 'windows-1252', 'x-cp1252', ' \tLATIN1\n', 'Windows-1252'];
const UTF16LE_LABELS = ['csunicode', 'iso-10646-ucs-2', 'ucs-2', 'unicode', 'unicodefeff', 'utf-16', 'utf-16le', 'UTF-16LE'];
const UTF16BE_LABELS = ['unicodefffe', 'utf-16be', ' UTF-16BE '];

describe('TextDecoder legacy encodings', () => {
  it('windows-1252 under each of its labels decodes all 256 byte values as Node does (0x80–0x9F by the WHATWG table), fatal or not', async () => {
    const all = Array.from({ length: 256 }, (_, i) => i);
    const next = random(1252);
    await compare(WINDOWS_1252_LABELS.flatMap((label) => [
      { label, fatal: false, ignoreBOM: false, chunks: [all] },
      { label, fatal: true, ignoreBOM: false, chunks: split([0xef, 0xbb, 0xbf, ...all], next) },
    ]));
  });

  it('UTF-16LE and BE under each label: random code units (lone surrogates, a BOM, odd lengths) in random stream chunks, fatal or not', async () => {
    const next = random(16);
    const cases: Case[] = [];
    for (const label of [...UTF16LE_LABELS, ...UTF16BE_LABELS]) {
      const bigEndian = UTF16BE_LABELS.includes(label);
      for (let n = 0; n < 24; n++) {
        const units: number[] = next(3) === 0 ? [0xfeff] : [];
        const length = next(12);
        for (let i = 0; i < length; i++) {
          const kind = next(6);
          units.push(kind === 0 ? 0xd800 + next(0x400) : kind === 1 ? 0xdc00 + next(0x400) : kind === 2 ? next(0x80) : next(0x10000));
        }
        const bytes = units.flatMap((u) => (bigEndian ? [u >> 8, u & 0xff] : [u & 0xff, u >> 8]));
        if (next(4) === 0) bytes.push(next(256));
        cases.push({ label, fatal: n % 2 === 1, ignoreBOM: n % 4 >= 2, chunks: split(bytes, next) });
      }
    }
    await compare(cases);
  });

  it('a surrogate pair and a BOM split byte by byte across stream chunks come out whole, and a dangling byte or lead surrogate at the end is U+FFFD or, fatal, a TypeError', async () => {
    const pair = [[0x3d], [0xd8], [0x00], [0xde]];
    await compare([
      { label: 'utf-16le', fatal: false, ignoreBOM: false, chunks: [[0xff], [0xfe], ...pair] },
      { label: 'utf-16be', fatal: true, ignoreBOM: false, chunks: [[0xfe], [0xff], [0xd8], [0x3d], [0xde], [0x00]] },
      { label: 'utf-16le', fatal: false, ignoreBOM: true, chunks: [[0xff, 0xfe, 0x41]] },
      { label: 'utf-16le', fatal: true, ignoreBOM: false, chunks: [[0x41, 0x00, 0x42]] },
      { label: 'utf-16be', fatal: false, ignoreBOM: false, chunks: [[0xd8, 0x3d]] },
      { label: 'utf-16be', fatal: true, ignoreBOM: false, chunks: [[0xd8, 0x3d]] },
      { label: 'utf-16le', fatal: true, ignoreBOM: false, chunks: [[0x00, 0xdc]] },
    ]);
  });

  it('TextDecoderStream takes the same encodings, and an unknown label is a RangeError for both', async () => {
    const result = await web.run(`
      const read = async (label, chunks) => {
        const stream = new TextDecoderStream(label);
        const writer = stream.writable.getWriter();
        for (const chunk of chunks) writer.write(new Uint8Array(chunk));
        writer.close();
        let out = '';
        for (const reader = stream.readable.getReader(); ;) { const { done, value } = await reader.read(); if (done) break; out += value; }
        return [stream.encoding, out];
      };
      const unknown = [];
      for (const make of [() => new TextDecoder('iso-8859-99'), () => new TextDecoderStream('utf-32')]) {
        try { make(); } catch (e) { unknown.push(e.constructor.name); }
      }
      return [await read('utf-16be', [[0xfe], [0xff, 0x00], [0x41, 0xd8], [0x3d, 0xde, 0x00]]), await read('cp1252', [[0x80, 0x41], [0x9f]]), unknown];
    `);
    expect(result).toEqual([['utf-16be', 'A\u{1f600}'], ['windows-1252', '\u20acA\u0178'], ['RangeError', 'RangeError']]);
  });
});
