/**
 * Claims about a policy, in a small query form, and their proof:
 *
 *   claim     := ('always' | 'never') effect ('or' effect)* ['when' condition ('and' condition)*]
 *   effect    := allow | deny | require_approval
 *   condition := ['not'] atom
 *   atom      := syscall (= NAME | in [NAME, …])   access (= | in) read|write|none
 *              | agent OP VALUE   tool OP VALUE   path OP VALUE
 *              | label KEY OP VALUE   arg NAME OP VALUE
 *              | capability NAME   lineage = root|child   flow vfs-to-exec
 *              | trust (< | <= | > | >=) N   tokens (< | <= | > | >=) N
 *   OP        := '=' (the exact text) | '~' (a glob, as in rules) | contains
 *   VALUE     := a word, or a JSON string in double quotes
 *
 * `always deny when …`: every request the conditions describe is denied;
 * `never allow when …`: none of them is allowed. A condition on a field a
 * request does not carry (a label, an argument, a path, a tool) is false,
 * so `not arg url ~ "https://*.example.com/**"` includes requests without
 * a url. Proved means the solver found no counterexample in any slice of
 * the requests (sound: the model admits at least what the engine does); a
 * counterexample is a request the engine itself decided against the claim.
 */
import { globIn, templatedParts } from './glob-smt.ts';
import { lit } from './smt.ts';
import { ACCESS, and, EFFECTS, or, VARS, type EffectName, type RequestModel } from './model.ts';
import { compileGlob } from '../glob.ts';
import { argText } from '../matchers.ts';
import { AGENT_PLACEHOLDER, placeholderProblem } from '../placeholders.ts';
import type { Witness } from './witness.ts';

/** ClaimError: the claim does not parse; the message says where and what was expected. */
export class ClaimError extends Error {
  override readonly name = 'ClaimError';
}

type Op = '=' | '~' | 'contains';
type Compare = '<' | '<=' | '>' | '>=';

export type Atom =
  | { readonly k: 'syscall'; readonly names: readonly string[] }
  | { readonly k: 'access'; readonly values: readonly (typeof ACCESS)[number][] }
  | { readonly k: 'text'; readonly field: 'agent' | 'tool' | 'path'; readonly op: Op; readonly value: string }
  | { readonly k: 'label'; readonly key: string; readonly op: Op; readonly value: string }
  | { readonly k: 'arg'; readonly name: string; readonly op: Op; readonly value: string }
  | { readonly k: 'capability'; readonly name: string }
  | { readonly k: 'lineage'; readonly child: boolean }
  | { readonly k: 'flow' }
  | { readonly k: 'number'; readonly field: 'trust' | 'tokens'; readonly cmp: Compare; readonly value: number };

export interface Condition {
  readonly not: boolean;
  readonly atom: Atom;
}

export interface Claim {
  readonly text: string;
  readonly quantifier: 'always' | 'never';
  readonly effects: readonly EffectName[];
  readonly conditions: readonly Condition[];
}

const TOKEN = /\s*("(?:[^"\\]|\\.)*"|<=|>=|[<>=~[\],]|[^\s"<>=~[\],]+)/y;

function tokens(text: string): { text: string; at: number }[] {
  const out: { text: string; at: number }[] = [];
  let at = 0;
  while (at < text.length) {
    TOKEN.lastIndex = at;
    const m = TOKEN.exec(text);
    // A failed sticky match sets lastIndex back to 0: where it stopped is `at`.
    if (m === null || m[1] === undefined) throw new ClaimError(`cannot read the claim at character ${at + 1}: ${text.slice(at, at + 20)}`);
    out.push({ text: m[1], at: m.index + m[0].length - m[1].length });
    at = TOKEN.lastIndex;
  }
  return out;
}

