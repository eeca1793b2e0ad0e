// Node's common built-in modules for agent programs (ring 3). The build maps
// `fs`, `node:fs`, … to load(name) of the registry made here; each module is
// built on its first load and cached. Effects go through env.sys (blocking
// syscalls) and env.sysAsync (syscalls that resolve later); the rest is
// well-kept browser packages (see each file).
import { createAssert } from './assert.js';
import { createBuffer } from './buffer.js';
import { createCrypto } from './crypto.js';
import { createEvents } from './events.js';
import { createFs } from './fs.js';
import { createPath } from './path.js';
import { createProcess } from './process.js';
import { NODE_MODULES } from './names.js';
import { REFUSED_MODULES } from './refused.js';
import { createStringDecoder } from './string-decoder.js';
import { createTimers, createTimersPromises } from './timers.js';
import { createUrl } from './url.js';
import { createUtil, createUtilTypes } from './util.js';

export { NODE_MODULES, REFUSED_MODULES };

/** Factories by module name: (env, load) → module object. */
const FACTORIES = {
  fs: createFs,
  'fs/promises': (env, load) => load('fs').promises,
  path: createPath,
  'path/posix': (env, load) => load('path'),
  events: createEvents,
  buffer: createBuffer,
  util: createUtil,
  'util/types': createUtilTypes,
  timers: createTimers,
  'timers/promises': createTimersPromises,
  process: createProcess,
  crypto: createCrypto,
  url: createUrl,
  string_decoder: createStringDecoder,
  assert: createAssert,
  'assert/strict': (env, load) => load('assert').strict,
};

// names.js lists what the kernel's build maps to this registry: one factory per name, no more.
for (const name of new Set([...NODE_MODULES, ...Object.keys(FACTORIES)])) {
  if (!NODE_MODULES.includes(name) || !Object.hasOwn(FACTORIES, name)) throw new Error(`node built-in "${name}" is in one of names.js and FACTORIES only`);
}

/**
 * nodeBuiltins returns load(name) → the module object, built on first load
 * and cached; `name` may carry `node:`. A refused module throws an Error
 * (code ERR_UNKNOWN_BUILTIN_MODULE) naming the governed alternative; an
 * unknown one throws the same code.
 */
export function nodeBuiltins(env) {
  const cache = new Map();
  const building = new Set();
  function load(name) {
    const key = String(name).startsWith('node:') ? String(name).slice(5) : String(name);
    const cached = cache.get(key);
    if (cached !== undefined) return cached;
    const factory = Object.hasOwn(FACTORIES, key) ? FACTORIES[key] : undefined;
    if (factory === undefined) {
      const hint = Object.hasOwn(REFUSED_MODULES, key) ? `; an agent uses ${REFUSED_MODULES[key]}` : '';
      throw Object.assign(new Error(`Node built-in module "${key}" is not available to agent programs${hint}`), { code: 'ERR_UNKNOWN_BUILTIN_MODULE' });
    }
    if (building.has(key)) throw new Error(`node built-in "${key}" requires itself while loading`);
    building.add(key);
    try {
      const mod = factory(env, load);
      cache.set(key, mod);
      return mod;
    } finally {
      building.delete(key);
    }
  }
  return load;
}
