// The Fetch "body mixin" shared by Request and Response. A body is either
// bytes (from a string, buffer, Blob or URLSearchParams) or a stream; a
// stream body is exposed through a wrapper that pulls one chunk per read,
// so `bodyUsed` knows when it was disturbed and fetch can error it.
import { ReadableStream } from './streams.js';
import { Blob, blobBytes } from './blob.js';
import { FormData, multipart } from './form-data.js';
import { parseFormData } from './form-data-parse.js';
import { TextDecoder, encodeUtf8 } from './text-encoding.js';
import { NativeTypeError, NativeUint8Array, defineProperty, getOwnPropertyDescriptor, isView, objectToString, ownKeys, readStreamBytes, toBytes } from './intrinsics.js';

const bodies = new WeakMap();
let boundaries = 0;
/** boundaryHex makes a multipart boundary unlikely to occur in the parts (Math.random: it needs no secrecy). */
const boundaryHex = () => `${(boundaries++).toString(16)}${Math.random().toString(16).slice(2)}`;

/** isReadableStream reports whether `value` is a stream this runtime can read. */
export function isReadableStream(value) {
  return value instanceof ReadableStream || (value !== null && typeof value === 'object' && typeof value.getReader === 'function' && typeof value.tee === 'function');
}

/** extractBody turns a BodyInit into `{ source, type }`: source is a Uint8Array, a ReadableStream or null; type the implied Content-Type or null. */
export function extractBody(init) {
  if (init === undefined || init === null) return { source: null, type: null };
  if (typeof init === 'string') return { source: encodeUtf8(init), type: 'text/plain;charset=UTF-8' };
  const held = blobBytes(init);
  if (held !== undefined) return { source: held, type: init.type === '' ? null : init.type };
  if (isView(init) || objectToString(init) === '[object ArrayBuffer]') return { source: toBytes(init), type: null };
  if (objectToString(init) === '[object URLSearchParams]') {
    return { source: encodeUtf8(`${init}`), type: 'application/x-www-form-urlencoded;charset=UTF-8' };
  }
  if (isReadableStream(init)) return { source: init, type: null };
  if (init instanceof FormData) return multipart(init, boundaryHex());
  return { source: encodeUtf8(`${init}`), type: 'text/plain;charset=UTF-8' };
}

// wrap exposes `source` as a byte stream that reads one chunk from it per
// pull; it marks `state.used` while it is the state's current stream.
function wrap(state, source, onEnd = undefined) {
  let reader = null;
  const end = () => {
    if (onEnd !== undefined) onEnd();
    onEnd = undefined;
  };
  let controller;
  const stream = new ReadableStream({
    type: 'bytes',
    start(c) {
      controller = c;
    },
    async pull(c) {
      if (state.stream === stream) state.used = true;
      reader ??= source.getReader();
      for (;;) {
        let next;
        try {
          next = await reader.read();
        } catch (error) {
          end();
          throw error;
        }
        const { done, value } = next;
        if (done) {
          end();
          c.close();
          c.byobRequest?.respond(0);
          return;
        }
        if (!isView(value) && objectToString(value) !== '[object ArrayBuffer]') throw new NativeTypeError('Received non-Uint8Array chunk');
        const chunk = toBytes(value);
        if (chunk.length > 0) {
          c.enqueue(chunk);
          return;
        }
      }
    },
    cancel(reason) {
      if (state.stream === stream) state.used = true;
      end();
      return (reader ?? source).cancel(reason);
    },
  });
  const error = (reason) => {
    end();
    try {
      controller.error(reason);
    } catch {
      // already closed or errored
    }
    (reader ?? source).cancel(reason).catch(() => {});
  };
  return { stream, error };
}

/** What a body's source is while its bytes are still only its text (made on first need: most text is read as text). */
const TEXT = Symbol('the bytes of the text');

/** bytesOf is `state`'s source, its bytes made from its text the first time they are needed. */
function bytesOf(state) {
  if (state.source === TEXT) state.source = encodeUtf8(state.text);
  return state.source;
}

/**
 * initBody attaches a body with `source` (Uint8Array, ReadableStream or null) to `owner`; it returns a function that
 * errors a stream body (for aborts). `onEnd` runs once when a stream body ends, fails or is cancelled. `text`, for
 * bytes, is what decoding them gives (fetch knows it for a text answer that came inline): text() returns it as is;
 * with `source` undefined the bytes are `text`'s UTF-8, made only if something asks for bytes. `signal`, for bytes a
 * fetch got whole, aborts reading them as it would a body still streaming: reading it once the signal has aborted
 * fails with its reason.
 */
