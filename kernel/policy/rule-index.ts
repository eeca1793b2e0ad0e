/**
 * The finer rule index: each rule is filed under one literal a request must
 * carry for it to match — the directory its path globs lie in (a trie over
 * segments, `${agent}` matching the caller's id), an argument's exact value,
 * `/`-bounded glob prefix or first characters (an anchored regex's or a
 * glob's literal head: `^git (status|log)`, `rm *`), a literal label, or a
 * single agent id — and each such set is split once more by the label most
 * of its rules name. Rules with no such literal are always tried.
 */
import type { CompiledRule } from './compile.ts';
import { anchoredPrefix, argText, isLiteral, literalHead, MATCH_LIMIT } from './matchers.ts';
import { AGENT_PLACEHOLDER as AGENT_VAR } from './placeholders.ts';
import { isPathGlob, pathSpelling } from './path-spelling.ts';
import type { PolicyRequest } from '../../abi/policy-request.ts';
import type { PolicyRule } from './schema.ts';

const GLOB_START = /[*?[\]{}()!+@\\]/;
const AGENT_SEGMENT = '@';

/** literalPrefix is a glob's text before its first special character. */
function literalPrefix(glob: string): string {
  const at = glob.search(GLOB_START);
  return at < 0 ? glob : glob.slice(0, at);
}

/** literalEnd is where a path glob's literal text ends: its first special character, an `${agent}` read as literal. */
function literalEnd(glob: string): number {
  for (let i = 0; i < glob.length; i++) {
    if (glob.startsWith(AGENT_VAR, i)) i += AGENT_VAR.length - 1;
    else if (GLOB_START.test(glob[i]!)) return i;
  }
  return glob.length;
}

/**
 * pathSegments are the segments of the directory every path a glob matches
 * lies in (its literal prefix cut at a `/`), as `path.split('/').slice(1)`
 * gives them (empty ones kept), with an `${agent}` segment written `@` (no
 * literal segment can be `@`: it starts a pattern); undefined when there is
 * none to index by.
 */
function pathSegments(glob: string): string[] | undefined {
  const end = literalEnd(glob);
  const slash = glob.lastIndexOf('/', end - 1);
  const cut = end === glob.length ? glob : slash < 0 ? '' : glob.slice(0, slash);
  const segments = cut.split('/').slice(1);
  if (cut === '' || segments.some((seg) => seg.includes(AGENT_VAR) && seg !== AGENT_VAR)) return undefined;
  return segments.map((seg) => (seg === AGENT_VAR ? AGENT_SEGMENT : seg));
}

/**
 * keyableId: an agent id the path trie can compare with a segment, in the
 * kernel's own id format (letters and digits, then `.`, `_` or `-` too: no
 * glob character and no `/`). Any other id (an operator's question through
 * /v1/evaluate may name one) is pasted into `${agent}` globs as a pattern, so
 * its requests try every rule rather than the trie's.
 */
function keyableId(id: string): boolean {
  if (id.length === 0) return false;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    const alnum = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
    if (!alnum && (i === 0 || (c !== 46 && c !== 95 && c !== 45))) return false;
  }
  return true;
}

/** argGlobKey is the literal prefix every value a glob matches starts with, followed by a `/` or (after a trailing `/**`) nothing. */
function argGlobKey(glob: string): string | undefined {
  const prefix = literalPrefix(glob);
  const slash = prefix.lastIndexOf('/');
  if (prefix === glob || slash <= 0) return undefined;
  return prefix.slice(0, slash);
}

/**
 * startKey is the literal text every value an argument pattern matches
 * starts with (a regex's when it is anchored, a glob's literal head), or
 * undefined when there is none: the same text regexTest checks before it runs
 * a regex, and a glob cannot match without.
 */
function startKey(pattern: { readonly glob?: string; readonly regex?: string }): string | undefined {
  let head = pattern.regex !== undefined ? anchoredPrefix(pattern.regex) : '';
  if (pattern.glob !== undefined) {
    // A trailing `/**` also matches the text before it (`a/**` matches `a`), and one can follow any '/' the head ends with (braces make one: `a/{**,x}`), so the head stops before that '/'.
    head = literalHead(pattern.glob);
    if (head.endsWith('/')) head = head.slice(0, -1);
  }
  return head === '' ? undefined : head;
}

