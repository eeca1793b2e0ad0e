/**
 * Parsing globs (see glob.ts for the syntax) into a small expression tree:
 * braces are expanded into alternatives first, then each alternative becomes
 * a sequence of single characters from a set, runs of characters from a set,
 * and optional parts (the whole-segment forms of `**`). GlobError for what
 * it cannot read.
 */

/** GlobError says why a glob cannot be compiled. */
export class GlobError extends Error {
  override readonly name = 'GlobError';
}

const MAX_ALTERNATIVES = 256;
export const SLASH = 47;
export const EXTGLOB = /[@!+*?]\(/;

/** CharSet: sorted inclusive [lo, hi] ranges; `negated` takes the complement; `noSlash` never matches '/'. */
export interface CharSet {
  readonly ranges: readonly number[];
  readonly negated: boolean;
  readonly noSlash: boolean;
}

export type Node =
  | { readonly k: 'chr'; readonly set: CharSet }
  | { readonly k: 'rep'; readonly set: CharSet }
  | { readonly k: 'seq'; readonly items: readonly Node[] }
  | { readonly k: 'alt'; readonly items: readonly Node[] }
  | { readonly k: 'opt'; readonly item: Node };

export const ANY: CharSet = { ranges: [], negated: true, noSlash: false };
export const NOT_SLASH: CharSet = { ranges: [], negated: true, noSlash: true };
const lit = (code: number): Node => ({ k: 'chr', set: { ranges: [code, code], negated: false, noSlash: false } });
export const LIT_SLASH = lit(SLASH);

/** contains: `code` is in `set`. */
export function contains(set: CharSet, code: number): boolean {
  if (set.noSlash && code === SLASH) return false;
  let inside = false;
  for (let i = 0; i < set.ranges.length; i += 2) {
    if (code >= set.ranges[i]! && code <= set.ranges[i + 1]!) {
      inside = true;
      break;
    }
  }
  return inside !== set.negated;
}

/** expandBraces turns `{a,b}` alternatives into separate globs (escapes kept). GlobError past MAX_ALTERNATIVES or on unbalanced braces. */
export function expandBraces(glob: string): string[] {
  let depth = 0;
  let open = -1;
  const commas: number[] = [];
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '\\') i++;
    else if (c === '[') {
      const end = classEnd(glob, i);
      if (end > i) i = end;
    } else if (c === '{') {
      if (depth++ === 0) {
        open = i;
        commas.length = 0;
      }
    } else if (c === ',' && depth === 1) commas.push(i);
    else if (c === '}') {
      if (depth === 0) throw new GlobError(`unbalanced '}' at ${i}`);
      if (--depth === 0 && commas.length > 0) {
        const head = glob.slice(0, open);
        const tail = glob.slice(i + 1);
        const cuts = [open, ...commas, i];
        const out: string[] = [];
        for (let j = 0; j + 1 < cuts.length; j++) {
          for (const inner of expandBraces(glob.slice(cuts[j]! + 1, cuts[j + 1]!))) {
            for (const rest of expandBraces(tail)) {
              out.push(head + inner + rest);
              if (out.length > MAX_ALTERNATIVES) throw new GlobError(`braces expand to more than ${MAX_ALTERNATIVES} alternatives`);
            }
          }
        }
        return out;
      }
    }
  }
  if (depth !== 0) throw new GlobError(`unbalanced '{' at ${open}`);
  return [glob];
}

/** classEnd is the index of the `]` closing the class opened at `start`, or -1. */
function classEnd(glob: string, start: number): number {
  let i = start + 1;
  if (glob[i] === '!' || glob[i] === '^') i++;
  if (glob[i] === ']') i++;
  for (; i < glob.length; i++) {
    if (glob[i] === '\\') i++;
    else if (glob[i] === ']') return i;
  }
  return -1;
}

