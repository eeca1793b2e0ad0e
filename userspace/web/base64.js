// atob and btoa (HTML "forgiving-base64"). Written here: a dozen lines,
// where core-js's version installs itself on the global object.
import { DOMException } from './dom-exception.js';
import { fromCharCode } from './intrinsics.js';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const VALUES = new Int16Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) VALUES[ALPHABET.charCodeAt(i)] = i;
const WHITESPACE = /[\t\n\f\r ]/g;

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