/** IndexKey is one literal a request must carry for a rule to match. */
type IndexKey =
  | { readonly kind: 'path'; readonly segments: readonly string[] }
  | { readonly kind: 'equals'; readonly arg: string; readonly value: string }
  /** `path`: the literal comes from a path-like glob (path-spelling.ts), which a path not in canonical form matches if the rule denies. */
  | { readonly kind: 'prefix' | 'starts'; readonly arg: string; readonly value: string; readonly path: boolean }
  | { readonly kind: 'label'; readonly key: string; readonly value: string }
  | { readonly kind: 'agent'; readonly id: string };

/**
 * indexKey picks one literal a request must carry for `rule` to match — a
 * path directory, an argument's value or prefix, a label, an agent id — so
 * the rule is only tried for requests that carry it. Undefined: always tried.
 */
function indexKey(rule: PolicyRule): IndexKey | undefined {
  if (rule.paths !== undefined) {
    // Segments hold no '/', so joined they compare as the lists do.
    const keys = rule.paths.map(pathSegments);
    const first = keys[0]?.join('/');
    if (first !== undefined && keys.every((k) => k !== undefined && k.join('/') === first)) return { kind: 'path', segments: keys[0]! };
  }
  for (const p of rule.args ?? []) {
    if (p.equals !== undefined) return { kind: 'equals', arg: p.arg, value: p.equals };
    const prefix = p.glob === undefined ? undefined : argGlobKey(p.glob);
    if (prefix !== undefined) return { kind: 'prefix', arg: p.arg, value: prefix, path: isPathGlob(p.glob!) };
  }
  for (const p of rule.args ?? []) {
    const head = startKey(p);
    if (head !== undefined) return { kind: 'starts', arg: p.arg, value: head, path: p.glob !== undefined && isPathGlob(p.glob) };
  }
  for (const [key, value] of Object.entries(rule.labels ?? {})) if (isLiteral(value)) return { kind: 'label', key, value };
  if (rule.agents?.length === 1 && isLiteral(rule.agents[0]!)) return { kind: 'agent', id: rule.agents[0]! };
  return undefined;
}

/**
 * RuleSet is the rules under one index key, split once more by the label
 * most of them name literally (teams, tenants…), so a request only tries
 * the rules for its own label value.
 */
class RuleSet {
  private readonly pending: CompiledRule[] = [];
  private plain: readonly CompiledRule[] = [];
  private labelKey: string | undefined;
  private byLabel = new Map<string, CompiledRule[]>();

  push(rule: CompiledRule): void {
    this.pending.push(rule);
  }

  /** seal chooses the splitting label; call once, after every push. */
  seal(): this {
    const counts = new Map<string, number>();
    for (const r of this.pending) for (const [k, v] of Object.entries(r.rule.labels ?? {})) if (isLiteral(v)) counts.set(k, (counts.get(k) ?? 0) + 1);
    let best: string | undefined;
    for (const [k, n] of counts) if (n >= 2 && (best === undefined || n > counts.get(best)!)) best = k;
    this.labelKey = best;
    const plain: CompiledRule[] = [];
    for (const r of this.pending) {
      const value = best === undefined ? undefined : r.rule.labels?.[best];
      if (value !== undefined && isLiteral(value)) listIn(this.byLabel, value).push(r);
      else plain.push(r);
    }
    this.plain = plain;
    return this;
  }

  /** addTo appends the rules a request with `labels` can match. */
  addTo(out: CompiledRule[], labels: Readonly<Record<string, string>> | undefined): void {
    for (const rule of this.plain) out.push(rule);
    if (this.labelKey === undefined || labels === undefined || !Object.hasOwn(labels, this.labelKey)) return;
    const list = this.byLabel.get(labels[this.labelKey]!);
    if (list !== undefined) for (const rule of list) out.push(rule);
  }
}

/**
 * PathNode is a trie over path segments: `children` by literal segment, and
 * `agent` for an `${agent}` segment (the calling agent's id), written `@`.
 * A node with few children also lists them in `few`, compared with the
 * request's segment in place: no string is cut from the path and hashed.
 */
interface PathNode {
  readonly rules: RuleSet;
  readonly children: Map<string, PathNode>;
  readonly few: { readonly segment: string; readonly node: PathNode }[];
  agent: PathNode | undefined;
}

/** The most children a trie node compares one by one; past it, the request's segment is looked up in `children`. */
const FEW_CHILDREN = 8;

