// Body.formData(): a body's bytes read back as a FormData, by its
// Content-Type: application/x-www-form-urlencoded through URLSearchParams,
// multipart/form-data by the Fetch standard's parser with the leniencies of
// Node's (undici's): a preamble before the first boundary and anything after
// the closing one are ignored, a Content-Disposition parameter may be quoted
// or a bare token, and `filename*=utf-8''…` is read. Every step moves forward
// over the bytes; a part's end is found with a KMP search for CRLF--boundary,
// so the work is linear in the body's size whatever the boundary and bytes.
import { decodeLoose } from './base64.js';
import { File } from './blob.js';
import { formDataOf } from './form-data.js';
import { TextDecoder, encodeUtf8 } from './text-encoding.js';
import { URLSearchParams } from './url.js';
import { NativeTypeError, NativeUint8Array, apply, arrayPush, fromCharCode, getPrototypeOf, stringCharCodeAt, stringToLowerCase, typedArrayProto, uncurry } from './intrinsics.js';

const bytesIndexOf = uncurry(typedArrayProto.indexOf);
const subarray = uncurry(typedArrayProto.subarray);
const decode = uncurry(TextDecoder.prototype.decode);
const stringSlice = uncurry(String.prototype.slice);
const paramsEntries = uncurry(URLSearchParams.prototype.entries);
const iteratorNext = uncurry(getPrototypeOf(new URLSearchParams().entries()).next);
const nativeDecodeURIComponent = decodeURIComponent;
/** UTF-8 decoding that strips a BOM (names), and one that keeps it (a field's value: "UTF-8 decode without BOM"). */
const utf8 = new TextDecoder();
const utf8KeepBOM = new TextDecoder('utf-8', { ignoreBOM: true });

const CR = 0x0d;
const LF = 0x0a;
const DASH = 0x2d;
const QUOTE = 0x22;

/** failure is the TypeError formData() rejects with for a body it cannot parse, the reason as its cause (as undici words it). */
function failure(reason) {
  return new NativeTypeError('Failed to parse body as FormData.', { cause: new NativeTypeError(reason) });
}

/** isHttpToken: the bytes of an HTTP token (Fetch's "HTTP token code point"). */
function isHttpToken(c) {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c !== 0x22 && c !== 0x28 && c !== 0x29 && c !== 0x2c && c !== 0x2f && c > 0x20 && c < 0x3a) || c === 0x5e || c === 0x5f || c === 0x60 || c === 0x7c || c === 0x7e;
}

/** isMimeToken: a token byte of RFC 2045 (no space, controls or tspecials). */
function isMimeToken(c) {
  return c > 0x20 && c < 0x7f && c !== 0x28 && c !== 0x29 && c !== 0x3c && c !== 0x3e && c !== 0x40 && c !== 0x2c && c !== 0x3b && c !== 0x3a && c !== 0x5c && c !== 0x22 && c !== 0x2f && c !== 0x5b && c !== 0x5d && c !== 0x3f && c !== 0x3d;
}

const isBlank = (c) => c === 0x20 || c === 0x09;
const isHttpWhitespace = (c) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;

/** latin1 is the isomorphic decoding of `bytes` (each byte one code point), 8 KiB at a time (one string per byte made a rope that a header of a few MiB took past the isolate's heap). */
function latin1(bytes) {
  let text = '';
  for (let i = 0; i < bytes.length; i += 8192) text += apply(fromCharCode, undefined, subarray(bytes, i, i + 8192));
  return text;
}

/** trimEndText drops the HTTP whitespace at the end of `text`. */
function trimEndText(text) {
  let end = text.length;
  while (end > 0 && isHttpWhitespace(stringCharCodeAt(text, end - 1))) end--;
  return stringSlice(text, 0, end);
}

