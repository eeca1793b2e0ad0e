/**
 * RE2 patterns as SMT regular expressions, for the part of RE2 that has an
 * exact regular-language reading here: literals and escapes, `.`, classes
 * (`[a-z]`, `[^…]`, `\d \w \s` and their negations), groups, alternation,
 * the quantifiers `* + ? {n} {n,} {n,m}` (lazy forms too: same language),
 * `^` at the start of a top-level alternative and `$` wherever only the
 * end of the text can follow. The engine searches (unanchored), so the
 * language is `.*R.*` less what the anchors cut.
 *
 * Everything else (flags such as `(?i)`, `\b`, Unicode classes, POSIX
 * classes, `\Q…\E`, anchors elsewhere) answers a reason instead, and the
 * caller over-approximates the match as unknown. Characters are UTF-16
 * code units: RE2 reads a surrogate pair as one character, here it is two.
 */
import { complement, concat, normalize, setRegex, union } from './char-sets.ts';
import { lit } from './smt.ts';

type Re =
  | { readonly k: 'set'; readonly ranges: readonly number[] }
  | { readonly k: 'seq'; readonly items: readonly Re[] }
  | { readonly k: 'alt'; readonly items: readonly Re[] }
  | { readonly k: 'rep'; readonly item: Re; readonly min: number; readonly max: number }
  | { readonly k: 'bol' }
  | { readonly k: 'eol' };

class Unsupported extends Error {}

const DIGIT = [48, 57];
const WORD = normalize([48, 57, 65, 90, 95, 95, 97, 122]);
const SPACE = normalize([9, 10, 12, 13, 32, 32]);
const NOT_NEWLINE = complement([10, 10]);
const MAX_REPEAT = 1000;
const ANY_TEXT = '(re.* re.allchar)';

/** Parser reads one pattern; Unsupported for what it cannot read exactly. */
class Parser {
  private i = 0;
  private readonly src: string;
  constructor(src: string) {
    this.src = src;
  }

  parse(): Re {
    const re = this.alternation();
    if (this.i < this.src.length) throw new Unsupported(`unexpected '${this.src[this.i]}' at ${this.i}`);
    return re;
  }

  private alternation(): Re {
    const items = [this.sequence()];
    while (this.src[this.i] === '|') {
      this.i++;
      items.push(this.sequence());
    }
    return items.length === 1 ? items[0]! : { k: 'alt', items };
  }

  private sequence(): Re {
    const items: Re[] = [];
    while (this.i < this.src.length && this.src[this.i] !== '|' && this.src[this.i] !== ')') items.push(this.repeat(this.atom()));
    return { k: 'seq', items };
  }

  private repeat(item: Re): Re {
    for (;;) {
      const c = this.src[this.i];
      let min: number;
      let max: number;
      if (c === '*') [min, max] = [0, -1];
      else if (c === '+') [min, max] = [1, -1];
      else if (c === '?') [min, max] = [0, 1];
      else if (c === '{') {
        const m = /^\{(\d+)(,(\d*))?\}/.exec(this.src.slice(this.i));
        if (m === null) return item;
        min = Number(m[1]);
        max = m[2] === undefined ? min : m[3] === '' ? -1 : Number(m[3]);
        if (min > MAX_REPEAT || max > MAX_REPEAT) throw new Unsupported('repeat count over 1000');
        this.i += m[0].length - 1;
      } else return item;
      this.i++;
      if (this.src[this.i] === '?') this.i++;
      if (item.k === 'bol' || item.k === 'eol') throw new Unsupported('quantified anchor');
      item = { k: 'rep', item, min, max };
    }
  }

  private atom(): Re {
    const c = this.src[this.i++]!;
    if (c === '(') {
      if (this.src[this.i] === '?') {
        const named = /^\?(P?<[A-Za-z_][A-Za-z0-9_]*>|:)/.exec(this.src.slice(this.i));
        if (named === null) throw new Unsupported('flags or a group form other than (?:…) and (?P<name>…)');
        this.i += named[0].length;
      }
      const inner = this.alternation();
      if (this.src[this.i++] !== ')') throw new Unsupported('unclosed group');
      return inner;
    }
    if (c === '[') return { k: 'set', ranges: this.klass() };
    if (c === '.') return { k: 'set', ranges: NOT_NEWLINE };
    if (c === '^') return { k: 'bol' };
    if (c === '$') return { k: 'eol' };
    if (c === '\\') return { k: 'set', ranges: this.escape(false) };
    if (c === '*' || c === '+' || c === '?') throw new Unsupported(`nothing to repeat at ${this.i - 1}`);
    const code = this.src.codePointAt(this.i - 1)!;
    if (code > 0xffff) {
      this.i++;
      const s = String.fromCodePoint(code);
      return { k: 'seq', items: [{ k: 'set', ranges: [s.charCodeAt(0), s.charCodeAt(0)] }, { k: 'set', ranges: [s.charCodeAt(1), s.charCodeAt(1)] }] };
    }
    return { k: 'set', ranges: [code, code] };
  }

