// structuredClone (HTML "StructuredSerialize" + deserialize in one pass).
// Written here because core-js's version is recursive (a deeply nested
// value overflows the stack) and installs itself globally. This one keeps
// an explicit work list: a value is shelled when first met (so cycles and
// shared references map to one clone) and filled later, depth-first,
// without recursion. Getters run and may throw; their error propagates.
import { DOMException } from './dom-exception.js';
import {
  NativeMap, NativeTypeError, apply, defineProperty, getOwnPropertyDescriptor, getPrototypeOf, isArray, mapGet, mapHas, mapSet,
  objectKeys, typedArrayTag, uncurry,
} from './intrinsics.js';

function brand(getterOwner, key) {
  const get = uncurry(getOwnPropertyDescriptor(getterOwner, key).get);
  return (value) => {
    try {
      get(value);
      return true;
    } catch {
      return false;
    }
  };
}
function brandMethod(method, ...args) {
  return (value) => {
    try {
      apply(method, value, args);
      return true;
    } catch {
      return false;
    }
  };
}
const isDate = brandMethod(Date.prototype.getTime);
const isRegExp = brand(RegExp.prototype, 'source');
const isMap = brand(Map.prototype, 'size');
const isSet = brand(Set.prototype, 'size');
const isArrayBuffer = brand(ArrayBuffer.prototype, 'byteLength');
const isSharedArrayBuffer = typeof SharedArrayBuffer === 'function' ? brand(SharedArrayBuffer.prototype, 'byteLength') : () => false;
const isDataView = brand(DataView.prototype, 'byteLength');
const isBoolean = brandMethod(Boolean.prototype.valueOf);
const isNumber = brandMethod(Number.prototype.valueOf);
const isString = brandMethod(String.prototype.valueOf);
const isBigInt = brandMethod(BigInt.prototype.valueOf);
const isSymbolObject = brandMethod(Symbol.prototype.valueOf);
const isWeak = [brandMethod(WeakMap.prototype.has, {}), brandMethod(WeakSet.prototype.has, {}), brandMethod(Promise.prototype.then)];
const isError = typeof Error.isError === 'function' ? Error.isError : (value) => value instanceof Error;
const ERRORS = { __proto__: null, Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError };
const getTime = uncurry(Date.prototype.getTime);
const regexpSource = uncurry(getOwnPropertyDescriptor(RegExp.prototype, 'source').get);
const regexpFlags = uncurry(getOwnPropertyDescriptor(RegExp.prototype, 'flags').get);
const bufferSlice = uncurry(ArrayBuffer.prototype.slice);
const bufferByteLength = uncurry(getOwnPropertyDescriptor(ArrayBuffer.prototype, 'byteLength').get);
const bufferTransfer = ArrayBuffer.prototype.transfer ? uncurry(ArrayBuffer.prototype.transfer) : null;
const mapForEach = uncurry(Map.prototype.forEach);
const setForEach = uncurry(Set.prototype.forEach);
const setAdd = uncurry(Set.prototype.add);
const viewBuffer = uncurry(getOwnPropertyDescriptor(getPrototypeOf(Uint8Array.prototype), 'buffer').get);
const viewOffset = uncurry(getOwnPropertyDescriptor(getPrototypeOf(Uint8Array.prototype), 'byteOffset').get);
const viewLength = uncurry(getOwnPropertyDescriptor(getPrototypeOf(Uint8Array.prototype), 'length').get);
const dataViewBuffer = uncurry(getOwnPropertyDescriptor(DataView.prototype, 'buffer').get);
const dataViewOffset = uncurry(getOwnPropertyDescriptor(DataView.prototype, 'byteOffset').get);
const dataViewLength = uncurry(getOwnPropertyDescriptor(DataView.prototype, 'byteLength').get);
const propertyIsEnumerable = uncurry(Object.prototype.propertyIsEnumerable);
const TYPED = { __proto__: null };
for (const Ctor of [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array]) TYPED[Ctor.name] = Ctor;
if (typeof Float16Array === 'function') TYPED.Float16Array = Float16Array;

function uncloneable(value) {
  let text;
  try {
    text = typeof value === 'symbol' ? value.toString() : typeof value === 'function' ? `${value}` : '#<Object>';
  } catch {
    text = 'The value';
  }
  if (text.length > 100) text = `${text.slice(0, 97)}...`;
  return new DOMException(`${text} could not be cloned.`, 'DataCloneError');
}