/** parseClaim reads a claim; ClaimError naming the word where it stopped and what it expected. */
export function parseClaim(given: string): Claim {
  const text = given.trim();
  const ts = tokens(text);
  let i = 0;
  const peek = () => ts[i]?.text;
  const fail = (wanted: string): never => {
    const t = ts[i];
    throw new ClaimError(t === undefined ? `the claim ends where ${wanted} was expected` : `expected ${wanted} at character ${t.at + 1}, found '${t.text}'`);
  };
  const word = (wanted: string): string => {
    const t = ts[i];
    if (t === undefined || /^[<>=~[\],]/.test(t.text)) return fail(wanted);
    i++;
    if (t.text.startsWith('"')) {
      try {
        return JSON.parse(t.text) as string;
      } catch {
        i--;
        return fail(`${wanted} (a JSON string)`);
      }
    }
    return t.text;
  };
  const expect = (...options: string[]): string => {
    const t = peek();
    if (t === undefined || !options.includes(t)) return fail(options.map((o) => `'${o}'`).join(' or '));
    i++;
    return t;
  };
  const list = (wanted: string): string[] => {
    expect('[');
    const out = [word(wanted)];
    while (peek() === ',') {
      i++;
      out.push(word(wanted));
    }
    expect(']');
    return out;
  };
  const op = (): Op => expect('=', '~', 'contains') as Op;
  const quantifier = expect('always', 'never') as Claim['quantifier'];
  const effects: EffectName[] = [expect(...EFFECTS) as EffectName];
  while (peek() === 'or') {
    i++;
    effects.push(expect(...EFFECTS) as EffectName);
  }
  const conditions: Condition[] = [];
  if (peek() !== undefined) {
    expect('when');
    do {
      if (conditions.length > 0) i++;
      const not = peek() === 'not';
      if (not) i++;
      const field = expect('syscall', 'access', 'agent', 'tool', 'path', 'label', 'arg', 'capability', 'lineage', 'flow', 'trust', 'tokens');
      let atom: Atom;
      switch (field) {
        case 'syscall':
          atom = { k: 'syscall', names: expect('=', 'in') === '=' ? [word('a syscall name')] : list('a syscall name') };
          break;
        case 'access': {
          const values = expect('=', 'in') === '=' ? [word('read, write or none')] : list('read, write or none');
          for (const v of values) if (!(ACCESS as readonly string[]).includes(v)) throw new ClaimError(`access is read, write or none, not '${v}'`);
          atom = { k: 'access', values: values as (typeof ACCESS)[number][] };
          break;
        }
        case 'agent':
        case 'tool':
        case 'path':
          atom = { k: 'text', field, op: op(), value: word('a value') };
          break;
        case 'label':
          atom = { k: 'label', key: word('a label name'), op: op(), value: word('a value') };
          break;
        case 'arg':
          atom = { k: 'arg', name: word('an argument name'), op: op(), value: word('a value') };
          break;
        case 'capability':
          atom = { k: 'capability', name: word('a capability') };
          break;
        case 'lineage':
          expect('=');
          atom = { k: 'lineage', child: expect('root', 'child') === 'child' };
          break;
        case 'flow':
          expect('vfs-to-exec');
          atom = { k: 'flow' };
          break;
        default: {
          const cmp = expect('<', '<=', '>', '>=') as Compare;
          const digits = word('a number');
          const n = Number(digits);
          if (!/^-?\d+$/.test(digits) || !Number.isSafeInteger(n)) throw new ClaimError(`${field} compares with a whole number, not '${digits}'`);
          atom = { k: 'number', field: field as 'trust' | 'tokens', cmp, value: n };
        }
      }
      if ((atom.k === 'text' || atom.k === 'label' || atom.k === 'arg') && atom.op === '~') checkGlob(atom.value, atom.k === 'text' && atom.field === 'path');
      conditions.push({ not, atom });
    } while (peek() === 'and');
    if (peek() !== undefined) fail("'and' or the end of the claim");
  }
  return { text, quantifier, effects, conditions };
}

