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

export type StringTest = (value: string) => boolean;

/** GlobError says why a glob cannot be compiled. */
export class GlobError extends Error {
  override readonly name = 'GlobError';
}

const MAX_ALTERNATIVES = 256;
const MAX_DFA_STATES = 2048;
const SLASH = 47;
const SPECIAL = /[*?[\]{}\\]/;
const EXTGLOB = /[@!+*?]\(/;

/** isLiteral: the glob has no special character, so it matches only itself. */
export function isLiteral(glob: string): boolean {
  return !SPECIAL.test(glob) && !EXTGLOB.test(glob) && !glob.startsWith('!');
}

// --- parsing ---------------------------------------------------------------

/** CharSet: sorted inclusive [lo, hi] ranges; `negated` takes the complement; `noSlash` never matches '/'. */
interface CharSet {
  readonly ranges: readonly number[];
  readonly negated: boolean;
  readonly noSlash: boolean;
}

type Node =
  | { readonly k: 'chr'; readonly set: CharSet }
  | { readonly k: 'rep'; readonly set: CharSet }
  | { readonly k: 'seq'; readonly items: readonly Node[] }
  | { readonly k: 'alt'; readonly items: readonly Node[] }
  | { readonly k: 'opt'; readonly item: Node };

const ANY: CharSet = { ranges: [], negated: true, noSlash: false };
const NOT_SLASH: CharSet = { ranges: [], negated: true, noSlash: true };
const lit = (code: number): Node => ({ k: 'chr', set: { ranges: [code, code], negated: false, noSlash: false } });
const LIT_SLASH = lit(SLASH);

function contains(set: CharSet, code: number): boolean {
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
function expandBraces(glob: string): string[] {
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

function parse(globs: readonly string[]): Node {
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

// --- fast shapes -------------------------------------------------------------

const isAnyRep = (n: Node | undefined): boolean => n?.k === 'rep' && n.set === ANY;
const isTrailingGlobstar = (n: Node | undefined): boolean => n?.k === 'opt' && n.item.k === 'seq' && n.item.items[0] === LIT_SLASH && isAnyRep(n.item.items[1]);

/** literalOf reads a run of single-character literal nodes as text, or undefined. */
function literalOf(nodes: readonly Node[]): string | undefined {
  let out = '';
  for (const n of nodes) {
    if (n.k !== 'chr' || n.set.negated || n.set.ranges.length !== 2 || n.set.ranges[0] !== n.set.ranges[1]) return undefined;
    out += String.fromCharCode(n.set.ranges[0]!);
  }
  return out;
}

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

// --- NFA and lazy DFA ----------------------------------------------------------

/** One NFA state: epsilon moves, or one move on a character of `set`. */
interface NfaState {
  readonly eps: number[];
  set: CharSet | undefined;
  next: number;
}

class Nfa {
  readonly states: NfaState[] = [];
  readonly accept: number;
  readonly start: number;

  constructor(root: Node) {
    this.start = this.add();
    this.accept = this.build(root, this.start);
  }

  private add(): number {
    this.states.push({ eps: [], set: undefined, next: -1 });
    return this.states.length - 1;
  }

  /** build wires `node` from state `from` and returns its end state. */
  private build(node: Node, from: number): number {
    switch (node.k) {
      case 'chr': {
        const to = this.add();
        const s = this.states[from]!;
        if (s.set === undefined && s.eps.length === 0) {
          s.set = node.set;
          s.next = to;
          return to;
        }
        const mid = this.add();
        s.eps.push(mid);
        this.states[mid]!.set = node.set;
        this.states[mid]!.next = to;
        return to;
      }
      case 'rep': {
        const loop = this.add();
        this.states[from]!.eps.push(loop);
        const body = this.add();
        const exit = this.add();
        this.states[loop]!.eps.push(body, exit);
        this.states[body]!.set = node.set;
        this.states[body]!.next = loop;
        return exit;
      }
      case 'seq': {
        let at = from;
        for (const item of node.items) {
          const fresh = this.add();
          this.states[at]!.eps.push(fresh);
          at = this.build(item, fresh);
        }
        return at;
      }
      case 'alt': {
        const join = this.add();
        for (const item of node.items) {
          const branch = this.add();
          this.states[from]!.eps.push(branch);
          this.states[this.build(item, branch)]!.eps.push(join);
        }
        return join;
      }
      case 'opt': {
        const join = this.add();
        const inner = this.add();
        this.states[from]!.eps.push(inner, join);
        this.states[this.build(node.item, inner)]!.eps.push(join);
        return join;
      }
    }
  }

  /** closure adds every state reachable from `seed` by epsilon moves; returns the sorted set. */
  closure(seed: Iterable<number>): number[] {
    const seen = new Set<number>();
    const stack = [...seed];
    while (stack.length > 0) {
      const s = stack.pop()!;
      if (seen.has(s)) continue;
      seen.add(s);
      for (const e of this.states[s]!.eps) stack.push(e);
    }
    return [...seen].toSorted((a, b) => a - b);
  }

  /** boundaries lists the code points where some set's membership may change. */
  boundaries(): number[] {
    const points = new Set<number>([0, SLASH, SLASH + 1]);
    for (const s of this.states) {
      if (s.set === undefined) continue;
      for (let i = 0; i < s.set.ranges.length; i += 2) points.add(s.set.ranges[i]!).add(s.set.ranges[i + 1]! + 1);
    }
    return [...points].toSorted((a, b) => a - b);
  }
}

const UNKNOWN = -1;
const DEAD = 0;
const START = 1;

/**
 * Dfa runs an NFA one character class at a time, building DFA states as
 * inputs reach them (at most MAX_DFA_STATES; past that the cache starts
 * again, which keeps matching linear, only slower).
 */
class Dfa {
  private readonly nfa: Nfa;
  /** Lower bounds of the character classes; class i holds [points[i], points[i+1]). */
  private readonly points: readonly number[];
  private readonly classes: number;
  private readonly ascii = new Uint16Array(128);
  private readonly startSet: number[];
  private sets: number[][] = [];
  private ids = new Map<string, number>();
  private accepting: number[] = [];
  private table = new Int32Array(0);

  constructor(nfa: Nfa) {
    this.nfa = nfa;
    this.points = nfa.boundaries();
    this.classes = this.points.length;
    for (let c = 0; c < 128; c++) this.ascii[c] = this.classAt(c);
    this.startSet = nfa.closure([nfa.start]);
    this.reset();
  }

  /** reset empties the cache; state DEAD (0) and the start state (START, 1) always exist. */
  private reset(): void {
    this.sets = [];
    this.ids = new Map();
    this.accepting = [];
    this.table = new Int32Array(64 * this.classes).fill(UNKNOWN);
    this.stateOf([]);
    this.stateOf(this.startSet);
  }

  private classAt(code: number): number {
    const points = this.points;
    let lo = 0;
    let hi = points.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (points[mid]! <= code) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  private stateOf(set: number[]): number {
    const key = set.join(',');
    const known = this.ids.get(key);
    if (known !== undefined) return known;
    const id = this.sets.length;
    this.sets.push(set);
    this.ids.set(key, id);
    this.accepting.push(set.includes(this.nfa.accept) ? 1 : 0);
    if ((id + 1) * this.classes > this.table.length) {
      const grown = new Int32Array(this.table.length * 2).fill(UNKNOWN);
      grown.set(this.table);
      this.table = grown;
    }
    return id;
  }

  /** step computes (and caches) the move of DFA state `from` on class `cls`. */
  private step(from: number, cls: number): number {
    const code = this.points[cls]!;
    const next: number[] = [];
    for (const s of this.sets[from]!) {
      const st = this.nfa.states[s]!;
      if (st.set !== undefined && contains(st.set, code)) next.push(st.next);
    }
    const to = next.length === 0 ? DEAD : this.stateOf(this.nfa.closure(next));
    this.table[from * this.classes + cls] = to;
    return to;
  }

  test(value: string): boolean {
    let state = START;
    const n = value.length;
    const classes = this.classes;
    const ascii = this.ascii;
    let table = this.table;
    for (let i = 0; i < n; i++) {
      const c = value.charCodeAt(i);
      const cls = c < 128 ? ascii[c]! : this.classAt(c);
      let next = table[state * classes + cls]!;
      if (next === UNKNOWN) {
        if (this.sets.length >= MAX_DFA_STATES) {
          // Start the cache again from the current state's NFA set; the input so far is not read again.
          const current = this.sets[state]!;
          this.reset();
          state = this.stateOf(current);
        }
        next = this.step(state, cls);
        table = this.table;
      }
      if (next === DEAD) return false;
      state = next;
    }
    return this.accepting[state] === 1;
  }
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
    const dfa = new Dfa(new Nfa(slow.length === 1 ? slow[0]! : { k: 'alt', items: slow }));
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
