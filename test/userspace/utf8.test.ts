/**
 * Ring 3's own UTF-8 (userspace/runtime/utf8.js: sys.readFile/writeFile,
 * sys.encodeUtf8/decodeUtf8, fetch's inline bodies) against the platform's
 * TextEncoder/TextDecoder: the same bytes for any text (a lone surrogate is
 * U+FFFD), the same text for any valid UTF-8, in a Uint8Array or an array,
 * across the runs it decodes at a time.
 */
import { describe, expect, it } from 'vitest';
// @ts-expect-error -- ring 3's plain JavaScript, without typings
import { decodeUtf8, encodeUtf8 } from '../../userspace/runtime/utf8.js';

const encode = encodeUtf8 as (text: string) => Uint8Array;
const decode = decodeUtf8 as (bytes: Uint8Array | number[]) => string;

let seed = 7;
const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed % n);
const UNITS = [0x41, 0x7f, 0x80, 0x7ff, 0x800, 0xd7ff, 0xd800, 0xdbff, 0xdc00, 0xdfff, 0xe000, 0xfeff, 0xfffd, 0xffff, 0x20, 0x3b1];

function text(length: number): string {
  let s = '';
  for (let i = 0; i < length; i++) s += String.fromCharCode(rnd(3) === 0 ? rnd(0x10000) : UNITS[rnd(UNITS.length)]!);
  return s;
}

describe("ring 3's UTF-8", () => {
  it('encodes as TextEncoder does and decodes valid UTF-8 as TextDecoder does, short and long (past a decoding run of 4,096)', () => {
    const platform = new TextEncoder();
    const decoder = new TextDecoder();
    for (let t = 0; t < 3000; t++) {
      const s = text(t % 100 === 0 ? 5000 + rnd(5000) : rnd(60));
      const bytes = encode(s);
      expect(bytes).toEqual(platform.encode(s));
      expect(decode(bytes)).toBe(decoder.decode(bytes));
      expect(decode([...bytes])).toBe(decoder.decode(bytes));
    }
    const ascii = 'x'.repeat(10_000) + '😀' + 'y'.repeat(5000);
    expect(decode(encode(ascii))).toBe(ascii);
  });

  it('a malformed byte becomes U+FFFD, one per byte it cannot use', () => {
    expect(decode(new Uint8Array([0x41, 0xff, 0x42, 0xc0, 0x80, 0xe2, 0x82]))).toBe('A\uFFFDB\uFFFD\uFFFD\uFFFD\uFFFD');
    expect(decode(new Uint8Array([0xed, 0xa0, 0x80]))).toBe('\uFFFD\uFFFD\uFFFD');
  });
});
