/**
 * How a rule's path-like argument glob reads a path-like value. A glob
 * matches the text it is given, so `/data/../etc/shadow` and `/data//x`
 * matched `/data/**` while the tool they reach acted on /etc/shadow and
 * /data/x; and `/etc/**` did not match `/data/../etc/shadow`. A path is read
 * only in the kernel's canonical form (vfs/path.ts resolvePath's result: `/`
 * or `/a/b`, no `.` or `..` segment, no empty segment, no trailing `/`, no
 * NUL). A value in any other spelling is not read at all: it matches a deny
 * rule's path glob and no other rule's (fail closed both ways), and the
 * decision says why. Nothing is normalised: the tool acts on the text it is
 * sent, and `..` after a symbolic link is not what the text suggests.
 */
import { expandBraces } from './glob-parse.ts';

/**
 * isPathGlob: an argument glob is path-like when it can match a value that
 * starts with `/` (only such globs read values as paths): one of its brace
 * alternatives starts with `/`, `\/`, `**` or a class that can hold `/`.
 * Only a leading `/` counted, and `{/etc/**,/root/**}` or `[/]data/**` read
 * `/data/../etc/shadow` as text (a review). A glob that does not parse is not
 * one (it is refused where it is compiled).
 */
export function isPathGlob(glob: string): boolean {
  let alternatives: string[];
  try {
    alternatives = expandBraces(glob);
  } catch {
    return false;
  }
  return alternatives.some(leadsWithSlash);
}

/** leadsWithSlash: a brace-free glob can match a text whose first character is `/`. */
function leadsWithSlash(glob: string): boolean {
  if (glob.startsWith('/') || glob.startsWith('\\/') || glob.startsWith('**')) return true;
  if (!glob.startsWith('[')) return false;
  const end = glob.indexOf(']', 2);
  const inside = glob.slice(1, end < 0 ? undefined : end);
  return inside.includes('/') || inside.startsWith('!') || inside.startsWith('^');
}

let lastText = '';
let lastWhy: string | undefined;

/**
 * pathSpelling says what keeps `text` from the kernel's canonical path form
 * when it is path-like (starts with `/`), or undefined when it is canonical
 * or not path-like. One pass over the text, no allocation for a canonical
 * path; the last text asked about is remembered, so the rules of one
 * decision share one pass.
 */
export function pathSpelling(text: string): string | undefined {
  if (text.charCodeAt(0) !== 47 || text.length === 1) return undefined;
  if (text === lastText) return lastWhy;
  lastWhy = spellingOf(text);
  lastText = text;
  return lastWhy;
}

function spellingOf(text: string): string | undefined {
  const n = text.length;
  let start = 1;
  for (let i = 1; i <= n; i++) {
    // The end of the text closes the last segment as a '/' would.
    const c = i < n ? text.charCodeAt(i) : 47;
    if (c === 0) return 'it holds a NUL byte';
    if (c !== 47) continue;
    const length = i - start;
    if (length === 0) return i === n ? "it ends with '/'" : "it has an empty segment ('//')";
    if (length <= 2 && text.charCodeAt(start) === 46 && (length === 1 || text.charCodeAt(start + 1) === 46)) return `it has a '${length === 1 ? '.' : '..'}' segment`;
    start = i + 1;
  }
  return undefined;
}

/** notCanonical is the note a decision carries for argument `name` whose path-like value `why` (pathSpelling) is not canonical. */
export function notCanonical(name: string, why: string, deny: boolean): string {
  const effect = deny ? "a deny rule's path glob matches it" : "an allow or require_approval rule's path glob does not";
  return `argument '${name}' is not a canonical path (${why}): ${effect} (fail closed)`;
}
