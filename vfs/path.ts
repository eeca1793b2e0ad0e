/**
 * Path resolution for the agent namespace. Resolution is purely lexical: `.`
 * and empty segments vanish, `..` pops a segment and never climbs above `/`.
 * There are no symlinks in the namespace and no percent-decoding, so
 * `%2e%2e` is an ordinary file name. Confinement is checked on the result.
 */
import { ARG_LIMITS } from '../abi/limits.ts';
import { KernelError } from '../abi/errno.ts';

/** resolvePath makes `input` absolute against `cwd` and normalises it. */
export function resolvePath(cwd: string, input: string): string {
  if (input.length === 0) throw new KernelError('ENOENT', 'empty path');
  if (input.length > ARG_LIMITS.pathBytes) throw new KernelError('ENAMETOOLONG', 'path is too long');
  if (input.includes('\0')) throw new KernelError('EINVAL', 'path contains a NUL byte');
  // A lone UTF-16 surrogate has no UTF-8: a Redis mount stored it as U+FFFD, so '\uD800', '\uDC00' and '\uFFFD' were one
  // file there and three on memfs (an attacker pass).
  if (!input.isWellFormed()) throw new KernelError('EINVAL', 'path is not well-formed Unicode (a lone surrogate)');
  const joined = input.startsWith('/') ? input : `${cwd}/${input}`;
  const out: string[] = [];
  for (const segment of joined.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') out.pop();
    else {
      // A UTF-16 unit is at most 3 bytes of UTF-8: only a long segment needs counting.
      if (segment.length * 3 > ARG_LIMITS.nameBytes && Buffer.byteLength(segment) > ARG_LIMITS.nameBytes) throw new KernelError('ENAMETOOLONG', `a path component is longer than ${ARG_LIMITS.nameBytes} bytes`);
      out.push(segment);
    }
  }
  if (out.length > ARG_LIMITS.pathDepth) throw new KernelError('ENAMETOOLONG', `path is deeper than ${ARG_LIMITS.pathDepth} components`);
  return `/${out.join('/')}`;
}

/** isWithin reports whether normalised `path` is `root` or below it. */
export function isWithin(root: string, path: string): boolean {
  return path === root || path.startsWith(root.endsWith('/') ? root : `${root}/`);
}

/** relativeTo returns `path` (within `root`) as a backend path starting with `/`. */
export function relativeTo(root: string, path: string): string {
  if (root === '/') return path;
  return path.length === root.length ? '/' : path.slice(root.length);
}
