// UTF-8 for the runtime's own use (sys.readFile/writeFile, fetch's inline bodies); the web globals bring
// TextEncoder/TextDecoder. Both directions are linear, with no per-character allocation: a body is agent-sized.

const apply = Reflect.apply;
const fromCharCode = String.fromCharCode;
const typedArrayProto = Object.getPrototypeOf(Uint8Array.prototype);
const tagOf = Object.getOwnPropertyDescriptor(typedArrayProto, Symbol.toStringTag).get;
const subarray = Uint8Array.prototype.subarray;
/** Code units turned into text at a time (an argument list's size). */
const CHUNK = 4096;

/** encodeUtf8 encodes text as UTF-8, each lone surrogate becoming U+FFFD. */
export function encodeUtf8(text) {
  const s = String(text);
  const n = s.length;
  // The size first, so the bytes are written once into a buffer of their size.
  let size = 0;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) size += 1;
    else if (c < 0x800) size += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < n && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      size += 4;
      i++;
    } else size += 3;
  }
  const out = new Uint8Array(size);
  if (size === n) {
    for (let i = 0; i < n; i++) out[i] = s.charCodeAt(i);
    return out;
  }
  let o = 0;
  for (let i = 0; i < n; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      out[o++] = c;
      continue;
    }
    if (c < 0x800) {
      out[o++] = 0xc0 | (c >> 6);
      out[o++] = 0x80 | (c & 63);
      continue;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const d = i + 1 < n ? s.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && (d & 0xfc00) === 0xdc00) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
        out[o++] = 0xf0 | (c >> 18);
        out[o++] = 0x80 | ((c >> 12) & 63);
        out[o++] = 0x80 | ((c >> 6) & 63);
        out[o++] = 0x80 | (c & 63);
        continue;
      }
      c = 0xfffd;
    }
    out[o++] = 0xe0 | (c >> 12);
    out[o++] = 0x80 | ((c >> 6) & 63);
    out[o++] = 0x80 | (c & 63);
  }
  return out;
}

/** decodeUtf8 decodes UTF-8, each malformed sequence (bad lead or continuation, overlong, surrogate, past U+10FFFF) becoming U+FFFD. */
export function decodeUtf8(bytes) {
  let out = '';
  const units = [];
  let k = 0;
  const n = bytes.length;
  // A run of ASCII in a Uint8Array becomes text straight from its bytes, CHUNK at a time.
  const view = apply(tagOf, bytes, []) === 'Uint8Array';
  const cont = (at) => at < n && (bytes[at] & 0xc0) === 0x80;
  for (let i = 0; i < n; ) {
    const b = bytes[i];
    if (b < 0x80 && view) {
      let j = i + 1;
      const end = i + CHUNK < n ? i + CHUNK : n;
      while (j < end && bytes[j] < 0x80) j++;
      if (k > 0) {
        units.length = k;
        out += apply(fromCharCode, undefined, units);
        k = 0;
      }
      out += apply(fromCharCode, undefined, apply(subarray, bytes, [i, j]));
      i = j;
      continue;
    }
    let c = 0xfffd;
    let size = 1;
    if (b < 0x80) c = b;
    else if (b >= 0xc2 && b <= 0xdf && cont(i + 1)) {
      c = ((b & 31) << 6) | (bytes[i + 1] & 63);
      size = 2;
    } else if (b >= 0xe0 && b <= 0xef && cont(i + 1) && cont(i + 2)) {
      const v = ((b & 15) << 12) | ((bytes[i + 1] & 63) << 6) | (bytes[i + 2] & 63);
      if (v >= 0x800 && (v < 0xd800 || v > 0xdfff)) {
        c = v;
        size = 3;
      }
    } else if (b >= 0xf0 && b <= 0xf4 && cont(i + 1) && cont(i + 2) && cont(i + 3)) {
      const v = ((b & 7) << 18) | ((bytes[i + 1] & 63) << 12) | ((bytes[i + 2] & 63) << 6) | (bytes[i + 3] & 63);
      if (v >= 0x10000 && v <= 0x10ffff) {
        c = v;
        size = 4;
      }
    }
    if (c > 0xffff) {
      units[k++] = 0xd800 + ((c - 0x10000) >> 10);
      units[k++] = 0xdc00 + ((c - 0x10000) & 0x3ff);
    } else units[k++] = c;
    i += size;
    if (k >= CHUNK) {
      units.length = k;
      out += apply(fromCharCode, undefined, units);
      k = 0;
    }
  }
  units.length = k;
  return k === 0 ? out : out + apply(fromCharCode, undefined, units);
}
