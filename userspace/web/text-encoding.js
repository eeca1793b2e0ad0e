// TextEncoder and TextDecoder (WHATWG Encoding) for UTF-8, UTF-16LE/BE and
// windows-1252 (the "latin1"/"ascii" labels). Written here: no maintained
// pure-JS library for it is installed, and the algorithms are short.
import { NativeUint8Array, NativeTypeError, NativeRangeError, fromCharCode, apply, viewBytes, stringToLowerCase } from './intrinsics.js';

const REPLACEMENT = 0xfffd;
const CHUNK = 8192;

function utf8Length(input) {
  let length = 0;
  for (let i = 0; i < input.length; i++) {
    const unit = input.charCodeAt(i);
    if (unit < 0x80) length += 1;
    else if (unit < 0x800) length += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < input.length && (input.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      length += 4;
      i++;
    } else length += 3;
  }
  return length;
}

/** encodeUtf8Into writes `input` as UTF-8 into `out` (lone surrogates become U+FFFD) as far as whole characters fit. */
function encodeUtf8Into(input, out) {
  let read = 0;
  let written = 0;
  const limit = out.length;
  for (let i = 0; i < input.length; i++) {
    let point = input.charCodeAt(i);
    let units = 1;
    if (point >= 0xd800 && point <= 0xdfff) {
      const next = i + 1 < input.length ? input.charCodeAt(i + 1) : 0;
      if (point <= 0xdbff && (next & 0xfc00) === 0xdc00) {
        point = 0x10000 + ((point - 0xd800) << 10) + (next - 0xdc00);
        units = 2;
      } else point = REPLACEMENT;
    }
    if (point < 0x80) {
      if (written + 1 > limit) break;
      out[written++] = point;
    } else if (point < 0x800) {
      if (written + 2 > limit) break;
      out[written++] = 0xc0 | (point >> 6);
      out[written++] = 0x80 | (point & 0x3f);
    } else if (point < 0x10000) {
      if (written + 3 > limit) break;
      out[written++] = 0xe0 | (point >> 12);
      out[written++] = 0x80 | ((point >> 6) & 0x3f);
      out[written++] = 0x80 | (point & 0x3f);
    } else {
      if (written + 4 > limit) break;
      out[written++] = 0xf0 | (point >> 18);
      out[written++] = 0x80 | ((point >> 12) & 0x3f);
      out[written++] = 0x80 | ((point >> 6) & 0x3f);
      out[written++] = 0x80 | (point & 0x3f);
    }
    read += units;
    i += units - 1;
  }
  return { read, written };
}

/** encodeUtf8 returns the UTF-8 bytes of a string. */
export function encodeUtf8(input) {
  const out = new NativeUint8Array(utf8Length(input));
  encodeUtf8Into(input, out);
  return out;
}

/** TextEncoder encodes strings as UTF-8. */
export class TextEncoder {
  get encoding() {
    return 'utf-8';
  }
  encode(input = '') {
    return encodeUtf8(`${input}`);
  }
  encodeInto(source, destination) {
    if (!(destination instanceof NativeUint8Array)) throw new NativeTypeError('The "dest" argument must be an instance of Uint8Array');
    return encodeUtf8Into(`${source}`, destination);
  }
}

// Collects UTF-16 code units and turns them into a string in chunks.
class Output {
  constructor() {
    this.text = '';
    this.units = [];
  }
  push(unit) {
    this.units[this.units.length] = unit;
    if (this.units.length >= CHUNK) this.flush();
  }
  point(point) {
    if (point < 0x10000) this.push(point);
    else {
      point -= 0x10000;
      this.push(0xd800 + (point >> 10));
      this.push(0xdc00 + (point & 0x3ff));
    }
  }
  flush() {
    this.text += apply(fromCharCode, undefined, this.units);
    this.units = [];
  }
  done() {
    this.flush();
    return this.text;
  }
}

// Each decoder is a streaming state machine: push(bytes, out) decodes what
// it can, end(out) flushes, and `fail()` either throws (fatal) or emits U+FFFD.
class Utf8Decoder {
  constructor() {
    this.needed = 0;
    this.seen = 0;
    this.point = 0;
    this.lower = 0x80;
    this.upper = 0xbf;
  }
  push(bytes, out, fail) {
    for (let i = 0; i < bytes.length; i++) {
      const byte = bytes[i];
      if (this.needed === 0) {
        if (byte < 0x80) out.push(byte);
        else if (byte >= 0xc2 && byte <= 0xdf) {
          this.needed = 1;
          this.point = byte & 0x1f;
        }
        else if (byte >= 0xe0 && byte <= 0xef) {
          if (byte === 0xe0) this.lower = 0xa0;
          if (byte === 0xed) this.upper = 0x9f;
          this.needed = 2;
          this.point = byte & 0xf;
        } else if (byte >= 0xf0 && byte <= 0xf4) {
          if (byte === 0xf0) this.lower = 0x90;
          if (byte === 0xf4) this.upper = 0x8f;
          this.needed = 3;
          this.point = byte & 0x7;
        } else fail(out);
        continue;
      }
      if (byte < this.lower || byte > this.upper) {
        this.reset();
        fail(out);
        i--;
        continue;
      }
      this.lower = 0x80;
      this.upper = 0xbf;
      this.point = (this.point << 6) | (byte & 0x3f);
      if (++this.seen === this.needed) {
        out.point(this.point);
        this.reset();
      }
    }
  }
  end(out, fail) {
    if (this.needed !== 0) {
      this.reset();
      fail(out);
    }
  }
  reset() {
    this.needed = this.seen = this.point = 0;
    this.lower = 0x80;
    this.upper = 0xbf;
  }
}

