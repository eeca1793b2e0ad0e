// What Node hands 'uncaughtException' listeners (and prints, with none) for a
// promise rejected with no handler whose reason is not error-like (has no own
// `stack`): an UnhandledPromiseRejection error, code ERR_UNHANDLED_REJECTION,
// naming the reason as V8 does without running its code (its
// NoSideEffectsToString: data properties only, never a getter or toString;
// a proxy's traps, or a Symbol.toStringTag getter on an object with its own
// toString, are the ways program code can run here, in its own isolate).
// Built-ins are captured before any program code runs.

const apply = Reflect.apply;
const hasOwn = Object.prototype.hasOwnProperty;
const getPrototypeOf = Object.getPrototypeOf;
const getOwnPropertyDescriptor = Object.getOwnPropertyDescriptor;
const objectToString = Object.prototype.toString;
const errorToString = Error.prototype.toString;
const functionToString = Function.prototype.toString;
const symbolToString = Symbol.prototype.toString;
const toStringTag = Symbol.toStringTag;
const errorPrototype = Error.prototype;
const stringSlice = String.prototype.slice;

/** inherits: `object` has `proto` on its prototype chain (64 links at most), asking no Symbol.hasInstance. */
function inherits(object, proto) {
  for (let at = getPrototypeOf(object), depth = 0; at !== null && depth < 64; at = getPrototypeOf(at), depth++) if (at === proto) return true;
  return false;
}

/** dataProperty reads `key` along the prototype chain as a data property only (a getter reads as undefined); 64 links at most. */
function dataProperty(object, key) {
  for (let at = object, depth = 0; at !== null && depth < 64; at = getPrototypeOf(at), depth++) {
    const found = getOwnPropertyDescriptor(at, key);
    if (found !== undefined) return 'value' in found ? found.value : undefined;
  }
  return undefined;
}

/** builtinTag is the tag Object.prototype.toString gives an object (Array, Function, Date, Object …), read when Symbol.toStringTag is no data property. */
const builtinTag = (object) => apply(stringSlice, apply(objectToString, object, []), [8, -1]);

/** objectName names an object as V8's NoSideEffectsToString does: "Name: message" for an error, "#<Ctor>" for a plain toString, else "[object Tag]". */
function objectName(object) {
  const toString = dataProperty(object, 'toString');
  if (toString === errorToString || inherits(object, errorPrototype)) {
    const name = dataProperty(object, 'name');
    const message = dataProperty(object, 'message');
    const n = typeof name === 'string' ? name : 'Error';
    const m = typeof message === 'string' ? message : '';
    return n === '' ? m : m === '' ? n : `${n}: ${m}`;
  }
  if (toString === objectToString) {
    const ctor = dataProperty(object, 'constructor');
    const name = typeof ctor === 'function' ? getOwnPropertyDescriptor(ctor, 'name')?.value : undefined;
    if (typeof name === 'string' && name !== '') return `#<${name}>`;
  }
  const tag = dataProperty(object, toStringTag);
  return `[object ${typeof tag === 'string' ? tag : builtinTag(object)}]`;
}

/** named is how the error's message names the reason. */
function named(reason) {
  try {
    if (typeof reason === 'symbol') return apply(symbolToString, reason, []);
    if (typeof reason === 'function') return apply(functionToString, reason, []);
    if (typeof reason === 'object' && reason !== null) return objectName(reason);
    return String(reason);
  } catch {
    // A proxy's trap threw, or a revoked proxy.
    return '[object Object]';
  }
}

class UnhandledPromiseRejection extends Error {
  constructor(reason) {
    super(
      `This error originated either by throwing inside of an async function without a catch block, or by rejecting a promise which was not handled with .catch(). The promise rejected with the reason "${named(reason)}".`,
    );
    this.code = 'ERR_UNHANDLED_REJECTION';
    this.name = 'UnhandledPromiseRejection';
  }
}

/** errorLike: what Node passes on as it is (an object with its own `stack`). */
function errorLike(reason) {
  try {
    return typeof reason === 'object' && reason !== null && apply(hasOwn, reason, ['stack']);
  } catch {
    return false;
  }
}

/** asUncaught is the error an unhandled rejection's `reason` goes on as past the 'unhandledRejection' listeners. */
export function asUncaught(reason) {
  return errorLike(reason) ? reason : new UnhandledPromiseRejection(reason);
}