function put(target, key, value) {
  defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
}

/** structuredClone(value, { transfer }) deep-copies `value`; DataCloneError for functions, symbols, WeakMaps, Promises and the like. */
export function structuredClone(value, options = undefined) {
  if (arguments.length === 0) throw new NativeTypeError('The "value" argument must be specified');
  const memory = new NativeMap();
  const work = [];
  const transfers = [];
  const transfer = options?.transfer;
  if (transfer !== undefined && transfer !== null) {
    for (const buffer of transfer) {
      if (!isArrayBuffer(buffer)) throw new DOMException('Value not transferable', 'DataCloneError');
      if (mapHas(memory, buffer)) throw new DOMException('Duplicate ArrayBuffer in the transfer list', 'DataCloneError');
      if (bufferTransfer === null) throw new DOMException('Transferring is not supported', 'DataCloneError');
      const fresh = new ArrayBuffer(bufferByteLength(buffer));
      mapSet(memory, buffer, fresh);
      transfers.push([buffer, fresh]);
    }
  }

  function clone(input) {
    const type = typeof input;
    if (type === 'symbol' || type === 'function') throw uncloneable(input);
    if (input === null || type !== 'object') return input;
    if (mapHas(memory, input)) return mapGet(memory, input);
    let output;
    if (isArray(input)) {
      output = [];
      output.length = input.length;
      work.push(input, output);
    } else if (isDate(input)) output = new Date(getTime(input));
    else if (isRegExp(input)) output = new RegExp(regexpSource(input), regexpFlags(input));
    else if (isArrayBuffer(input)) output = bufferSlice(input, 0);
    else if (isSharedArrayBuffer(input)) output = input;
    else if (typedArrayTag(input) !== undefined) {
      const buffer = clone(viewBuffer(input));
      output = new TYPED[typedArrayTag(input)](buffer, viewOffset(input), viewLength(input));
    } else if (isDataView(input)) output = new DataView(clone(dataViewBuffer(input)), dataViewOffset(input), dataViewLength(input));
    else if (isMap(input)) {
      output = new NativeMap();
      work.push(input, output);
    } else if (isSet(input)) {
      output = new Set();
      work.push(input, output);
    } else if (isBoolean(input) || isNumber(input) || isString(input) || isBigInt(input)) output = Object(input.valueOf());
    else if (isSymbolObject(input) || isWeak[0](input) || isWeak[1](input) || isWeak[2](input)) throw uncloneable(input);
    else if (isError(input)) output = cloneError(input);
    else {
      output = {};
      work.push(input, output);
    }
    mapSet(memory, input, output);
    return output;
  }

  function cloneError(input) {
    const name = input.name;
    const Ctor = typeof name === 'string' && ERRORS[name] !== undefined ? ERRORS[name] : Error;
    const messageDescriptor = getOwnPropertyDescriptor(input, 'message');
    const output = messageDescriptor && 'value' in messageDescriptor ? new Ctor(`${messageDescriptor.value}`) : new Ctor();
    const stack = input.stack;
    if (typeof stack === 'string') defineProperty(output, 'stack', { value: stack, writable: true, configurable: true });
    mapSet(memory, input, output);
    const causeDescriptor = getOwnPropertyDescriptor(input, 'cause');
    if (causeDescriptor && 'value' in causeDescriptor) {
      defineProperty(output, 'cause', { value: clone(causeDescriptor.value), writable: true, configurable: true });
    }
    return output;
  }

  function fill(input, output) {
    if (isMap(input)) {
      const entries = [];
      mapForEach(input, (entryValue, key) => entries.push(key, entryValue));
      for (let i = 0; i < entries.length; i += 2) mapSet(output, clone(entries[i]), clone(entries[i + 1]));
      return;
    }
    if (isSet(input)) {
      const entries = [];
      setForEach(input, (entry) => entries.push(entry));
      for (let i = 0; i < entries.length; i++) setAdd(output, clone(entries[i]));
      return;
    }
    const keys = objectKeys(input);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i];
      if (!propertyIsEnumerable(input, key)) continue;
      put(output, key, clone(input[key]));
    }
  }

  const result = clone(value);
  while (work.length > 0) {
    const output = work.pop();
    const input = work.pop();
    fill(input, output);
  }
  for (const [buffer, fresh] of transfers) {
    new Uint8Array(fresh).set(new Uint8Array(buffer));
    bufferTransfer(buffer);
  }
  return result;
}
