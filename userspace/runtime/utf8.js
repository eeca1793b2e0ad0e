// UTF-8 for the runtime's own use (sys.readFile/writeFile); the web globals bring TextEncoder/TextDecoder.

export function encodeUtf8(text) {
  const s = String(text);
  const out = [];
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      }
    }
    if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return new Uint8Array(out);
}

/** decodeUtf8 decodes UTF-8, each malformed sequence (bad lead or continuation, overlong, surrogate, past U+10FFFF) becoming U+FFFD. */
export function decodeUtf8(bytes) {
  let out = '';
  const n = bytes.length;
  const cont = (at) => at < n && (bytes[at] & 0xc0) === 0x80;
  for (let i = 0; i < n; ) {
    const b = bytes[i];
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
    out += String.fromCodePoint(c);
    i += size;
  }
  return out;
}