/** parseMimeType reads a Content-Type (WHATWG MIME Sniffing's "parse a MIME type"): `{ essence, parameters }`, or null when it is not one. */
function parseMimeType(text) {
  const codes = [];
  for (let i = 0; i < text.length; i++) arrayPush(codes, stringCharCodeAt(text, i));
  let start = 0;
  let end = codes.length;
  while (start < end && isHttpWhitespace(codes[start])) start++;
  while (end > start && isHttpWhitespace(codes[end - 1])) end--;
  let at = start;
  const collect = (keep) => {
    let out = '';
    while (at < end && keep(codes[at])) out += fromCharCode(codes[at++]);
    return out;
  };
  const type = collect((c) => c !== 0x2f);
  if (type === '' || at >= end || !isTokenText(type)) return null;
  at++;
  const subtype = trimEndText(collect((c) => c !== 0x3b));
  if (subtype === '' || !isTokenText(subtype)) return null;
  const parameters = { __proto__: null };
  while (at < end) {
    at++;
    collect(isHttpWhitespace);
    const name = stringToLowerCase(collect((c) => c !== 0x3b && c !== 0x3d));
    if (at < end && codes[at] === 0x3b) continue;
    if (at >= end) break;
    at++;
    let value;
    if (codes[at] === QUOTE) {
      value = '';
      at++;
      while (at < end) {
        const c = codes[at++];
        if (c === QUOTE) break;
        if (c === 0x5c && at < end) value += fromCharCode(codes[at++]);
        else if (c !== 0x5c) value += fromCharCode(c);
        else value += '\\';
      }
      collect((c) => c !== 0x3b);
    } else {
      value = trimEndText(collect((c) => c !== 0x3b));
      if (value === '') continue;
    }
    if (name !== '' && isTokenText(name) && isQuotedStringText(value) && !(name in parameters)) parameters[name] = value;
  }
  return { essence: `${stringToLowerCase(type)}/${stringToLowerCase(subtype)}`, parameters };
}

function isTokenText(text) {
  for (let i = 0; i < text.length; i++) if (!isHttpToken(stringCharCodeAt(text, i))) return false;
  return true;
}

function isQuotedStringText(text) {
  for (let i = 0; i < text.length; i++) {
    const c = stringCharCodeAt(text, i);
    if (!(c === 0x09 || (c >= 0x20 && c <= 0x7e) || (c >= 0x80 && c <= 0xff))) return false;
  }
  return true;
}

/** Searcher finds `needle` in byte arrays in linear time (Knuth–Morris–Pratt), jumping with the native indexOf while no prefix is matched. */
class Searcher {
  constructor(needle) {
    this.needle = needle;
    // table[i]: the length of the longest proper prefix of needle[0..i] that is also its suffix.
    const table = [0];
    for (let i = 1, k = 0; i < needle.length; i++) {
      while (k > 0 && needle[i] !== needle[k]) k = table[k - 1];
      if (needle[i] === needle[k]) k++;
      table[i] = k;
    }
    this.table = table;
  }
  /** find returns where the needle first starts in `input` at or after `from`, or -1. */
  find(input, from) {
    const { needle, table } = this;
    let matched = 0;
    for (let i = from; i < input.length; i++) {
      if (matched === 0) {
        i = bytesIndexOf(input, needle[0], i);
        if (i === -1) return -1;
      }
      while (matched > 0 && input[i] !== needle[matched]) matched = table[matched - 1];
      if (input[i] === needle[matched]) matched++;
      if (matched === needle.length) return i - needle.length + 1;
    }
    return -1;
  }
}

/** Cursor walks the body's bytes forward. */
class Cursor {
  constructor(input) {
    this.input = input;
    this.at = 0;
  }
  is(byte, offset = 0) {
    return this.input[this.at + offset] === byte;
  }
  atCrlf() {
    return this.is(CR) && this.is(LF, 1);
  }
  collect(keep) {
    const start = this.at;
    while (this.at < this.input.length && keep(this.input[this.at])) this.at++;
    return subarray(this.input, start, this.at);
  }
  expectCrlf() {
    if (!this.atCrlf()) throw failure('expected CRLF');
    this.at += 2;
  }
}