/** isSegment: `path` from `from` to `end` is the segment `text`. */
function isSegment(path: string, from: number, end: number, text: string): boolean {
  if (end - from !== text.length) return false;
  for (let i = 0; i < text.length; i++) if (path.charCodeAt(from + i) !== text.charCodeAt(i)) return false;
  return true;
}

/**
 * ArgIndex holds the rules keyed on argument `name`: by exact value, by a
 * `/`-bounded prefix (with its lengths), and by the first `startLength`
 * characters of the literal text their values start with (the shortest such
 * text's length, so one cut of the value finds them all). A value longer
 * than MATCH_LIMIT is not read by a glob or regex and matches every deny
 * rule that names the argument (compile.ts), so it takes all of `starting`.
 * A path-like value not in canonical form (path-spelling.ts) is not read by
 * a path glob and matches every deny rule keyed by one, so it takes all of
 * `pathDenies`.
 */
interface ArgIndex {
  readonly name: string;
  readonly equals: Map<string, RuleSet>;
  readonly prefixes: Map<string, RuleSet>;
  readonly lengths: number[];
  readonly starts: Map<string, RuleSet>;
  startLength: number;
  readonly starting: CompiledRule[];
  readonly pathDenies: CompiledRule[];
}

/** Index is the rules for one syscall and tool: those always tried, and those tried for a literal the request carries. */
export interface Index {
  readonly all: readonly CompiledRule[];
  readonly always: readonly CompiledRule[];
  readonly paths: PathNode | undefined;
  /** Some path rules are keyed under an `${agent}` segment. */
  readonly agentKeyed: boolean;
  readonly args: readonly ArgIndex[];
  readonly labels: ReadonlyMap<string, Map<string, RuleSet>>;
  readonly agents: ReadonlyMap<string, RuleSet>;
}

/** listIn is the list `map` holds under `key`, made empty on first use. */
export function listIn<K, V>(map: Map<K, V[]>, key: K): V[] {
  let list = map.get(key);
  if (list === undefined) map.set(key, (list = []));
  return list;
}

function setIn<K>(map: Map<K, RuleSet>, key: K, sets: RuleSet[]): RuleSet {
  let set = map.get(key);
  if (set === undefined) {
    map.set(key, (set = new RuleSet()));
    sets.push(set);
  }
  return set;
}

export function indexOf(rules: readonly CompiledRule[]): Index {
  const always: CompiledRule[] = [];
  const args = new Map<string, ArgIndex>();
  const labels = new Map<string, Map<string, RuleSet>>();
  const agents = new Map<string, RuleSet>();
  const sets: RuleSet[] = [];
  const node = (): PathNode => {
    const set = new RuleSet();
    sets.push(set);
    return { rules: set, children: new Map<string, PathNode>(), few: [], agent: undefined };
  };
  let paths: PathNode | undefined;
  let agentKeyed = false;
  const starts: { arg: ArgIndex; head: string; rule: CompiledRule }[] = [];
  for (const rule of rules) {
    const key = indexKey(rule.rule);
    if (key === undefined) {
      always.push(rule);
    } else if (key.kind === 'path') {
      let at: PathNode = (paths ??= node());
      for (const seg of key.segments) {
        if (seg === AGENT_SEGMENT) {
          agentKeyed = true;
          at = at.agent ??= node();
          continue;
        }
        let next = at.children.get(seg);
        if (next === undefined) {
          at.children.set(seg, (next = node()));
          at.few.push({ segment: seg, node: next });
        }
        at = next;
      }
      at.rules.push(rule);
    } else if (key.kind === 'equals' || key.kind === 'prefix' || key.kind === 'starts') {
      let arg = args.get(key.arg);
      if (arg === undefined) args.set(key.arg, (arg = { name: key.arg, equals: new Map(), prefixes: new Map(), lengths: [], starts: new Map(), startLength: 0, starting: [], pathDenies: [] }));
      if (key.kind !== 'equals' && key.path && rule.effect === 'deny') arg.pathDenies.push(rule);
      if (key.kind === 'equals') setIn(arg.equals, key.value, sets).push(rule);
      else if (key.kind === 'starts') {
        arg.starting.push(rule);
        starts.push({ arg, head: key.value, rule });
      } else {
        setIn(arg.prefixes, key.value, sets).push(rule);
        if (!arg.lengths.includes(key.value.length)) arg.lengths.push(key.value.length);
      }
    } else if (key.kind === 'label') {
      let byValue = labels.get(key.key);
      if (byValue === undefined) labels.set(key.key, (byValue = new Map()));
      setIn(byValue, key.value, sets).push(rule);
    } else if (key.kind === 'agent') setIn(agents, key.id, sets).push(rule);
  }
  // Rules keyed by their first characters are filed once every such head of their argument is known (the shortest sets the cut).
  for (const { arg, head } of starts) arg.startLength = arg.startLength === 0 ? head.length : Math.min(arg.startLength, head.length);
  for (const { arg, head, rule } of starts) setIn(arg.starts, head.slice(0, arg.startLength), sets).push(rule);
  for (const set of sets) set.seal();
  return { all: rules, always, paths, agentKeyed, args: [...args.values()], labels, agents };
}

