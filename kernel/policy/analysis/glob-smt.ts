/**
 * Globs as SMT: the glob's own parse tree (glob-parse.ts, the one the engine
 * compiles) written as an SMT regular expression, exactly. A path glob with
 * `${agent}` is written over the agent variable: the text before the last
 * placeholder must then be literal (`/agent/${agent}/mem/**` is), which
 * makes the match a prefix test and a regex on the rest; any other shape is
 * left to the caller to over-approximate.
 */
import { AGENT_PLACEHOLDER } from '../placeholders.ts';
import { parse, SLASH, type CharSet, type Node } from '../glob-parse.ts';
import { complement, concat, normalize, setRegex, union, without } from './char-sets.ts';
import { lit } from './smt.ts';

/** A private-use character stands for the agent id while a templated glob is parsed: it parses as any agent id's characters do (a literal, never '/'). */
const AGENT_MARK = 0xe000;

function setOf(set: CharSet): string {
  let ranges = set.negated ? complement(set.ranges) : normalize(set.ranges);
  if (set.noSlash) ranges = without(ranges, SLASH);
  return setRegex(ranges);
}

/** nodeRegex writes a parsed glob as an SMT regex, merging runs of literal characters. */
function nodeRegex(node: Node): string {
  switch (node.k) {
    case 'chr':
      return setOf(node.set);
    case 'rep':
      return `(re.* ${setOf(node.set)})`;
    case 'opt':
      return `(re.opt ${nodeRegex(node.item)})`;
    case 'alt':
      return union(node.items.map(nodeRegex));
    case 'seq': {
      const parts: string[] = [];
      let run = '';
      for (const item of node.items) {
        const c = single(item);
        if (c !== undefined) {
          run += String.fromCharCode(c);
          continue;
        }
        if (run !== '') parts.push(`(str.to_re ${lit(run)})`);
        run = '';
        parts.push(nodeRegex(item));
      }
      if (run !== '') parts.push(`(str.to_re ${lit(run)})`);
      return concat(parts);
    }
  }
}

/** single is the one character a node matches, if it matches exactly one. */
function single(node: Node): number | undefined {
  if (node.k !== 'chr' || node.set.negated || node.set.ranges.length !== 2 || node.set.ranges[0] !== node.set.ranges[1]) return undefined;
  return node.set.ranges[0];
}

/** globsRegex writes a list of globs (any may match) as one SMT regex. GlobError as the engine would. */
export function globsRegex(globs: readonly string[]): string {
  return nodeRegex(parse(globs));
}

/** globIn is the SMT formula "`subject` matches one of `globs`". */
export function globIn(subject: string, globs: readonly string[]): string {
  return `(str.in_re ${subject} ${globsRegex(globs)})`;
}

/**
 * Templated is one alternative of a `${agent}` path glob: either a plain
 * regex (no placeholder in it), or a head (literal texts and the agent id,
 * in order) that the path must start with and a regex for the rest.
 */
export type Templated = { readonly regex: string } | { readonly head: readonly (string | null)[]; readonly rest: string };

/**
 * templatedParts cuts `${agent}` globs into their alternatives (see
 * Templated; null in a head stands for the agent id), or undefined when a
 * glob's shape cannot be written exactly (text before its last placeholder
 * that is not literal, or a placeholder inside a character class).
 */
export function templatedParts(globs: readonly string[]): Templated[] | undefined {
  const mark = String.fromCharCode(AGENT_MARK);
  if (globs.some((g) => g.includes(mark))) return undefined;
  const tree = parse(globs.map((g) => g.replaceAll(AGENT_PLACEHOLDER, mark)));
  const alternatives = tree.k === 'alt' ? tree.items : [tree];
  const out: Templated[] = [];
  for (const alt of alternatives) {
    const items = alt.k === 'seq' ? alt.items : [alt];
    let last = -1;
    items.forEach((n, i) => {
      if (single(n) === AGENT_MARK) last = i;
    });
    if (last < 0) {
      if (hasMark(alt)) return undefined;
      out.push({ regex: nodeRegex(alt) });
      continue;
    }
    const head: (string | null)[] = [];
    let run = '';
    for (const n of items.slice(0, last + 1)) {
      const c = single(n);
      if (c === undefined) return undefined;
      if (c === AGENT_MARK) {
        if (run !== '') head.push(run);
        head.push(null);
        run = '';
      } else run += String.fromCharCode(c);
    }
    const rest: Node = { k: 'seq', items: items.slice(last + 1) };
    if (hasMark(rest)) return undefined;
    out.push({ head, rest: nodeRegex(rest) });
  }
  return out;
}

/** hasMark: the placeholder's character is written in one of the node's character sets (a `${agent}` inside a class). */
function hasMark(node: Node): boolean {
  switch (node.k) {
    case 'chr':
    case 'rep': {
      const r = node.set.ranges;
      for (let i = 0; i < r.length; i += 2) if (r[i]! <= AGENT_MARK && AGENT_MARK <= r[i + 1]!) return true;
      return false;
    }
    case 'opt':
      return hasMark(node.item);
    case 'alt':
    case 'seq':
      return node.items.some(hasMark);
  }
}
