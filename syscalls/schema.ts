/**
 * Argument schemas for syscall rows. A schema is an ordered record of named
 * decoders; ring 3 passes arguments positionally and `decodeArgs` turns them
 * into a fresh null-prototype record or throws EINVAL naming the argument.
 * Hand-written rather than a general validator: these run on every syscall and
 * must cost tens of nanoseconds, and there are only a handful of argument kinds.
 */
import { KernelError } from '../abi/errno.ts';
import { ARG_LIMITS } from '../abi/limits.ts';

export type Decoder<T> = (value: unknown, name: string) => T;
export type Schema = Readonly<Record<string, Decoder<unknown>>>;
export type Decoded<S extends Schema> = { readonly [K in keyof S]: S[K] extends Decoder<infer T> ? T : never };

function invalid(name: string, why: string): KernelError {
  return new KernelError('EINVAL', `argument '${name}' ${why}`);
}

/** int accepts a safe integer in [min, max]. */
export function int(min: number, max: number): Decoder<number> {
  return (v, name) => {
    if (typeof v !== 'number' || !Number.isInteger(v)) throw invalid(name, 'must be an integer');
    if (v < min || v > max) throw invalid(name, `must be between ${min} and ${max}`);
    return v;
  };
}

/** str accepts a string of at most `max` UTF-16 units without NUL bytes. */
export function str(max: number): Decoder<string> {
  return (v, name) => {
    if (typeof v !== 'string') throw invalid(name, 'must be a string');
    if (v.length > max) throw new KernelError('ENAMETOOLONG', `argument '${name}' is longer than ${max}`);
    if (v.includes('\0')) throw invalid(name, 'must not contain NUL bytes');
    return v;
  };
}

/** oneOf accepts one of the listed string literals. */
export function oneOf<const T extends string>(...options: readonly T[]): Decoder<T> {
  const set = new Set<string>(options);
  return (v, name) => {
    if (typeof v !== 'string' || !set.has(v)) throw invalid(name, `must be one of ${options.join(', ')}`);
    return v as T;
  };
}

/** optional lets `undefined` through as the given default. */
export function optional<T>(inner: Decoder<T>, fallback: NoInfer<T>): Decoder<T> {
  return (v, name) => (v === undefined ? fallback : inner(v, name));
}

export const bool: Decoder<boolean> = (v, name) => {
  if (typeof v !== 'boolean') throw invalid(name, 'must be a boolean');
  return v;
};

/**
 * bytes accepts a string (encoded as UTF-8) or a Uint8Array of at most `max`
 * bytes and returns a private copy. Views over a SharedArrayBuffer are refused:
 * the isolate could change them while the kernel reads.
 */
export function bytes(max: number): Decoder<Uint8Array> {
  const encoder = new TextEncoder();
  return (v, name) => {
    if (typeof v === 'string') {
      if (v.length > max) throw new KernelError('EFBIG', `argument '${name}' is larger than ${max} bytes`);
      const out = encoder.encode(v);
      if (out.byteLength > max) throw new KernelError('EFBIG', `argument '${name}' is larger than ${max} bytes`);
      return out;
    }
    if (v instanceof Uint8Array) {
      if (typeof SharedArrayBuffer !== 'undefined' && v.buffer instanceof SharedArrayBuffer) {
        throw invalid(name, 'must not be backed by a SharedArrayBuffer');
      }
      if (v.byteLength > max) throw new KernelError('EFBIG', `argument '${name}' is larger than ${max} bytes`);
      return v.slice();
    }
    throw invalid(name, 'must be a string or a Uint8Array');
  };
}

