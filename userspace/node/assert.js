// `assert` and `assert/strict`: the browserify assert package (Node's own
// assert, transpiled). It and the `util` package it uses read the global
// `process` (process.env at load, process.stderr when an AssertionError is
// built), so a missing global `process` is set to ours before it loads.

/** createAssert returns the assert module. */
export function createAssert(env, load) {
  if (typeof globalThis.process === 'undefined') {
    Object.defineProperty(globalThis, 'process', { value: load('process'), writable: true, configurable: true, enumerable: false });
  }
  return require('assert/build/assert.js');
}
