// atob and btoa (HTML "forgiving-base64"). Written here: a dozen lines,
// where core-js's version installs itself on the global object.
import { DOMException } from './dom-exception.js';
import { NativeUint8Array, fromCharCode } from './intrinsics.js';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const VALUES = new Int16Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) VALUES[ALPHABET.charCodeAt(i)] = i;
const WHITESPACE = /[\t\n\f\r ]/g;
// The URL-safe alphabet's two letters, which Node's lenient decoding also reads.
const LOOSE = VALUES.slice();
LOOSE[0x2d] = 62;
LOOSE[0x5f] = 63;

/** btoa(data) base64-encodes a binary string; InvalidCharacterError for a code unit above 0xFF. */
export function btoa(data) {
  if (arguments.length === 0) throw new TypeError('The "data" argument must be specified');
  const input = `${data}`;
  let out = '';
  for (let i = 0; i < input.length; i += 3) {
    const a = input.charCodeAt(i);
    const b = i + 1 < input.length ? input.charCodeAt(i + 1) : 0;
    const c = i + 2 < input.length ? input.charCodeAt(i + 2) : 0;
    if (a > 0xff || b > 0xff || c > 0xff) throw new DOMException('Invalid character', 'InvalidCharacterError');
    const bits = (a << 16) | (b << 8) | c;
    out += ALPHABET[bits >> 18] + ALPHABET[(bits >> 12) & 63];
    out += i + 1 < input.length ? ALPHABET[(bits >> 6) & 63] : '=';
    out += i + 2 < input.length ? ALPHABET[bits & 63] : '=';
  }
  return out;
}

/** atob(data) decodes base64 into a binary string; InvalidCharacterError for malformed input. */
export function atob(data) {
  if (arguments.length === 0) throw new TypeError('The "data" argument must be specified');
  let input = `${data}`.replace(WHITESPACE, '');
  if (input.length % 4 === 0 && input.endsWith('==')) input = input.slice(0, -2);
  else if (input.length % 4 === 0 && input.endsWith('=')) input = input.slice(0, -1);
  if (input.length % 4 === 1) throw new DOMException('The string to be decoded is not correctly encoded.', 'InvalidCharacterError');
  const units = [];
  let out = '';
  let bits = 0;
  let count = 0;
  for (let i = 0; i < input.length; i++) {
    const code = input.charCodeAt(i);
    const value = code < 128 ? VALUES[code] : -1;
    if (value === -1) throw new DOMException('The string to be decoded is not correctly encoded.', 'InvalidCharacterError');
    bits = (bits << 6) | value;
    if (++count === 4) {
      units.push((bits >> 16) & 0xff, (bits >> 8) & 0xff, bits & 0xff);
      bits = count = 0;
    }
    if (units.length >= 8190) out += fromCharCode(...units.splice(0));
  }
  if (count === 3) units.push((bits >> 10) & 0xff, (bits >> 2) & 0xff);
  else if (count === 2) units.push((bits >> 4) & 0xff);
  return out + fromCharCode(...units);
}

/**
 * decodeLoose decodes base64 bytes as Node's Buffer.from(…, 'base64') does
 * (undici's formData() reads a part sent with Content-Transfer-Encoding:
 * base64 so): both alphabets, anything else skipped, up to the first '='.
 */
export function decodeLoose(bytes) {
  const out = new NativeUint8Array(((bytes.length + 3) >> 2) * 3);
  let length = 0;
  let bits = 0;
  let count = 0;
  for (let i = 0; i < bytes.length; i++) {
    const code = bytes[i];
    if (code === 0x3d) break;
    const value = code < 128 ? LOOSE[code] : -1;
    if (value === -1) continue;
    bits = (bits << 6) | value;
    if (++count === 4) {
      out[length++] = (bits >> 16) & 0xff;
      out[length++] = (bits >> 8) & 0xff;
      out[length++] = bits & 0xff;
      bits = count = 0;
    }
  }
  if (count === 3) {
    out[length++] = (bits >> 10) & 0xff;
    out[length++] = (bits >> 2) & 0xff;
  } else if (count === 2) out[length++] = (bits >> 4) & 0xff;
  return new NativeUint8Array(out.buffer, 0, length);
}
