// Blob and File, minimal: the bytes are held in one Uint8Array.
import { ReadableStream } from './streams.js';
import { TextDecoder, encodeUtf8 } from './text-encoding.js';
import { NativeTypeError, concatBytes, defineProperty, isView, objectToString, toBytes } from './intrinsics.js';

const bytesOf = new WeakMap();
const PRINTABLE = /^[\x20-\x7e]*$/;

function normalizeType(type) {
  const text = type === undefined ? '' : `${type}`;
  return PRINTABLE.test(text) ? text.toLowerCase() : '';
}


/** blobBytes returns the bytes a Blob holds (not a copy), or undefined for anything else. */
export function blobBytes(value) {
  return value !== null && typeof value === 'object' ? bytesOf.get(value) : undefined;
}

/** Blob(parts, { type }): parts are strings (UTF-8), BufferSources or Blobs; TypeError for a non-iterable. */
export class Blob {
  #type;
  constructor(parts = [], options = undefined) {
    if (parts === null || typeof parts !== 'object' || typeof parts[Symbol.iterator] !== 'function') {
      throw new NativeTypeError("Failed to construct 'Blob': The provided value cannot be converted to a sequence.");
    }
    const chunks = [];
    let total = 0;
    for (const part of parts) {
      let chunk;
      const held = blobBytes(part);
      if (held !== undefined) chunk = held;
      else if (isView(part) || objectToString(part) === '[object ArrayBuffer]') chunk = toBytes(part);
      else chunk = encodeUtf8(`${part}`);
      chunks.push(chunk);
      total += chunk.length;
    }
    bytesOf.set(this, concatBytes(chunks, total));
    this.#type = normalizeType(options?.type);
  }
  get size() {
    return bytesOf.get(this).length;
  }
  get type() {
    return this.#type;
  }
  slice(start = 0, end = undefined, type = undefined) {
    const bytes = bytesOf.get(this);
    const blob = new Blob([], { type });
    bytesOf.set(blob, bytes.subarray(clampIndex(start, bytes.length), end === undefined ? bytes.length : clampIndex(end, bytes.length)));
    return blob;
  }
  async arrayBuffer() {
    return bytesOf.get(this).slice().buffer;
  }
  async bytes() {
    return bytesOf.get(this).slice();
  }
  async text() {
    return new TextDecoder().decode(bytesOf.get(this));
  }
  stream() {
    const bytes = bytesOf.get(this);
    let offset = 0;
    return new ReadableStream({
      type: 'bytes',
      pull(controller) {
        if (offset >= bytes.length) {
          controller.close();
          return;
        }
        const chunk = bytes.slice(offset, offset + 65536);
        offset += chunk.length;
        controller.enqueue(chunk);
      },
    });
  }
}
defineProperty(Blob.prototype, Symbol.toStringTag, { value: 'Blob', configurable: true });

function clampIndex(index, length) {
  const n = Math.trunc(Number(index)) || 0;
  return n < 0 ? Math.max(length + n, 0) : Math.min(n, length);
}

/** File(parts, name, { type, lastModified }) is a Blob with a name. */
export class File extends Blob {
  #name;
  #lastModified;
  constructor(parts, name, options = undefined) {
    if (arguments.length < 2) throw new NativeTypeError("Failed to construct 'File': 2 arguments required.");
    super(parts, options);
    this.#name = `${name}`;
    this.#lastModified = options?.lastModified === undefined ? Date.now() : Number(options.lastModified);
  }
  get name() {
    return this.#name;
  }
  get lastModified() {
    return this.#lastModified;
  }
}
defineProperty(File.prototype, Symbol.toStringTag, { value: 'File', configurable: true });
