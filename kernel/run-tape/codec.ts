/**
 * The tape's value codec: what crosses the boundary is plain data (null,
 * booleans, numbers, strings, arrays, plain objects, Uint8Array), and a tape
 * line is JSON, so bytes, numbers JSON cannot hold (NaN, ±Infinity, -0) and
 * objects that merely look like an encoded value are written as one-key
 * objects whose key starts with `$`:
 *   { "$b": base64 }  bytes        { "$n": "NaN" | "Infinity" | "-Infinity" | "-0" }  a number
 *   { "$o": {…} }     an object with a key starting with `$`
 * encode then JSON.stringify is a canonical text: two values are the same
 * call argument or reply exactly when their texts are equal.
 */

export type Encoded = null | boolean | number | string | Encoded[] | { [key: string]: Encoded };

/** put sets an own property, `__proto__` included (an agent may name a key so; assignment would set the prototype). */
function put<T>(target: Record<string, T>, key: string, value: T): void {
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}

function encodeNumber(n: number): Encoded {
  if (Number.isNaN(n)) return { $n: 'NaN' };
  if (n === Number.POSITIVE_INFINITY) return { $n: 'Infinity' };
  if (n === Number.NEGATIVE_INFINITY) return { $n: '-Infinity' };
  if (n === 0 && 1 / n < 0) return { $n: '-0' };
  return n;
}

/** encode turns a boundary value into JSON-ready data; anything that is not plain data (it cannot cross) becomes null. */
export function encode(value: unknown): Encoded {
  if (value === null || value === undefined) return null;
  if (typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'number') return encodeNumber(value);
  if (value instanceof Uint8Array) return { $b: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') };
  if (Array.isArray(value)) return value.map(encode);
  if (typeof value !== 'object') return null;
  const out: { [key: string]: Encoded } = {};
  let escaped = false;
  for (const [key, v] of Object.entries(value)) {
    if (v === undefined) continue;
    if (key.startsWith('$')) escaped = true;
    put(out, key, encode(v));
  }
  return escaped ? { $o: out } : out;
}

/** Past this depth decode goes on without recursion (decodeDeep): a recording may hold a tool's reply nested thousands deep. */
const RECURSE_DEPTH = 256;

/** decode is encode's inverse. */
export function decode(value: Encoded): unknown {
  return decodeAt(value, 0);
}

/** special is the value a one-key object of encode's stands for (bytes, a number), or the object an escaped one holds ($o). */
function special(value: { [key: string]: Encoded }): { readonly value: unknown } | { readonly object: { [key: string]: Encoded } } {
  const keys = Object.keys(value);
  if (keys.length === 1) {
    const inner = value[keys[0]!]!;
    if (keys[0] === '$b' && typeof inner === 'string') return { value: new Uint8Array(Buffer.from(inner, 'base64')) };
    if (keys[0] === '$n' && typeof inner === 'string') return { value: inner === '-0' ? -0 : Number(inner) };
    if (keys[0] === '$o' && inner !== null && typeof inner === 'object' && !Array.isArray(inner)) return { object: inner };
  }
  return { object: value };
}

function decodeAt(value: Encoded, depth: number): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (depth >= RECURSE_DEPTH) return decodeDeep(value);
  if (Array.isArray(value)) return value.map((v) => decodeAt(v, depth + 1));
  const found = special(value);
  if ('value' in found) return found.value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(found.object)) put(out, key, decodeAt(v, depth + 1));
  return out;
}

/** decodeDeep is decode with a stack of its own: keys are made in order first, then filled, so the order is encode's. */
function decodeDeep(value: Encoded): unknown {
  const root: { v?: unknown } = {};
  const work: [Encoded, Record<string, unknown> | unknown[], string | number][] = [[value, root as Record<string, unknown>, 'v']];
  for (let task = work.pop(); task !== undefined; task = work.pop()) {
    const [from, into, at] = task;
    const set = (v: unknown) => (Array.isArray(into) ? (into[at as number] = v) : put(into, at as string, v));
    if (from === null || typeof from !== 'object') {
      set(from);
      continue;
    }
    if (Array.isArray(from)) {
      const out: unknown[] = Array.from({ length: from.length });
      set(out);
      for (let i = 0; i < from.length; i++) work.push([from[i]!, out, i]);
      continue;
    }
    const found = special(from);
    if ('value' in found) {
      set(found.value);
      continue;
    }
    const out: Record<string, unknown> = {};
    set(out);
    for (const [key, v] of Object.entries(found.object)) {
      put(out, key, undefined);
      work.push([v, out, key]);
    }
  }
  return root.v;
}

/**
 * text is a value's canonical text, JSON.stringify(encode(value)), written
 * directly (the recorder writes one for every syscall's arguments and reply,
 * and a replay one for every call it checks).
 */
export function text(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      return Number.isFinite(value) && !Object.is(value, -0) ? String(value) : JSON.stringify(encodeNumber(value));
    case 'object':
      break;
    default:
      return 'null';
  }
  if (value instanceof Uint8Array) return `{"$b":"${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64')}"}`;
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += i === 0 ? text(value[i]) : `,${text(value[i])}`;
    return `${out}]`;
  }
  let out = '';
  let escaped = false;
  for (const key of Object.keys(value)) {
    const v = (value as Record<string, unknown>)[key];
    if (v === undefined) continue;
    if (key.startsWith('$')) escaped = true;
    out += `${out === '' ? '' : ','}${JSON.stringify(key)}:${text(v)}`;
  }
  return escaped ? `{"$o":{${out}}}` : `{${out}}`;
}
