/**
 * Globs compiled to matchers that run in time linear in the input, whatever
 * the pattern: a glob becomes a Thompson NFA, run as a DFA built lazily over
 * character classes (one table lookup per character), with native string
 * search for the common shapes (`/a/**`, `**.txt`, `** x **`). No pattern
 * and no input can make matching backtrack.
 *
 * Syntax (what every policy, capability and tool list glob means):
 *   *        any run of characters but `/` (line terminators included); a `*`
 *            that is a whole path segment matches one character at least
 *   **       any run of characters, `/` and line terminators included; when it is
 *            a whole path segment (at the start followed by a slash, between two
 *            slashes, or a trailing slash-star-star) it also matches no segment
 *            at all: `a/` `**` `/b` matches `a/b`, and `/a/` `**` matches `/a`
 *   ?        one character but `/`
 *   [abc] [a-z] [!a] [^a]    one character of (or not of) a set, never `/`
 *   {a,b}    either alternative (nested; at most 256 alternatives in all)
 *   \x       the character x
 * Everything else is itself. Extglobs (`@(…)`, `!(…)`, `+(…)`, `*(…)`,
 * `?(…)`) and a leading `!` are refused rather than read another way.
 */
import { Dfa, MAX_NFA_STATES, Nfa } from './glob-automaton.ts';
import { ANY, EXTGLOB, GlobError, LIT_SLASH, literalOf, parse, type Node } from './glob-parse.ts';

export { closeBudget, MatchCostError, openBudget, STEP_BUDGET, withinBudget } from './glob-automaton.ts';
export { GlobError } from './glob-parse.ts';

export type StringTest = (value: string) => boolean;

const SPECIAL = /[*?[\]{}\\]/;

/** escapeGlob writes `text` as a glob whose special characters stand for themselves. */
export function escapeGlob(text: string): string {
  return text.replace(/[*?[\]{}\\]/g, '\\$&');
}

/** isLiteral: the glob has no special character, so it matches only itself. */
export function isLiteral(glob: string): boolean {
  return !SPECIAL.test(glob) && !EXTGLOB.test(glob) && !glob.startsWith('!');
}

const isAnyRep = (n: Node | undefined): boolean => n?.k === 'rep' && n.set === ANY;
const isTrailingGlobstar = (n: Node | undefined): boolean => n?.k === 'opt' && n.item.k === 'seq' && n.item.items[0] === LIT_SLASH && isAnyRep(n.item.items[1]);

/** fastTest recognises `L**`, `L/**`, `**L`, `**L**` and answers with native string search. */
function fastTest(node: Node): StringTest | undefined {
  if (node.k !== 'seq') return undefined;
  const items = node.items;
  const last = items.length - 1;
  if (last < 1) return undefined;
  if (isAnyRep(items[last])) {
    if (isAnyRep(items[0])) {
      const middle = literalOf(items.slice(1, last));
      return middle === undefined ? undefined : (v) => v.includes(middle);
    }
    const head = literalOf(items.slice(0, last));
    return head === undefined ? undefined : (v) => v.startsWith(head);
  }
  if (isTrailingGlobstar(items[last])) {
    const head = literalOf(items.slice(0, last));
    if (head === undefined) return undefined;
    const dir = `${head}/`;
    return (v) => v === head || v.startsWith(dir);
  }
  if (isAnyRep(items[0])) {
    const tail = literalOf(items.slice(1));
    return tail === undefined ? undefined : (v) => v.endsWith(tail);
  }
  return undefined;
}

/**
 * requiredLiteral is the longest run of literal characters every match of
 * `node` must contain (in a brace-free glob), or '' if it has none worth
 * searching for: a value without it cannot match, which native string
 * search finds out far faster than the automaton.
 */
function requiredLiteral(node: Node): string {
  if (node.k !== 'seq') return '';
  let best = '';
  let run = '';
  for (const item of node.items) {
    const text = literalOf([item]);
    if (text !== undefined) {
      run += text;
      if (run.length > best.length) best = run;
    } else run = '';
  }
  return best.length >= 2 ? best : '';
}

/**
 * compileGlobs compiles a list of globs into one test (true when any
 * matches). GlobError for a glob it cannot compile.
 */
export function compileGlobs(globs: readonly string[]): StringTest {
  const literals = new Set<string>();
  const rest: string[] = [];
  for (const g of globs) {
    if (isLiteral(g)) literals.add(g);
    else rest.push(g);
  }
  if (rest.length === 0) return literals.size === 1 ? ((only) => (v: string) => v === only)([...literals][0]!) : (v) => literals.has(v);
  const fast: StringTest[] = [];
  const slow: Node[] = [];
  for (const g of rest) {
    const node = parse([g]);
    const quick = fastTest(node);
    if (quick !== undefined) fast.push(quick);
    else slow.push(node);
  }
  let automaton: StringTest | undefined;
  if (slow.length > 0) {
    const nfa = new Nfa(slow.length === 1 ? slow[0]! : { k: 'alt', items: slow });
    if (nfa.states.length > MAX_NFA_STATES) throw new GlobError(`is too complex to match in bounded time (${nfa.states.length} automaton states, more than ${MAX_NFA_STATES}): split the list across rules or simplify it`);
    const dfa = new Dfa(nfa);
    // Each alternative needs its literal; a value holding none of them is decided without the automaton.
    const needs = slow.map(requiredLiteral);
    automaton = needs.every((l) => l !== '') ? (v) => needs.some((l) => v.includes(l)) && dfa.test(v) : (v) => dfa.test(v);
  }
  if (literals.size === 0 && automaton === undefined && fast.length === 1) return fast[0]!;
  if (literals.size === 0 && fast.length === 0 && automaton !== undefined) return automaton;
  return (v) => literals.has(v) || fast.some((t) => t(v)) || (automaton !== undefined && automaton(v));
}

/** compileGlob compiles one glob. GlobError if it cannot. */
export function compileGlob(glob: string): StringTest {
  return compileGlobs([glob]);
}
