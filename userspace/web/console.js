// console, formatted like Node's (util.format / util.inspect from
// node-inspect-extracted). log/info/debug/dir/table go to fd 1, the rest to
// fd 2; each call is one kernel.write ending in a newline.
import { formatWithOptions, inspect } from 'node-inspect-extracted';
import { table } from './console-table.js';
import { defineProperty } from './intrinsics.js';

const INSPECT_OPTIONS = { colors: false };

/** createConsole builds a console writing through `write(fd, text)` and timing with `now()`. */
export function createConsole(write, now) {
  let indent = '';
  const counts = new Map();
  const timers = new Map();

  function emit(fd, text) {
    const body = indent === '' ? text : indent + text.split('\n').join(`\n${indent}`);
    write(fd, `${body}\n`);
  }
  const print = (fd) => (...args) => emit(fd, formatWithOptions(INSPECT_OPTIONS, ...args));
  function duration(label) {
    const ms = now() - timers.get(label);
    return ms >= 1000 ? `${(ms / 1000).toFixed(3)}s` : `${ms.toFixed(3)}ms`;
  }

  const console = {
    log: print(1),
    info: print(1),
    debug: print(1),
    warn: print(2),
    error: print(2),
    trace(...args) {
      const error = { name: 'Trace', message: formatWithOptions(INSPECT_OPTIONS, ...args) };
      Error.captureStackTrace?.(error, console.trace);
      const stack = typeof error.stack === 'string' ? error.stack : `Trace: ${error.message}`;
      emit(2, stack);
    },
    dir(value, options = undefined) {
      emit(1, inspect(value, { ...INSPECT_OPTIONS, customInspect: false, ...options }));
    },
    dirxml(...args) {
      console.log(...args);
    },
    table(data, properties = undefined) {
      if (data === null || typeof data !== 'object') return console.log(data);
      emit(1, table(data, properties, (value) => inspect(value, { ...INSPECT_OPTIONS, depth: 1, breakLength: Infinity, compact: 3 })));
    },
    assert(condition, ...args) {
      if (condition) return;
      if (typeof args[0] === 'string') args[0] = `Assertion failed: ${args[0]}`;
      else args.unshift('Assertion failed');
      console.warn(...args);
    },
    count(label = 'default') {
      const key = `${label}`;
      const count = (counts.get(key) ?? 0) + 1;
      counts.set(key, count);
      console.info(`${key}: ${count}`);
    },
    countReset(label = 'default') {
      const key = `${label}`;
      if (!counts.has(key)) return console.warn(`Count for '${key}' does not exist`);
      counts.set(key, 0);
    },
    time(label = 'default') {
      const key = `${label}`;
      if (timers.has(key)) return console.warn(`Label '${key}' already exists for console.time()`);
      timers.set(key, now());
    },
    timeEnd(label = 'default') {
      const key = `${label}`;
      if (!timers.has(key)) return console.warn(`No such label '${key}' for console.timeEnd()`);
      console.info(`${key}: ${duration(key)}`);
      timers.delete(key);
    },
    timeLog(label = 'default', ...data) {
      const key = `${label}`;
      if (!timers.has(key)) return console.warn(`No such label '${key}' for console.timeLog()`);
      console.info(`${key}: ${duration(key)}`, ...data);
    },
    group(...label) {
      if (label.length > 0) console.log(...label);
      indent += '  ';
    },
    groupCollapsed(...label) {
      console.group(...label);
    },
    groupEnd() {
      indent = indent.slice(0, -2);
    },
  };
  defineProperty(console, Symbol.toStringTag, { value: 'console', configurable: true });
  return console;
}
