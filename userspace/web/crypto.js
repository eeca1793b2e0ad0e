// crypto.getRandomValues and crypto.randomUUID over kernel randomness.
// There is no crypto.subtle.
import { DOMException } from './dom-exception.js';
import { NativeTypeError, NativeUint8Array, defineProperty, isView, typedArrayTag } from './intrinsics.js';

const INTEGER_ARRAYS = new Set(['Int8Array', 'Uint8Array', 'Uint8ClampedArray', 'Int16Array', 'Uint16Array', 'Int32Array', 'Uint32Array', 'BigInt64Array', 'BigUint64Array']);
const MAX_BYTES = 65536;
const HEX = [];
for (let i = 0; i < 256; i++) HEX.push((i < 16 ? '0' : '') + i.toString(16));

/** createCrypto builds the `crypto` object; getRandomValues throws TypeMismatchError for non-integer arrays and QuotaExceededError above 65536 bytes. */
export function createCrypto(kernel) {
  const randomBytes = kernel.randomBytes;
  class Crypto {
    getRandomValues(array) {
      if (!isView(array)) throw new NativeTypeError('The "typedArray" argument must be an instance of ArrayBufferView');
      if (!INTEGER_ARRAYS.has(typedArrayTag(array))) {
        throw new DOMException('The data argument must be an integer-type TypedArray', 'TypeMismatchError');
      }
      const length = array.byteLength;
      if (length > MAX_BYTES) {
        throw new DOMException(`The ArrayBufferView's byte length (${length}) exceeds the number of bytes of entropy available via this API (${MAX_BYTES})`, 'QuotaExceededError');
      }
      if (length > 0) new NativeUint8Array(array.buffer, array.byteOffset, length).set(randomBytes(length));
      return array;
    }
    randomUUID() {
      const bytes = randomBytes(16);
      bytes[6] = (bytes[6] & 0x0f) | 0x40;
      bytes[8] = (bytes[8] & 0x3f) | 0x80;
      let out = '';
      for (let i = 0; i < 16; i++) {
        if (i === 4 || i === 6 || i === 8 || i === 10) out += '-';
        out += HEX[bytes[i]];
      }
      return out;
    }
  }
  defineProperty(Crypto.prototype, Symbol.toStringTag, { value: 'Crypto', configurable: true });
  return new Crypto();
}
