/**
 * Running a parsed glob: a Thompson NFA, run as a DFA built lazily over
 * character classes (the code points where some set's membership changes
 * split the alphabet into classes, so a step is one table lookup), at most
 * MAX_DFA_STATES cached at a time. Linear in the input whatever the glob,
 * and bounded: at most STEP_BUDGET NFA states visited per match.
 */
import { contains, SLASH, type CharSet, type Node } from './glob-parse.ts';

const MAX_DFA_STATES = 2048;

/** MAX_NFA_STATES bounds one automaton (one rule's list of globs) at load: each uncached step may visit them all. */
export const MAX_NFA_STATES = 8192;

/**
 * STEP_BUDGET is how many NFA states one match (or all the matches of one
 * policy decision) may visit building DFA moves (cached moves cost nothing):
 * ~15 ms here. A glob whose DFA the input keeps thrashing (`**a` then twenty
 * `?`, 2^20 states) gives up there rather than hold ring 0; the engine then
 * denies the request (fail closed).
 */
export const STEP_BUDGET = 100_000;

/** MatchCostError: a match went past its step budget. */
export class MatchCostError extends Error {
  override readonly name = 'MatchCostError';
}

/**
 * The steps left to the matches of the decision under way (between
 * openBudget and closeBudget, or within withinBudget): they share one
 * budget. Outside one, each match starts with STEP_BUDGET.
 */
let left = STEP_BUDGET;
let open = 0;

/** openBudget gives the matches that follow one budget of `steps`, until closeBudget with what it returns. */
export function openBudget(steps: number): number {
  const outer = left;
  left = steps;
  open++;
  return outer;
}

/** closeBudget gives back the budget that was open before openBudget (`outer`, what it returned). */
export function closeBudget(outer: number): void {
  left = outer;
  open--;
}

/** withinBudget runs `decide` with one budget of `steps` for all the matches it makes. */
export function withinBudget<T>(steps: number, decide: () => T): T {
  const outer = openBudget(steps);
  try {
    return decide();
  } finally {
    closeBudget(outer);
  }
}

/** One NFA state: epsilon moves, or one move on a character of `set`. */
interface NfaState {
  readonly eps: number[];
  set: CharSet | undefined;
  next: number;
}

export class Nfa {
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
export class Dfa {
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
    if (open === 0) left = STEP_BUDGET;
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
        left -= this.sets[state]!.length + 1;
        if (left < 0) throw new MatchCostError(`glob matching went past its budget of automaton steps at character ${i} of ${n}`);
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