/** JsonValue is the plain data a structured argument may hold. */
export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/** isPlainObject: an object literal, or a null-prototype record (what decoding itself produces, so decoded data decodes again). */
function isPlainObject(v: object): boolean {
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/**
 * json accepts plain data (null, booleans, finite numbers, strings, arrays and
 * objects) within depth, length and total size caps, a string's length counted
 * in the total (so a structured argument costs ring 0 at most
 * ARG_LIMITS.jsonBytes to copy, match or hash), rebuilt into fresh
 * null-prototype objects so an own `__proto__` key stays an ordinary key.
 */
export function json(): Decoder<JsonValue> {
  const walk = (v: unknown, name: string, depth: number, budget: { left: number }): JsonValue => {
    if (depth > ARG_LIMITS.jsonDepth) throw invalid(name, `is nested deeper than ${ARG_LIMITS.jsonDepth}`);
    if ((budget.left -= typeof v === 'string' ? v.length : 8) < 0) throw invalid(name, `is larger than ${ARG_LIMITS.jsonBytes} in all`);
    if (v === null || typeof v === 'boolean') return v;
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) throw invalid(name, 'must hold only finite numbers');
      return v;
    }
    // A string may take the whole budget: a fetch's body (a model's prompt) is one string of a tool's arguments, and past
    // 64 KiB each was refused (found by a review) though the tool's own limit (max_request_bytes) is larger.
    if (typeof v === 'string') return v;
    if (Array.isArray(v)) {
      if (v.length > ARG_LIMITS.jsonKeys) throw invalid(name, 'holds an array that is too long');
      return v.map((item) => walk(item, name, depth + 1, budget));
    }
    if (typeof v === 'object' && isPlainObject(v)) {
      const keys = Object.keys(v);
      if (keys.length > ARG_LIMITS.jsonKeys) throw invalid(name, 'holds an object with too many keys');
      const out: Record<string, JsonValue> = Object.create(null);
      for (const key of keys) {
        if ((budget.left -= key.length) < 0) throw invalid(name, `is larger than ${ARG_LIMITS.jsonBytes} in all`);
        out[key] = walk((v as Record<string, unknown>)[key], name, depth + 1, budget);
      }
      return out;
    }
    throw invalid(name, 'must be plain JSON data');
  };
  return (v, name) => walk(v, name, 0, { left: ARG_LIMITS.jsonBytes });
}

/**
 * decodeArgs checks the positional arguments against `schema`. Extra
 * arguments are an error, so a caller cannot smuggle data past the schema.
 */
export function decodeArgs<S extends Schema>(schema: S, names: readonly string[], raw: readonly unknown[]): Decoded<S> {
  if (raw.length > names.length) {
    throw new KernelError('EINVAL', `expected at most ${names.length} arguments, got ${raw.length}`);
  }
  const out: Record<string, unknown> = Object.create(null);
  for (let i = 0; i < names.length; i++) {
    const name = names[i] as string;
    out[name] = (schema[name] as Decoder<unknown>)(raw[i], name);
  }
  return out as Decoded<S>;
}

/** list accepts an array of at most `max` items, each decoded by `inner`. */
export function list<T>(inner: Decoder<T>, max: number): Decoder<readonly T[]> {
  return (v, name) => {
    if (!Array.isArray(v)) throw invalid(name, 'must be an array');
    if (v.length > max) throw invalid(name, `must have at most ${max} items`);
    return v.map((item, i) => inner(item, `${name}[${i}]`));
  };
}

/**
 * shape accepts a plain object whose keys are all among `fields` (each
 * optional) and returns a fresh null-prototype object holding the decoded
 * values; any other key is EINVAL.
 */
export function shape<const F extends Readonly<Record<string, Decoder<unknown>>>>(fields: F): Decoder<{ readonly [K in keyof F]?: F[K] extends Decoder<infer T> ? T : never }> {
  return (v, name) => {
    if (v === undefined || v === null) return Object.create(null);
    if (typeof v !== 'object' || Array.isArray(v) || Object.getPrototypeOf(v) !== Object.prototype) throw invalid(name, 'must be a plain object');
    const out: Record<string, unknown> = Object.create(null);
    for (const key of Object.keys(v)) {
      if (!Object.hasOwn(fields, key)) throw invalid(name, `has an unknown field '${key.slice(0, 64)}'`);
      const value = (v as Record<string, unknown>)[key];
      if (value !== undefined) out[key] = (fields[key] as Decoder<unknown>)(value, `${name}.${key}`);
    }
    return out as { readonly [K in keyof F]?: F[K] extends Decoder<infer T> ? T : never };
  };
}

/** stringRecord accepts an object of at most `max` string values. */
export function stringRecord(max: number, maxLength: number): Decoder<Readonly<Record<string, string>>> {
  return (v, name) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v) || Object.getPrototypeOf(v) !== Object.prototype) throw invalid(name, 'must be a plain object');
    const keys = Object.keys(v);
    if (keys.length > max) throw invalid(name, `must have at most ${max} keys`);
    const out: Record<string, string> = Object.create(null);
    for (const key of keys) out[key] = str(maxLength)((v as Record<string, unknown>)[key], `${name}.${key}`);
    return out;
  };
}