/** unescapeName decodes a quoted name's bytes, with %0A, %0D and %22 (as the encoder writes LF, CR and ") turned back. */
function unescapeName(bytes) {
  const out = [];
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === 0x25 && i + 2 < bytes.length) {
      const hi = bytes[i + 1];
      const lo = bytes[i + 2] | 0x20;
      const code = hi === 0x30 && lo === 0x61 ? LF : hi === 0x30 && lo === 0x64 ? CR : hi === 0x32 && bytes[i + 2] === 0x32 ? QUOTE : -1;
      if (code !== -1) {
        arrayPush(out, code);
        i += 2;
        continue;
      }
    }
    arrayPush(out, b);
  }
  return decode(utf8, new NativeUint8Array(out));
}

/** parseDispositionParameter reads one `; name=value` of a Content-Disposition: `{ name, value, extended }`, or null at anything else. */
function parseDispositionParameter(cursor) {
  if (cursor.is(0x3b)) cursor.at++;
  cursor.collect(isBlank);
  const name = latin1(cursor.collect((c) => isMimeToken(c) && c !== 0x2a));
  if (name === '') return null;
  const extended = cursor.is(0x2a);
  if (extended) cursor.at++;
  if (!cursor.is(0x3d)) return null;
  cursor.at++;
  cursor.collect(isBlank);
  let value;
  if (extended) {
    const raw = cursor.collect((c) => c !== 0x20 && c !== CR && c !== LF && c !== 0x3b);
    const charsetEnd = bytesIndexOf(raw, 0x27);
    const languageEnd = charsetEnd === -1 ? -1 : bytesIndexOf(raw, 0x27, charsetEnd + 1);
    if (languageEnd === -1) throw failure('expected charset and language separators in extended value');
    if (stringToLowerCase(latin1(subarray(raw, 0, charsetEnd))) !== 'utf-8') throw failure('unknown charset, expected utf-8');
    try {
      value = nativeDecodeURIComponent(decode(utf8, subarray(raw, languageEnd + 1)));
    } catch {
      throw failure('malformed percent-encoding in extended value');
    }
  } else if (cursor.is(QUOTE)) {
    cursor.at++;
    const raw = cursor.collect((c) => c !== CR && c !== LF && c !== QUOTE);
    if (!cursor.is(QUOTE)) throw failure('closing quote not found');
    cursor.at++;
    value = unescapeName(raw);
  } else {
    value = decode(utf8, cursor.collect(isMimeToken));
  }
  return { name: stringToLowerCase(name), value, extended };
}

/** trimBlanks drops the spaces and tabs at the end of `bytes`, and at the start when `leading`. */
function trimBlanks(bytes, leading) {
  let start = 0;
  let end = bytes.length;
  if (leading) while (start < end && isBlank(bytes[start])) start++;
  while (end > start && isBlank(bytes[end - 1])) end--;
  return subarray(bytes, start, end);
}