export function initBody(owner, source, onEnd = undefined, text = undefined, signal = null) {
  const state = { source: source === undefined ? (text === undefined ? null : TEXT) : source, stream: null, used: false, text, signal };
  bodies.set(owner, state);
  if (state.source !== null && state.source !== TEXT && !(state.source instanceof NativeUint8Array)) {
    const wrapped = wrap(state, source, onEnd);
    state.stream = wrapped.stream;
    return wrapped.error;
  }
  return () => {};
}

/** bodySource returns what fetch sends for `owner`'s body: its bytes, its stream or null; TypeError when already used. */
export function bodySource(owner) {
  const state = bodies.get(owner);
  if (state.used || state.stream?.locked) throw new NativeTypeError('Body is unusable: Body has already been read');
  return state.stream ?? bytesOf(state);
}

/** takeBody moves `owner`'s body to a Request made from it (`new Request(request)`, `fetch(request)`): `owner`'s body is used from then on, as on the platform; TypeError when it was used already. */
export function takeBody(owner) {
  const state = bodies.get(owner);
  if (state.used || state.stream?.locked) throw new NativeTypeError('Cannot construct a Request with a Request object that has already been used.');
  const source = state.stream ?? bytesOf(state);
  if (source !== null) state.used = true;
  return source;
}

/** cloneBody gives `target` a copy of `owner`'s body (teeing a stream); TypeError when the body was used. */
export function cloneBody(owner, target) {
  const state = bodies.get(owner);
  if (state.used || state.stream?.locked) throw new NativeTypeError('Body has already been consumed.');
  if (state.stream === null) {
    bodies.set(target, { source: state.source, stream: null, used: false, text: state.text, signal: state.signal ?? null });
    return;
  }
  const [first, second] = state.stream.tee();
  state.stream = null;
  state.stream = wrap(state, first).stream;
  const copy = { source: second, stream: null, used: false };
  copy.stream = wrap(copy, second).stream;
  bodies.set(target, copy);
}

/** take marks `owner`'s body used and returns its state; TypeError when it was used (or is no body), the signal's reason once it aborted. */
function take(owner) {
  const state = bodies.get(owner);
  if (state === undefined) throw new NativeTypeError('Illegal invocation');
  if (state.used || state.stream?.locked) throw new NativeTypeError('Body is unusable: Body has already been read');
  state.used = true;
  if (state.signal?.aborted) throw state.signal.reason;
  return state;
}

async function consume(owner) {
  const state = take(owner);
  if (state.stream === null) return bytesOf(state) ?? new NativeUint8Array(0);
  return readStreamBytes(state.stream.getReader());
}

// The mixin's members, copied onto Request.prototype and Response.prototype.
class BodyMixin {
  get body() {
    const state = bodies.get(this);
    if (state.stream === null && state.source !== null) {
      const bytes = bytesOf(state);
      let sent = false;
      const stream = new ReadableStream({
        type: 'bytes',
        pull(c) {
          if (state.stream === stream) state.used = true;
          if (state.signal?.aborted) return c.error(state.signal.reason);
          if (!sent && bytes.length > 0) c.enqueue(bytes.slice());
          sent = true;
          c.close();
          c.byobRequest?.respond(0);
        },
        cancel() {
          if (state.stream === stream) state.used = true;
        },
      });
      state.stream = stream;
    }
    return state.stream;
  }
  get bodyUsed() {
    return bodies.get(this).used;
  }
  async arrayBuffer() {
    const bytes = await consume(this);
    return bytes.buffer.byteLength === bytes.length && bytes !== bodies.get(this).source ? bytes.buffer : bytes.slice().buffer;
  }
  async bytes() {
    const bytes = await consume(this);
    return bytes === bodies.get(this).source ? bytes.slice() : bytes;
  }
  async text() {
    const state = bodies.get(this);
    // Text that came as text goes back as it is, its bytes never made.
    if (state !== undefined && state.source === TEXT && state.stream === null) return take(this).text;
    const bytes = await consume(this);
    return state.text !== undefined && bytes === state.source ? state.text : new TextDecoder().decode(bytes);
  }
  async json() {
    return JSON.parse(await this.text());
  }
  async blob() {
    const bytes = await consume(this);
    return new Blob([bytes], { type: this.headers.get('content-type') ?? '' });
  }
  async formData() {
    const bytes = await consume(this);
    return parseFormData(bytes, this.headers.get('content-type'));
  }
}

/** mixBody copies the body members onto `Class.prototype`. */
export function mixBody(Class) {
  for (const key of ownKeys(BodyMixin.prototype)) {
    if (key === 'constructor') continue;
    defineProperty(Class.prototype, key, getOwnPropertyDescriptor(BodyMixin.prototype, key));
  }
}