class Utf16Decoder {
  constructor(bigEndian) {
    this.bigEndian = bigEndian;
    this.reset();
  }
  push(bytes, out, fail) {
    for (let i = 0; i < bytes.length; i++) {
      if (this.byte === -1) {
        this.byte = bytes[i];
        continue;
      }
      const unit = this.bigEndian ? (this.byte << 8) | bytes[i] : this.byte | (bytes[i] << 8);
      this.byte = -1;
      if (this.lead !== -1) {
        const lead = this.lead;
        this.lead = -1;
        if (unit >= 0xdc00 && unit <= 0xdfff) {
          out.push(lead);
          out.push(unit);
          continue;
        }
        fail(out);
      }
      if (unit >= 0xd800 && unit <= 0xdbff) this.lead = unit;
      else if (unit >= 0xdc00 && unit <= 0xdfff) fail(out);
      else out.push(unit);
    }
  }
  end(out, fail) {
    const broken = this.byte !== -1 || this.lead !== -1;
    this.reset();
    if (broken) fail(out);
  }
  reset() {
    this.byte = -1;
    this.lead = -1;
  }
}

const WINDOWS_1252 = [
  0x20ac, 0x81, 0x201a, 0x192, 0x201e, 0x2026, 0x2020, 0x2021, 0x2c6, 0x2030, 0x160, 0x2039, 0x152, 0x8d, 0x17d, 0x8f,
  0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x2dc, 0x2122, 0x161, 0x203a, 0x153, 0x9d, 0x17e, 0x178,
];
class Windows1252Decoder {
  push(bytes, out) {
    for (let i = 0; i < bytes.length; i++) {
      const byte = bytes[i];
      out.push(byte >= 0x80 && byte <= 0x9f ? WINDOWS_1252[byte - 0x80] : byte);
    }
  }
  end() {}
  reset() {}
}

const LABELS = { __proto__: null };
for (const label of ['unicode-1-1-utf-8', 'unicode11utf8', 'unicode20utf8', 'utf-8', 'utf8', 'x-unicode20utf8']) LABELS[label] = 'utf-8';
for (const label of ['csunicode', 'iso-10646-ucs-2', 'ucs-2', 'unicode', 'unicodefeff', 'utf-16', 'utf-16le']) LABELS[label] = 'utf-16le';
for (const label of ['unicodefffe', 'utf-16be']) LABELS[label] = 'utf-16be';
for (const label of [
  'ansi_x3.4-1968', 'ascii', 'cp1252', 'cp819', 'csisolatin1', 'ibm819', 'iso-8859-1', 'iso-ir-100', 'iso8859-1', 'iso88591',
  'iso_8859-1', 'iso_8859-1:1987', 'l1', 'latin1', 'us-ascii', 'windows-1252', 'x-cp1252',
]) LABELS[label] = 'windows-1252';
const DECODERS = {
  'utf-8': () => new Utf8Decoder(),
  'utf-16le': () => new Utf16Decoder(false),
  'utf-16be': () => new Utf16Decoder(true),
  'windows-1252': () => new Windows1252Decoder(),
};

const TRIM = /^[\t\n\f\r ]+|[\t\n\f\r ]+$/g;

/** TextDecoder(label = 'utf-8', { fatal, ignoreBOM }): RangeError for an unsupported label. */
export class TextDecoder {
  #encoding;
  #fatal;
  #ignoreBOM;
  #decoder;
  #bomChecked = false;
  constructor(label = 'utf-8', options = {}) {
    const encoding = LABELS[stringToLowerCase(`${label}`.replace(TRIM, ''))];
    if (encoding === undefined) throw new NativeRangeError(`The "${label}" encoding is not supported`);
    this.#encoding = encoding;
    this.#fatal = Boolean(options?.fatal);
    this.#ignoreBOM = Boolean(options?.ignoreBOM);
    this.#decoder = DECODERS[encoding]();
  }
  get encoding() {
    return this.#encoding;
  }
  get fatal() {
    return this.#fatal;
  }
  get ignoreBOM() {
    return this.#ignoreBOM;
  }
  decode(input = undefined, options = undefined) {
    const bytes = input === undefined ? new NativeUint8Array(0) : viewBytes(input, 'input');
    const stream = Boolean(options?.stream);
    const out = new Output();
    const fatal = this.#fatal;
    const encoding = this.#encoding;
    const decoder = this.#decoder;
    const fail = (target) => {
      if (fatal) {
        decoder.reset();
        this.#bomChecked = false;
        throw new NativeTypeError(`The encoded data was not valid for encoding ${encoding}`);
      }
      target.push(REPLACEMENT);
    };
    decoder.push(bytes, out, fail);
    if (!stream) decoder.end(out, fail);
    let text = out.done();
    if (!this.#bomChecked && text.length > 0) {
      this.#bomChecked = true;
      if (!this.#ignoreBOM && encoding !== 'windows-1252' && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    if (!stream) this.#bomChecked = false;
    return text;
  }
}
