/**
 * Content fingerprints for the write-then-execute guard, taken after
 * collapsing whitespace: the whole text, each line of 8 or more characters,
 * and winnowed 16-character windows (Schleimer, Wilkerson and Aiken's
 * winnowing, window 8), so any shared run of 23 or more characters is found
 * wherever it sits in either text. One pass over the text, whatever its
 * size: whitespace is collapsed on the fly, windows are hashed with two
 * rolling polynomial hashes combined into a 53-bit number (accidental
 * matches are negligible), and winnowing keeps a monotone deque. Pure
 * functions, shared by the kernel and its fingerprint worker.
 */

const K = 16;
const W = 8;
const MIN_LINE = 8;
const BASE_A = 0x01000193;
const BASE_B = 0x5bd1e995;
const SPACE = 32;

/** powOf is base^(K-1) mod 2^32, for removing a window's first character. */
function powOf(base: number): number {
  let p = 1;
  for (let i = 1; i < K; i++) p = Math.imul(p, base);
  return p;
}
const POW_A = powOf(BASE_A);
const POW_B = powOf(BASE_B);

/** isSpace: what JavaScript's `\s` matches. */
function isSpace(c: number): boolean {
  if (c <= 32) return c === 32 || (c >= 9 && c <= 13);
  if (c < 0xa0) return false;
  return c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff;
}

/** Whole hashes a whitespace-collapsed text character by character (FNV-style, two lanes, 53 bits). */
class Whole {
  a = 0x811c9dc5;
  b = 0x9747b28c;
  length = 0;
  reset(): void {
    this.a = 0x811c9dc5;
    this.b = 0x9747b28c;
    this.length = 0;
  }
  push(c: number): void {
    this.a = Math.imul(this.a ^ c, 0x01000193);
    this.b = Math.imul(this.b ^ c, 0x5bd1e995) ^ (this.b >>> 15);
    this.length++;
  }
  get value(): number {
    return (this.a >>> 0) * 0x200000 + ((this.b >>> 0) & 0x1fffff);
  }
}

/** Out is a growable list of fingerprints. */
class Out {
  data = new Float64Array(64);
  length = 0;
  push(v: number): void {
    if (this.length === this.data.length) {
      const grown = new Float64Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    this.data[this.length++] = v;
  }
}

const DEQUE = 16;
const DEQUE_MASK = DEQUE - 1;
const RING_MASK = K - 1;

/** Windows hashes K-character windows of the collapsed text with two rolling hashes and winnows them (a monotone deque). */
class Windows {
  private readonly ring = new Uint16Array(K);
  private filled = 0;
  private a = 0;
  private b = 0;
  private index = -1;
  private readonly dequeIndex = new Float64Array(DEQUE);
  private readonly dequeHash = new Float64Array(DEQUE);
  private head = 0;
  private tail = 0;
  private lastPicked = -1;
  private readonly out: Out;

  constructor(out: Out) {
    this.out = out;
  }

  push(c: number): void {
    const code = c + 1;
    if (this.filled < K) {
      this.a = (Math.imul(this.a, BASE_A) + code) | 0;
      this.b = (Math.imul(this.b, BASE_B) + code) | 0;
      this.ring[this.filled++] = c;
      if (this.filled < K) return;
      this.index = 0;
    } else {
      this.index++;
      const slot = (this.index - 1) & RING_MASK;
      const gone = this.ring[slot]! + 1;
      this.ring[slot] = c;
      this.a = (Math.imul(this.a - Math.imul(gone, POW_A), BASE_A) + code) | 0;
      this.b = (Math.imul(this.b - Math.imul(gone, POW_B), BASE_B) + code) | 0;
    }
    const index = this.index;
    const hash = (this.a >>> 0) * 0x200000 + ((this.b >>> 0) & 0x1fffff);
    // Rightmost minimum on ties: drop every queued hash not below the new one.
    while (this.tail > this.head && this.dequeHash[(this.tail - 1) & DEQUE_MASK]! >= hash) this.tail--;
    this.dequeIndex[this.tail & DEQUE_MASK] = index;
    this.dequeHash[this.tail & DEQUE_MASK] = hash;
    this.tail++;
    if (this.dequeIndex[this.head & DEQUE_MASK]! <= index - W) this.head++;
    if (index >= W - 1) this.pick();
  }

  private pick(): void {
    const picked = this.dequeIndex[this.head & DEQUE_MASK]!;
    if (picked !== this.lastPicked) this.out.push(this.dequeHash[this.head & DEQUE_MASK]!);
    this.lastPicked = picked;
  }

  /** finish: with fewer than W windows, their minimum once (shorter texts than a window are left to the whole fingerprint). */
  finish(): void {
    if (this.index >= 0 && this.index < W - 1) this.pick();
  }
}

/** fingerprints lists the whole, line and winnowed window fingerprints of `raw`. */
export function fingerprints(raw: string): Float64Array {
  const out = new Out();
  const whole = new Whole();
  const line = new Whole();
  const windows = new Windows(out);
  let pendingSpace = false;
  let linePendingSpace = false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 10) {
      if (line.length >= MIN_LINE) out.push(line.value);
      line.reset();
      linePendingSpace = false;
    }
    if (isSpace(c)) {
      if (whole.length > 0) pendingSpace = true;
      if (line.length > 0 && c !== 10) linePendingSpace = true;
      continue;
    }
    if (pendingSpace) {
      whole.push(SPACE);
      windows.push(SPACE);
      pendingSpace = false;
    }
    if (linePendingSpace) {
      line.push(SPACE);
      linePendingSpace = false;
    }
    whole.push(c);
    line.push(c);
    windows.push(c);
  }
  if (line.length >= MIN_LINE) out.push(line.value);
  if (whole.length === 0) return new Float64Array(0);
  windows.finish();
  out.push(whole.value);
  return out.data.subarray(0, out.length);
}