  /** escape reads what follows a backslash: one character's set, or a class escape. */
  private escape(inClass: boolean): number[] {
    const c = this.src[this.i++];
    if (c === undefined) throw new Unsupported('trailing backslash');
    switch (c) {
      case 'd':
        return DIGIT;
      case 'D':
        return complement(DIGIT);
      case 'w':
        return WORD;
      case 'W':
        return complement(WORD);
      case 's':
        return SPACE;
      case 'S':
        return complement(SPACE);
      case 'n':
        return [10, 10];
      case 't':
        return [9, 9];
      case 'r':
        return [13, 13];
      case 'f':
        return [12, 12];
      case 'v':
        return [11, 11];
      case 'a':
        return [7, 7];
      case 'x': {
        const m = /^\{([0-9A-Fa-f]{1,4})\}|^([0-9A-Fa-f]{2})/.exec(this.src.slice(this.i));
        if (m === null) throw new Unsupported('\\x escape other than \\xHH or \\x{HHHH}');
        this.i += m[0].length;
        const code = Number.parseInt(m[1] ?? m[2]!, 16);
        return [code, code];
      }
    }
    if (/[A-Za-z0-9]/.test(c)) throw new Unsupported(`escape \\${c}${inClass ? ' in a class' : ''}`);
    const code = c.charCodeAt(0);
    return [code, code];
  }

  /** klass reads a bracket class after its `[`. */
  private klass(): number[] {
    let negated = false;
    if (this.src[this.i] === '^') {
      negated = true;
      this.i++;
    }
    const ranges: number[] = [];
    let first = true;
    for (;;) {
      const c = this.src[this.i];
      if (c === undefined) throw new Unsupported('unclosed class');
      if (c === ']' && !first) {
        this.i++;
        break;
      }
      first = false;
      if (c === '[' && this.src[this.i + 1] === ':') throw new Unsupported('POSIX class');
      const lo = this.classChar();
      if (lo.length !== 2 || lo[0] !== lo[1] || this.src[this.i] !== '-' || this.src[this.i + 1] === ']' || this.src[this.i + 1] === undefined) {
        ranges.push(...lo);
        continue;
      }
      this.i++;
      const hi = this.classChar();
      if (hi.length !== 2 || hi[0] !== hi[1] || hi[0]! < lo[0]!) throw new Unsupported('bad class range');
      ranges.push(lo[0]!, hi[0]!);
    }
    return negated ? complement(ranges) : normalize(ranges);
  }

  private classChar(): number[] {
    const c = this.src[this.i++]!;
    if (c === '\\') return this.escape(true);
    const code = c.charCodeAt(0);
    if (code >= 0xd800 && code <= 0xdbff) throw new Unsupported('a character outside the BMP in a class');
    return [code, code];
  }
}

function nullable(re: Re): boolean {
  switch (re.k) {
    case 'set':
      return false;
    case 'seq':
      return re.items.every(nullable);
    case 'alt':
      return re.items.some(nullable);
    case 'rep':
      return re.min === 0 || nullable(re.item);
    case 'bol':
    case 'eol':
      return true;
  }
}

function hasAnchor(re: Re): boolean {
  switch (re.k) {
    case 'set':
      return false;
    case 'seq':
    case 'alt':
      return re.items.some(hasAnchor);
    case 'rep':
      return hasAnchor(re.item);
    case 'bol':
    case 'eol':
      return true;
  }
}

/** plain writes an anchor-free pattern. */
function plain(re: Re): string {
  switch (re.k) {
    case 'set':
      return setRegex(re.ranges);
    case 'seq':
      return concat(re.items.map(plain));
    case 'alt':
      return union(re.items.map(plain));
    case 'rep': {
      const item = plain(re.item);
      if (re.max === -1) return re.min === 0 ? `(re.* ${item})` : re.min === 1 ? `(re.+ ${item})` : `(re.++ ((_ re.loop ${re.min} ${re.min}) ${item}) (re.* ${item}))`;
      return `((_ re.loop ${re.min} ${re.max}) ${item})`;
    }
    case 'bol':
    case 'eol':
      throw new Unsupported('anchor');
  }
}

interface Tail {
  readonly re: string;
  readonly nullable: boolean;
}

/** before writes `re` followed by `tail` (continuation style, so that `$` can see whether only the end may follow). */
function before(re: Re, tail: Tail): Tail {
  switch (re.k) {
    case 'seq':
      return re.items.reduceRight((t, item) => before(item, t), tail);
    case 'alt': {
      const parts = re.items.map((item) => before(item, tail));
      return { re: union(parts.map((p) => p.re)), nullable: parts.some((p) => p.nullable) };
    }
    case 'eol':
      return tail.nullable ? { re: '(str.to_re "")', nullable: true } : { re: 're.none', nullable: false };
    case 'bol':
      throw new Unsupported("'^' other than at the start");
    case 'set':
    case 'rep':
      if (hasAnchor(re)) throw new Unsupported('anchor inside a repeat');
      return { re: concat([plain(re), tail.re]), nullable: nullable(re) && tail.nullable };
  }
}