/**
 * pathRules adds the rules of every trie node on `path`'s way down, from the
 * segment starting at `from`; a segment that is the caller's id also takes
 * the `${agent}` branch (a glob's literal `@` starts a pattern, so it never
 * keys a node). The segments are those of `path.split('/').slice(1)`, read
 * in place: a decision allocates no array for them.
 */
function pathRules(node: PathNode, path: string, from: number, request: PolicyRequest, out: CompiledRule[]): void {
  node.rules.addTo(out, request.labels);
  if (from > path.length) return;
  const slash = path.indexOf('/', from);
  const end = slash < 0 ? path.length : slash;
  const count = node.children.size;
  if (count > FEW_CHILDREN) {
    const literal = node.children.get(path.slice(from, end));
    if (literal !== undefined) pathRules(literal, path, end + 1, request, out);
  } else if (count > 0) {
    for (const child of node.few) {
      if (!isSegment(path, from, end, child.segment)) continue;
      pathRules(child.node, path, end + 1, request, out);
      break;
    }
  }
  const mine = node.agent;
  if (mine !== undefined && isSegment(path, from, end, request.agentId)) pathRules(mine, path, end + 1, request, out);
}

/** keyedRules adds the rules keyed on a literal `request` carries. */
function keyedRules(index: Index, request: PolicyRequest, out: CompiledRule[]): void {
  const labels = request.labels;
  if (index.paths !== undefined && request.path !== undefined) {
    // The first segment starts after the first '/'; a path without one has none.
    const start = request.path.indexOf('/') + 1;
    pathRules(index.paths, request.path, start === 0 ? request.path.length + 1 : start, request, out);
  }
  if (index.args.length > 0 && request.args !== undefined) {
    for (const arg of index.args) {
      if (!Object.hasOwn(request.args, arg.name)) continue;
      const text = argText(request.args[arg.name]);
      if (arg.equals.size > 0) arg.equals.get(text)?.addTo(out, labels);
      // A path not in canonical form matches every deny keyed by a path glob, and no other rule a prefix keys (each is a path glob's, as the value starts with '/').
      // A deny keyed by a path glob's first characters is then listed twice, which changes nothing.
      if (arg.pathDenies.length > 0 && pathSpelling(text) !== undefined) for (const rule of arg.pathDenies) out.push(rule);
      // The prefix and a '/', or the prefix alone: a trailing `/**` also matches the text before it (`https://h/**` matches `https://h`).
      else for (const length of arg.lengths) if (text.length === length || (text.length > length && text.charCodeAt(length) === 47 /* '/' */)) arg.prefixes.get(text.slice(0, length))?.addTo(out, labels);
      if (arg.startLength > 0) {
        if (text.length > MATCH_LIMIT) for (const rule of arg.starting) out.push(rule);
        else if (text.length >= arg.startLength) arg.starts.get(text.slice(0, arg.startLength))?.addTo(out, labels);
      }
    }
  }
  if (index.labels.size > 0 && labels !== undefined) {
    for (const key in labels) index.labels.get(key)?.get(labels[key]!)?.addTo(out, labels);
  }
  if (index.agents.size > 0) index.agents.get(request.agentId)?.addTo(out, labels);
}

/** candidatesFrom returns the rules of `index` that can match `request`, in no particular order (a deny rule may be listed twice). */
export function candidatesFrom(index: Index, request: PolicyRequest): readonly CompiledRule[] {
  if (index.agentKeyed && !keyableId(request.agentId)) return index.all;
  const found: CompiledRule[] = [];
  keyedRules(index, request, found);
  if (found.length === 0) return index.always;
  for (const rule of index.always) found.push(rule);
  return found;
}