/** parsePartHeaders reads a part's headers up to the empty line: its field name, filename (null for a string field) and Content-Type. */
function parsePartHeaders(cursor) {
  let name = null;
  let filename = null;
  let contentType = null;
  let base64 = false;
  for (;;) {
    if (cursor.atCrlf()) {
      if (name === null) throw failure('a part without a name');
      cursor.at += 2;
      return { name, filename, contentType, base64 };
    }
    const header = trimBlanks(cursor.collect((c) => c !== CR && c !== LF && c !== 0x3a), true);
    if (header.length === 0 || !isTokenText(latin1(header))) throw failure('a header name that is not a token');
    if (!cursor.is(0x3a)) throw failure('expected :');
    cursor.at++;
    cursor.collect(isBlank);
    const key = stringToLowerCase(latin1(header));
    if (key === 'content-disposition') {
      name = filename = null;
      let extendedFilename = false;
      if (stringToLowerCase(latin1(cursor.collect(isMimeToken))) !== 'form-data') throw failure('expected form-data for content-disposition header');
      while (cursor.at < cursor.input.length && !cursor.atCrlf()) {
        const parameter = parseDispositionParameter(cursor);
        if (parameter === null) break;
        if (parameter.name === 'name') name = parameter.value;
        else if (parameter.name === 'filename' && (parameter.extended || !extendedFilename)) {
          filename = parameter.value;
          extendedFilename ||= parameter.extended;
        }
      }
      if (name === null) throw failure('name attribute is required in content-disposition header');
    } else if (key === 'content-type') {
      contentType = latin1(trimBlanks(cursor.collect((c) => c !== CR && c !== LF), false));
    } else if (key === 'content-transfer-encoding') {
      // As undici: a part sent base64 is decoded (RFC 7578 deprecates the header; senders still use it).
      base64 = latin1(trimBlanks(cursor.collect((c) => c !== CR && c !== LF), false)) === 'base64';
    } else cursor.collect((c) => c !== CR && c !== LF);
    cursor.expectCrlf();
  }
}

/** isAscii reports whether every code unit of `text` is below 0x80. */
function isAscii(text) {
  for (let i = 0; i < text.length; i++) if (stringCharCodeAt(text, i) > 0x7f) return false;
  return true;
}

/** parseMultipart reads `input` as multipart/form-data parts separated by `boundary`: the list of [name, value] entries; TypeError when it is malformed. */
function parseMultipart(input, boundary) {
  const dashed = encodeUtf8(`--${boundary}`);
  const delimiter = encodeUtf8(`\r\n--${boundary}`);
  const entries = [];
  const first = new Searcher(dashed).find(input, 0);
  if (first === -1) throw failure('no boundary found in multipart body');
  const ends = new Searcher(delimiter);
  const cursor = new Cursor(input);
  cursor.at = first;
  for (;;) {
    // The cursor is at --boundary: the first one, or one a part ended at.
    cursor.at += dashed.length;
    if (cursor.is(DASH) && cursor.is(DASH, 1)) return entries;
    cursor.expectCrlf();
    const { name, filename, contentType, base64 } = parsePartHeaders(cursor);
    const end = ends.find(input, cursor.at);
    if (end === -1) throw failure('expected boundary after body');
    const sent = subarray(input, cursor.at, end);
    const body = base64 ? decodeLoose(sent) : sent;
    cursor.at = end + 2;
    let value;
    if (filename === null) value = decode(utf8KeepBOM, body);
    else {
      const type = contentType ?? 'text/plain';
      value = new File([body], filename, { type: isAscii(type) ? type : '' });
    }
    arrayPush(entries, [name, value]);
  }
}

/** parseUrlencoded reads `input` as application/x-www-form-urlencoded (what URLSearchParams parses): the list of [name, value] entries. */
function parseUrlencoded(input) {
  const entries = [];
  const iterator = paramsEntries(new URLSearchParams(decode(utf8KeepBOM, input)));
  for (;;) {
    const { done, value } = iteratorNext(iterator);
    if (done) return entries;
    arrayPush(entries, [value[0], value[1]]);
  }
}

/** parseFormData reads a body's bytes as a FormData by its Content-Type (`contentType`, null when absent); TypeError for another type or a malformed body. */
export function parseFormData(input, contentType) {
  const mime = contentType === null ? null : parseMimeType(contentType);
  if (mime?.essence === 'multipart/form-data') {
    const boundary = mime.parameters.boundary;
    if (boundary === undefined) throw failure('missing boundary in content-type header');
    return formDataOf(parseMultipart(input, boundary));
  }
  if (mime?.essence === 'application/x-www-form-urlencoded') return formDataOf(parseUrlencoded(input));
  throw new NativeTypeError('Content-Type was not one of "multipart/form-data" or "application/x-www-form-urlencoded".');
}
