// FormData: an ordered list of (name, value) entries, value a string or a
// File; as a request body it is encoded as multipart/form-data.
import { Blob, File, blobBytes } from './blob.js';
import { encodeUtf8 } from './text-encoding.js';
import { NativeTypeError, NativeUint8Array, defineProperty } from './intrinsics.js';

const entriesOf = new WeakMap();

function list(form) {
  const entries = entriesOf.get(form);
  if (entries === undefined) throw new NativeTypeError('Illegal invocation');
  return entries;
}

function entry(name, value, filename) {
  const key = `${name}`;
  if (value instanceof Blob) {
    const file = value instanceof File && filename === undefined ? value : new File([value], filename === undefined ? 'blob' : `${filename}`, { type: value.type });
    return [key, file];
  }
  return [key, `${value}`];
}

export class FormData {
  constructor(form = undefined) {
    if (form !== undefined) throw new NativeTypeError("Failed to construct 'FormData': a form element is not available here");
    entriesOf.set(this, []);
  }
  append(name, value, filename = undefined) {
    list(this).push(entry(name, value, filename));
  }
  set(name, value, filename = undefined) {
    const entries = list(this);
    const key = `${name}`;
    const at = entries.findIndex(([n]) => n === key);
    const next = entry(name, value, filename);
    if (at === -1) entries.push(next);
    else {
      entries[at] = next;
      for (let i = entries.length - 1; i > at; i--) if (entries[i][0] === key) entries.splice(i, 1);
    }
  }
  get(name) {
    const found = list(this).find(([n]) => n === `${name}`);
    return found === undefined ? null : found[1];
  }
  getAll(name) {
    return list(this).filter(([n]) => n === `${name}`).map(([, v]) => v);
  }
  has(name) {
    return list(this).some(([n]) => n === `${name}`);
  }
  delete(name) {
    const entries = list(this);
    for (let i = entries.length - 1; i >= 0; i--) if (entries[i][0] === `${name}`) entries.splice(i, 1);
  }
  *entries() {
    for (const [n, v] of list(this)) yield [n, v];
  }
  *keys() {
    for (const [n] of list(this)) yield n;
  }
  *values() {
    for (const [, v] of list(this)) yield v;
  }
  forEach(callback, thisArg = undefined) {
    for (const [n, v] of list(this)) callback.call(thisArg, v, n, this);
  }
  [Symbol.iterator]() {
    return this.entries();
  }
}
/** formDataOf makes a FormData holding `entries` as they are: [name, value] pairs, value a string or a File (what a parsed body gives). */
export function formDataOf(entries) {
  const form = new FormData();
  entriesOf.set(form, entries);
  return form;
}

defineProperty(FormData.prototype, Symbol.toStringTag, { value: 'FormData', configurable: true });

const quote = (text) => text.replace(/\r/g, '%0D').replace(/\n/g, '%0A').replace(/"/g, '%22');

/** multipart encodes `form` as multipart/form-data: the bytes and the Content-Type naming the boundary. */
export function multipart(form, randomHex) {
  const boundary = `----agent-kernel-${randomHex}`;
  const parts = [];
  for (const [name, value] of list(form)) {
    if (typeof value === 'string') {
      parts.push(encodeUtf8(`--${boundary}\r\nContent-Disposition: form-data; name="${quote(name)}"\r\n\r\n${value.replace(/\r?\n|\r/g, '\r\n')}\r\n`));
    } else {
      parts.push(encodeUtf8(`--${boundary}\r\nContent-Disposition: form-data; name="${quote(name)}"; filename="${quote(value.name)}"\r\nContent-Type: ${value.type || 'application/octet-stream'}\r\n\r\n`));
      parts.push(blobBytes(value));
      parts.push(encodeUtf8('\r\n'));
    }
  }
  parts.push(encodeUtf8(`--${boundary}--\r\n`));
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new NativeUint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return { source: out, type: `multipart/form-data; boundary=${boundary}` };
}
