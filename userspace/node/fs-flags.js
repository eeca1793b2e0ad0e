// Node open flags ('wx', 'a+', O_WRONLY|O_CREAT, …) to the kernel's fopen modes.
import { FS_CONSTANTS as C } from './fs-stats.js';

const STRING_FLAGS = {
  r: ['r'], rs: ['r'], sr: ['r'],
  'r+': ['r+'], 'rs+': ['r+'], 'sr+': ['r+'],
  w: ['w'], wx: ['w', true], xw: ['w', true],
  'w+': ['w+'], 'wx+': ['w+', true], 'xw+': ['w+', true],
  a: ['a'], as: ['a'], sa: ['a'], ax: ['a', true], xa: ['a', true],
  'a+': ['a+'], 'as+': ['a+'], 'sa+': ['a+'], 'ax+': ['a+', true], 'xa+': ['a+', true],
};

/**
 * openMode returns { mode, exclusive, createOnly } for Node `flags`:
 * mode is one of r r+ w w+ a a+; exclusive asks for EEXIST when the file
 * exists (checked with a stat first: not atomic); createOnly (O_CREAT
 * without O_TRUNC or O_APPEND) opens r+ if the file exists, else w.
 * Throws a TypeError for flags it does not know.
 */
export function openMode(flags, fallback) {
  if (flags === undefined || flags === null) flags = fallback;
  if (typeof flags === 'string') {
    const known = STRING_FLAGS[flags];
    if (known === undefined) throw invalidFlags(flags);
    return { mode: known[0], exclusive: known[1] === true, createOnly: false };
  }
  if (typeof flags !== 'number') throw invalidFlags(flags);
  const access = flags & 3;
  const create = (flags & C.O_CREAT) !== 0;
  const exclusive = create && (flags & C.O_EXCL) !== 0;
  const plus = access === C.O_RDWR;
  if (access === C.O_RDONLY) return { mode: 'r', exclusive: false, createOnly: false };
  if (flags & C.O_APPEND) return { mode: plus ? 'a+' : 'a', exclusive, createOnly: false };
  if (flags & C.O_TRUNC) return { mode: plus ? 'w+' : 'w', exclusive, createOnly: false };
  return { mode: plus ? 'r+' : 'r+', exclusive, createOnly: create };
}

function invalidFlags(flags) {
  const err = new TypeError(`The value "${String(flags)}" is invalid for option "flags"`);
  err.code = 'ERR_INVALID_ARG_VALUE';
  return err;
}
