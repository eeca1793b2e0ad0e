// Node's console view of the web classes whose state is out of sight (found
// by a review: console.log(response) printed `Response {}`, and a stream
// ~70 lines of the polyfill's internals): `Name { field: value, … }`, each
// field read through the object's own getter, as Node prints its own.
import { defineProperty } from './intrinsics.js';

const CUSTOM = Symbol.for('nodejs.util.inspect.custom');

/** inspectAs shows instances of `Class` as `name { … }`: `fields` are getter names, or [name, read] pairs. */
export function inspectAs(Class, name, fields) {
  defineProperty(Class.prototype, CUSTOM, {
    value(depth, options, inspect) {
      if (depth < 0) return `[${name}]`;
      const view = {};
      for (const field of fields) {
        if (typeof field === 'string') view[field] = this[field];
        else view[field[0]] = field[1](this);
      }
      return `${name} ${inspect(view, options)}`;
    },
    writable: true,
    configurable: true,
  });
}

/** inspectEntries shows instances of `Class` as `name { 'key' => 'value', … }`, as Node shows URLSearchParams. */
export function inspectEntries(Class, name) {
  defineProperty(Class.prototype, CUSTOM, {
    value(depth, options, inspect) {
      if (depth < 0) return `[${name}]`;
      const shown = [];
      for (const [key, value] of this) shown.push(`${inspect(key, options)} => ${inspect(value, options)}`);
      return shown.length === 0 ? `${name} {}` : `${name} { ${shown.join(', ')} }`;
    },
    writable: true,
    configurable: true,
  });
}
