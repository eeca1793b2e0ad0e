// The names (without `node:`) of Node's built-in modules agent programs
// get. Data only, so that the kernel's build can read it without loading the
// ring-3 modules themselves; index.js has one factory for each.

/** NODE_MODULES lists the built-ins provided (names without `node:`). */
export const NODE_MODULES = Object.freeze([
  'fs',
  'fs/promises',
  'path',
  'path/posix',
  'events',
  'buffer',
  'util',
  'util/types',
  'timers',
  'timers/promises',
  'process',
  'crypto',
  'url',
  'string_decoder',
  'assert',
  'assert/strict',
]);
