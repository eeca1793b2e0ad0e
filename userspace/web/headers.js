// Headers (WHATWG Fetch): an ordered list of lower-cased names and values,
// with a guard that makes a fetched response's headers immutable.
import { NativeTypeError, defineProperty } from './intrinsics.js';

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const INVALID_VALUE = /[\0\r\n]/;
const EDGE_WHITESPACE = /^[\t\n\r ]+|[\t\n\r ]+$/g;
const lists = new WeakMap();
const guards = new WeakMap();

function normalizeName(name) {
  const text = `${name}`;
  if (!TOKEN.test(text)) throw new NativeTypeError(`Header name must be a valid HTTP token ["${text}"]`);
  return text.toLowerCase();
}

/** NOT_BYTE finds a character no header can carry (a value is a ByteString: 0-255). */
const NOT_BYTE = /[\u0100-\uffff]/;

function normalizeValue(value, name) {
  const given = `${value}`;
  // As the platform does, at once (found by a review: a value such as 'é€' was taken, and the request failed later as 'fetch failed').
  const wide = NOT_BYTE.exec(given);
  if (wide !== null) throw new NativeTypeError(`Cannot convert argument to a ByteString because the character at index ${wide.index} has a value of ${given.charCodeAt(wide.index)} which is greater than 255.`);
  const text = given.replace(EDGE_WHITESPACE, '');
  if (INVALID_VALUE.test(text)) throw new NativeTypeError(`Invalid value for header "${name}"`);
  return text;
}

function writable(headers) {
  if (guards.get(headers) === 'immutable') throw new NativeTypeError('Headers are immutable');
  return lists.get(headers);
}

/** headerList returns the [name, value] pairs of `headers` in insertion order (names lower-cased). */
export function headerList(headers) {
  return lists.get(headers);
}

/** isFrozenHeaders: `headers` are immutable (a copy of them, a clone's, must be too). */
export function isFrozenHeaders(headers) {
  return guards.get(headers) === 'immutable';
}

/** freezeHeaders makes `headers` immutable (for responses from fetch). */
export function freezeHeaders(headers) {
  guards.set(headers, 'immutable');
  return headers;
}

/** Headers(init): init is a Headers, an iterable of [name, value] pairs or a record; TypeError for invalid names or values. */
export class Headers {
  constructor(init = undefined) {
    lists.set(this, []);
    if (init === undefined || init === null) return;
    if (typeof init !== 'object') throw new NativeTypeError('The provided value is not of type HeadersInit');
    const own = lists.get(init);
    if (own !== undefined) {
      for (const [name, value] of own) this.append(name, value);
    } else if (typeof init[Symbol.iterator] === 'function') {
      for (const pair of init) {
        const entry = [...pair];
        if (entry.length !== 2) throw new NativeTypeError('Header pair must contain exactly two items');
        this.append(entry[0], entry[1]);
      }
    } else {
      for (const key of Object.keys(init)) this.append(key, init[key]);
    }
  }
  append(name, value) {
    const key = normalizeName(name);
    writable(this).push([key, normalizeValue(value, key)]);
  }
  delete(name) {
    const key = normalizeName(name);
    const list = writable(this);
    lists.set(this, list.filter((entry) => entry[0] !== key));
  }
  get(name) {
    const key = normalizeName(name);
    const values = lists.get(this).filter((entry) => entry[0] === key).map((entry) => entry[1]);
    return values.length === 0 ? null : values.join(', ');
  }
  getSetCookie() {
    return lists.get(this).filter((entry) => entry[0] === 'set-cookie').map((entry) => entry[1]);
  }
  has(name) {
    const key = normalizeName(name);
    return lists.get(this).some((entry) => entry[0] === key);
  }
  set(name, value) {
    const key = normalizeName(name);
    const normalized = normalizeValue(value, key);
    const list = writable(this);
    const index = list.findIndex((entry) => entry[0] === key);
    if (index === -1) {
      list.push([key, normalized]);
      return;
    }
    list[index] = [key, normalized];
    lists.set(this, list.filter((entry, i) => i <= index || entry[0] !== key));
  }
  forEach(callback, thisArg = undefined) {
    for (const [name, value] of this) callback.call(thisArg, value, name, this);
  }
  *entries() {
    const names = [...new Set(lists.get(this).map((entry) => entry[0]))].toSorted();
    for (const name of names) {
      if (name === 'set-cookie') for (const value of this.getSetCookie()) yield [name, value];
      else yield [name, this.get(name)];
    }
  }
  *keys() {
    for (const [name] of this.entries()) yield name;
  }
  *values() {
    for (const [, value] of this.entries()) yield value;
  }
  [Symbol.iterator]() {
    return this.entries();
  }
  [Symbol.for('nodejs.util.inspect.custom')](depth, options, inspect) {
    const record = {};
    for (const [name, value] of this) record[name] = value;
    return `Headers ${inspect(record, options)}`;
  }
}
defineProperty(Headers.prototype, Symbol.toStringTag, { value: 'Headers', configurable: true });
