// Intrinsics captured when the web globals are installed, before agent code
// runs, so later calls do not go through globals the agent may replace.
export const { apply, defineProperty, getOwnPropertyDescriptor, getPrototypeOf, ownKeys } = Reflect;
export const { freeze, create, keys: objectKeys } = Object;
export const isArray = Array.isArray;
export const isView = ArrayBuffer.isView;
export const uncurry = (fn) => (self, ...args) => apply(fn, self, args);
export const arrayPush = uncurry(Array.prototype.push);
export const stringCharCodeAt = uncurry(String.prototype.charCodeAt);
export const stringToLowerCase = uncurry(String.prototype.toLowerCase);
export const fromCharCode = String.fromCharCode;
export const promiseThen = uncurry(Promise.prototype.then);
export const NativePromise = Promise;
export const NativeUint8Array = Uint8Array;
export const NativeTypeError = TypeError;
export const NativeRangeError = RangeError;
export const NativeError = Error;
export const NativeMap = Map;
export const mapGet = uncurry(Map.prototype.get);
export const mapSet = uncurry(Map.prototype.set);
export const mapHas = uncurry(Map.prototype.has);
export const mapClear = uncurry(Map.prototype.clear);
export const typedArrayProto = getPrototypeOf(Uint8Array.prototype);
export const typedArrayTag = uncurry(getOwnPropertyDescriptor(typedArrayProto, Symbol.toStringTag).get);
export const arrayBufferByteLength = uncurry(getOwnPropertyDescriptor(ArrayBuffer.prototype, 'byteLength').get);
export const objectToString = uncurry(Object.prototype.toString);

/** globalScope returns the global object (captured so a later `globalThis` binding change cannot redirect it). */
export const globalScope = globalThis;

/** toBytes copies a BufferSource (ArrayBuffer or view) into a fresh Uint8Array; TypeError otherwise. */
export function toBytes(source, what = 'argument') {
  if (isView(source)) {
    return new NativeUint8Array(source.buffer, source.byteOffset, source.byteLength).slice();
  }
  if (objectToString(source) === '[object ArrayBuffer]' || objectToString(source) === '[object SharedArrayBuffer]') {
    return new NativeUint8Array(source).slice();
  }
  throw new NativeTypeError(`The ${what} must be an ArrayBuffer or ArrayBufferView`);
}

/** viewBytes returns a Uint8Array over a BufferSource without copying; TypeError otherwise. */
export function viewBytes(source, what = 'argument') {
  if (isView(source)) return new NativeUint8Array(source.buffer, source.byteOffset, source.byteLength);
  if (objectToString(source) === '[object ArrayBuffer]' || objectToString(source) === '[object SharedArrayBuffer]') {
    return new NativeUint8Array(source);
  }
  throw new NativeTypeError(`The ${what} must be an ArrayBuffer or ArrayBufferView`);
}

/** withGlobals runs `load` with the given global names temporarily bound to `values` (undefined hides one), then restores them: for libraries that inspect the global scope while they load. */
export function withGlobals(values, load) {
  const saved = [];
  for (const name of objectKeys(values)) {
    arrayPush(saved, [name, getOwnPropertyDescriptor(globalScope, name)]);
    defineProperty(globalScope, name, { value: values[name], writable: true, configurable: true });
  }
  try {
    return load();
  } finally {
    for (const [name, descriptor] of saved) {
      if (descriptor === undefined) delete globalScope[name];
      else defineProperty(globalScope, name, descriptor);
    }
  }
}

/** concatBytes joins byte chunks (`total` bytes in all) into one Uint8Array. */
export function concatBytes(chunks, total) {
  const out = new NativeUint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

/** readStreamBytes reads a byte stream to its end. */
export async function readStreamBytes(reader) {
  const chunks = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return concatBytes(chunks, total);
    chunks.push(value);
    total += value.length;
  }
}