/** A branch of the top-level alternation, and whether it starts with `^`. */
function branches(re: Re): { anchored: boolean; body: Re }[] {
  const alts = re.k === 'alt' ? re.items : [re];
  return alts.map((alt) => {
    const items = alt.k === 'seq' ? alt.items : [alt];
    const anchored = items[0]?.k === 'bol';
    return { anchored, body: { k: 'seq', items: anchored ? items.slice(1) : items } };
  });
}

/**
 * RegexSmt: the SMT regex of what an RE2 search accepts, or why it cannot
 * be written exactly. `surrogates`: one of its character sets holds UTF-16
 * surrogates (`.`, a negated class…); RE2 reads a surrogate pair as one
 * character where this regex reads two code units, so it is exact only for
 * text without surrogates.
 */
export type RegexSmt = { readonly ok: true; readonly re: string; readonly surrogates: boolean } | { readonly ok: false; readonly why: string };

/** touchesSurrogates: a character set of the pattern holds a UTF-16 surrogate code unit. */
function touchesSurrogates(re: Re): boolean {
  switch (re.k) {
    case 'set':
      for (let i = 0; i < re.ranges.length; i += 2) if (re.ranges[i]! <= 0xdfff && re.ranges[i + 1]! >= 0xd800) return true;
      return false;
    case 'seq':
    case 'alt':
      return re.items.some(touchesSurrogates);
    case 'rep':
      return touchesSurrogates(re.item);
    case 'bol':
    case 'eol':
      return false;
  }
}

/** NO_SURROGATES: text without UTF-16 surrogate code units (where such a regex is exact). */
export const NO_SURROGATES = '(re.* (re.union (re.range "\\u{0}" "\\u{d7ff}") (re.range "\\u{e000}" "\\u{ffff}")))';

/** regexSmt writes the texts in which `pattern` finds a match (the engine's unanchored search). */
export function regexSmt(pattern: string): RegexSmt {
  try {
    // (re.* re.allchar), not re.all: the same language, measured ~15× faster to solve with.
    const anyText: Tail = { re: ANY_TEXT, nullable: true };
    const tree = new Parser(pattern).parse();
    const parts = branches(tree).map(({ anchored, body }) => {
      const t = before(body, anyText);
      return anchored ? t.re : concat([ANY_TEXT, t.re]);
    });
    return { ok: true, re: union(parts), surrogates: touchesSurrogates(tree) };
  } catch (err) {
    if (err instanceof Unsupported) return { ok: false, why: err.message };
    throw err;
  }
}

/** regexIn is the SMT formula "an RE2 search for `pattern` finds a match in `subject`", or why not writable. */
export function regexIn(subject: string, pattern: string): { ok: true; formula: string; surrogates: boolean } | { ok: false; why: string } {
  const r = regexSmt(pattern);
  return r.ok ? { ok: true, formula: `(str.in_re ${subject} ${r.re})`, surrogates: r.surrogates } : r;
}

export { lit };

/** sampleChar is a character of a set: a readable one when the set has one. */
function sampleChar(ranges: readonly number[]): string | undefined {
  const has = (c: number) => {
    for (let i = 0; i < ranges.length; i += 2) if (c >= ranges[i]! && c <= ranges[i + 1]!) return true;
    return false;
  };
  for (const c of [120, 97, 48, 32, 45, 47, 46]) if (has(c)) return String.fromCharCode(c);
  return ranges.length === 0 ? undefined : String.fromCharCode(ranges[0]!);
}

function shortestText(re: Re): string | undefined {
  switch (re.k) {
    case 'set':
      return sampleChar(re.ranges);
    case 'seq': {
      let out = '';
      for (const item of re.items) {
        const s = shortestText(item);
        if (s === undefined) return undefined;
        out += s;
      }
      return out;
    }
    case 'alt':
      for (const item of re.items) {
        const s = shortestText(item);
        if (s !== undefined) return s;
      }
      return undefined;
    case 'rep': {
      const s = shortestText(re.item);
      return s === undefined ? undefined : s.repeat(re.min);
    }
    case 'bol':
    case 'eol':
      return '';
  }
}

/** regexSample is a short text in which an RE2 search for `pattern` may find a match (the engine confirms it), or undefined. */
export function regexSample(pattern: string): string | undefined {
  try {
    return shortestText(new Parser(pattern).parse());
  } catch (err) {
    if (err instanceof Unsupported) return undefined;
    throw err;
  }
}
