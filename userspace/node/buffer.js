// `buffer`: feross/buffer, plus Node's atob/btoa/constants/isUtf8. The same
// Buffer object is returned on every load (it is also meant to be the global).

/** createBuffer returns the buffer module. */
export function createBuffer() {
  const mod = require('buffer/index.js');
  const { Buffer } = mod;
  return {
    ...mod,
    Buffer,
    constants: { MAX_LENGTH: mod.kMaxLength, MAX_STRING_LENGTH: (1 << 29) - 24 },
    atob: (data) => Buffer.from(String(data), 'base64').toString('latin1'),
    btoa: (data) => Buffer.from(String(data), 'latin1').toString('base64'),
    isUtf8: (bytes) => isUtf8(bytes),
    isAscii: (bytes) => bytes.every((b) => b < 0x80),
  };
}

function isUtf8(bytes) {
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i];
    const n = b < 0x80 ? 0 : b >= 0xc2 && b < 0xe0 ? 1 : b >= 0xe0 && b < 0xf0 ? 2 : b >= 0xf0 && b < 0xf5 ? 3 : -1;
    if (n < 0 || (n > 0 && i + n >= bytes.length)) return false;
    for (let k = 1; k <= n; k++) if ((bytes[i + k] & 0xc0) !== 0x80) return false;
    i += n + 1;
  }
  return true;
}