function parseClass(glob: string, start: number, end: number): CharSet {
  let i = start + 1;
  const negated = glob[i] === '!' || glob[i] === '^';
  if (negated) i++;
  const ranges: number[] = [];
  const take = (): number => {
    if (glob[i] === '\\') i++;
    return glob.charCodeAt(i++);
  };
  while (i < end) {
    const lo = take();
    let hi = lo;
    if (glob[i] === '-' && i + 1 < end) {
      i++;
      hi = take();
      if (hi < lo) throw new GlobError(`range ${String.fromCharCode(lo)}-${String.fromCharCode(hi)} is backwards`);
    }
    ranges.push(lo, hi);
  }
  return { ranges, negated, noSlash: true };
}

/** parseOne parses a brace-free glob into a sequence node. */
function parseOne(glob: string): Node {
  const items: Node[] = [];
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '\\') {
      if (i + 1 >= glob.length) throw new GlobError('ends with a lone backslash');
      items.push(lit(glob.charCodeAt(++i)));
    } else if (c === '*' && glob[i + 1] === '*') {
      let j = i;
      while (glob[j] === '*') j++;
      const leading = i === 0;
      const before = leading || glob[i - 1] === '/';
      if (before && glob[j] === '/') {
        // `**/` as a whole segment: any number of whole segments, none included.
        items.push({ k: 'opt', item: { k: 'seq', items: [{ k: 'rep', set: ANY }, LIT_SLASH] } });
        i = j;
      } else {
        items.push({ k: 'rep', set: ANY });
        i = j - 1;
      }
    } else if (c === '*') {
      // A `*` that is a whole path segment matches one character at least (`a/*` does not match `a/`).
      const segment = (i === 0 || glob[i - 1] === '/') && (i + 1 === glob.length || glob[i + 1] === '/');
      if (segment) items.push({ k: 'chr', set: NOT_SLASH });
      items.push({ k: 'rep', set: NOT_SLASH });
    } else if (c === '?') {
      items.push({ k: 'chr', set: NOT_SLASH });
    } else if (c === '[') {
      const end = classEnd(glob, i);
      if (end < 0) throw new GlobError(`unclosed '[' at ${i}`);
      items.push({ k: 'chr', set: parseClass(glob, i, end) });
      i = end;
    } else if (c === ']') {
      throw new GlobError(`unmatched ']' at ${i}`);
    } else if (c === '/' && glob.slice(i) === '/**') {
      // A trailing `/**`: the directory itself, or anything below it.
      items.push({ k: 'opt', item: { k: 'seq', items: [LIT_SLASH, { k: 'rep', set: ANY }] } });
      i = glob.length;
    } else items.push(lit(glob.charCodeAt(i)));
  }
  return { k: 'seq', items };
}

/** parse reads a list of globs into one tree (their alternatives). GlobError. */
export function parse(globs: readonly string[]): Node {
  const alternatives: Node[] = [];
  for (const glob of globs) {
    if (glob.startsWith('!')) throw new GlobError("a leading '!' (negation) is not supported; use a deny rule");
    const ext = EXTGLOB.exec(glob);
    if (ext !== null) throw new GlobError(`extglob '${ext[0]}…)' is not supported`);
    for (const one of expandBraces(glob)) alternatives.push(parseOne(one));
    if (alternatives.length > MAX_ALTERNATIVES) throw new GlobError(`more than ${MAX_ALTERNATIVES} alternatives`);
  }
  return alternatives.length === 1 ? alternatives[0]! : { k: 'alt', items: alternatives };
}

/** literalOf reads a run of single-character literal nodes as text, or undefined. */
export function literalOf(nodes: readonly Node[]): string | undefined {
  let out = '';
  for (const n of nodes) {
    if (n.k !== 'chr' || n.set.negated || n.set.ranges.length !== 2 || n.set.ranges[0] !== n.set.ranges[1]) return undefined;
    out += String.fromCharCode(n.set.ranges[0]!);
  }
  return out;
}