function checkGlob(glob: string, path: boolean): void {
  const problem = placeholderProblem(glob, path);
  if (problem !== undefined) throw new ClaimError(`glob ${JSON.stringify(glob)}: ${problem}`);
  try {
    compileGlob(path ? glob.replaceAll(AGENT_PLACEHOLDER, 'x') : glob);
  } catch (err) {
    throw new ClaimError(`glob ${JSON.stringify(glob)}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (path && glob.includes(AGENT_PLACEHOLDER) && templatedParts([glob]) === undefined) throw new ClaimError(`path glob ${JSON.stringify(glob)}: the text before \${agent} must be literal`);
}

function textTest(subject: string, op: Op, value: string, path: boolean, model: RequestModel): string {
  if (op === '=') return `(= ${subject} ${lit(value)})`;
  if (op === 'contains') return `(str.contains ${subject} ${lit(value)})`;
  if (path && value.includes(AGENT_PLACEHOLDER)) {
    const parts = templatedParts([value]);
    if (parts === undefined) throw new ClaimError(`path glob ${JSON.stringify(value)}: the text before \${agent} must be literal`);
    return or(parts.map((p) => ('regex' in p ? `(str.in_re ${subject} ${p.regex})` : model.split(p.head, p.rest))));
  }
  return globIn(subject, [value]);
}

/** conditionFormula writes a claim's conditions over the request model. */
export function conditionFormula(claim: Claim, model: RequestModel): string {
  return and(
    claim.conditions.map(({ not, atom }) => {
      let f: string;
      switch (atom.k) {
        case 'syscall':
          f = or(atom.names.map((n) => `(= ${VARS.sys} ${lit(n)})`));
          break;
        case 'access':
          f = or(atom.values.map((v) => `(= ${VARS.access} ${ACCESS.indexOf(v)})`));
          break;
        case 'text':
          f = atom.field === 'agent' ? textTest(VARS.agent, atom.op, atom.value, false, model) : `(and ${atom.field === 'tool' ? VARS.toolP : VARS.pathP} ${textTest(atom.field === 'tool' ? VARS.tool : VARS.path, atom.op, atom.value, atom.field === 'path', model)})`;
          break;
        case 'label': {
          const l = model.label(atom.key);
          f = `(and ${l.present} ${textTest(l.value, atom.op, atom.value, false, model)})`;
          break;
        }
        case 'arg': {
          const a = model.arg(atom.name);
          if (atom.op === '=') model.pin(atom.name, atom.value);
          f = `(and ${a.present} ${textTest(a.value, atom.op, atom.value, false, model)})`;
          break;
        }
        case 'capability':
          f = model.cap(atom.name);
          break;
        case 'lineage':
          f = atom.child ? VARS.child : `(not ${VARS.child})`;
          break;
        case 'flow':
          f = VARS.flow;
          break;
        case 'number':
          f = `(${atom.cmp} ${atom.field === 'trust' ? VARS.trust : VARS.tokens} ${atom.value})`;
      }
      return not ? `(not ${f})` : f;
    }),
  );
}

/** holds evaluates a claim's conditions on a witness, in JavaScript (with the engine's own globs): the solver's answer is not taken on trust. */
export function holds(claim: Claim, w: Witness): boolean {
  const r = w.request;
  const text = (value: string | undefined, op: Op, want: string, path = false): boolean => {
    if (value === undefined) return false;
    if (op === '=') return value === want;
    if (op === 'contains') return value.includes(want);
    return compileGlob(path ? want.replaceAll(AGENT_PLACEHOLDER, r.agent) : want)(value);
  };
  return claim.conditions.every(({ not, atom }) => {
    let v: boolean;
    switch (atom.k) {
      case 'syscall':
        v = atom.names.includes(r.syscall);
        break;
      case 'access':
        v = atom.values.includes(r.access ?? 'none');
        break;
      case 'text':
        v = text(atom.field === 'agent' ? r.agent : atom.field === 'tool' ? r.tool : r.path, atom.op, atom.value, atom.field === 'path');
        break;
      case 'label':
        v = r.labels !== undefined && Object.hasOwn(r.labels, atom.key) && text(r.labels[atom.key], atom.op, atom.value);
        break;
      case 'arg': {
        // An argument's text, as rules read it: a string as it is, anything else as its JSON (matchers.ts argText).
        v = r.args !== undefined && Object.hasOwn(r.args, atom.name) && text(argText(r.args[atom.name]), atom.op, atom.value);
        break;
      }
      case 'capability':
        v = r.capabilities?.includes(atom.name) === true;
        break;
      case 'lineage':
        v = (r.lineage === 'child') === atom.child;
        break;
      case 'flow':
        v = r.flows?.includes('vfs-to-exec') === true;
        break;
      case 'number': {
        const n = atom.field === 'trust' ? (r.trust ?? 1000) : (r.tokens ?? 0);
        v = atom.cmp === '<' ? n < atom.value : atom.cmp === '<=' ? n <= atom.value : atom.cmp === '>' ? n > atom.value : n >= atom.value;
      }
    }
    return v !== not;
  });
}
