/**
 * The building blocks rules are compiled from: globs (glob.ts: linear time),
 * RE2 regexes (re2js: linear time; V8's engine for patterns it cannot
 * backtrack badly on, regex-native.ts), and time windows evaluated in a named
 * time zone. No pattern and no input can stall the kernel: matching is
 * linear, and the text a glob or regex reads is capped (MATCH_LIMIT).
 */
import { RE2JS } from 're2js';
import { compileGlob, compileGlobs, isLiteral, type StringTest } from './glob.ts';
import { NATIVE_INPUT_MAX, nativeRegex } from './regex-native.ts';
import type { TimeWindow, Weekday } from './schema.ts';

export { isLiteral, type StringTest };

/**
 * MATCH_LIMIT is the longest argument text (UTF-16 units) a glob or regex
 * pattern reads. A longer value is not matched at all: it counts as a match
 * for a deny rule and as no match for any other rule (fail closed), and the
 * decision says so. `equals` and `contains` read any length (native string
 * search, linear and fast).
 */
export const MATCH_LIMIT = 8192;

/** globTest compiles a glob; a literal compiles to string equality. Throws GlobError on a bad glob. */
export function globTest(glob: string): StringTest {
  return compileGlob(glob);
}

/** literalHead is the text before a glob's first special character: every value the glob matches starts with it. */
export function literalHead(glob: string): string {
  const at = glob.search(/[*?[\]{}\\]/);
  return at < 0 ? glob : glob.slice(0, at);
}

/** anyGlob compiles a list of globs into one test. */
export function anyGlob(globs: readonly string[]): StringTest {
  return compileGlobs(globs);
}

/** regexTest compiles an RE2 pattern (unanchored search). Throws on a bad pattern. */
export function regexTest(pattern: string): StringTest {
  const re = RE2JS.compile(pattern);
  // A pattern whose backtracking is bounded runs on V8's engine (regex-native.ts), ~5x faster.
  const native = nativeRegex(pattern);
  const test: StringTest = native === undefined ? (value) => re.test(value) : (value) => (value.length <= NATIVE_INPUT_MAX ? native.test(value) : re.test(value));
  const prefix = anchoredPrefix(pattern);
  if (prefix === '') return test;
  // A value without the literal head of an anchored pattern cannot match: skip the regex engine.
  return (value) => value.startsWith(prefix) && test(value);
}

const PLAIN = /[A-Za-z0-9 _\-:/=,@]/;

/**
 * anchoredPrefix is the literal text every match of `pattern` starts with:
 * the plain characters after a leading `^`, up to the first operator ('' if
 * the pattern is not anchored or has a top-level alternation).
 */
export function anchoredPrefix(pattern: string): string {
  // A class that starts with ']' or holds a POSIX class, or a \Q…\E quote, can hide a top-level '|' from the scan below: no prefix then.
  if (!pattern.startsWith('^') || /\[\^?\]|\[:|\\Q/.test(pattern)) return '';
  let depth = 0;
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') i++;
    else if (inClass) inClass = c !== ']';
    else if (c === '[') inClass = true;
    else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === '|' && depth === 0) return '';
  }
  let out = '';
  let i = 1;
  for (; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\' && i + 1 < pattern.length && /[.\-/]/.test(pattern[i + 1]!)) {
      out += pattern[++i];
    } else if (PLAIN.test(c)) out += c;
    else break;
  }
  // A quantifier after the last character makes it optional.
  return /[*?{+]/.test(pattern[i] ?? '') ? out.slice(0, -1) : out;
}

/** WEEKDAYS in the order a week is counted here, Monday first. */
export const WEEKDAYS: readonly Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const DAY_INDEX: Readonly<Record<string, number>> = { Mon: 0, Tue: 1, Wed: 2, Thu: 3, Fri: 4, Sat: 5, Sun: 6 };

/**
 * localClock reads a time zone's clock: the minute of the week (Monday
 * 00:00 is 0) at an instant. Throws RangeError for an unknown time zone.
 */
export function localClock(zone: string): (at: number) => number {
  const format = new Intl.DateTimeFormat('en-US', { timeZone: zone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  return (at) => {
    let day = 0;
    let minute = 0;
    for (const part of format.formatToParts(at)) {
      if (part.type === 'weekday') day = DAY_INDEX[part.value] ?? 0;
      else if (part.type === 'hour') minute += Number(part.value) * 60;
      else if (part.type === 'minute') minute += Number(part.value);
    }
    return day * 1440 + minute;
  };
}

/** windowMinutes is a window's `HH:MM-HH:MM` as minutes of the day [from, to) (to may be less: it wraps midnight); the whole day without one. */
export function windowMinutes(hours: string | undefined): [number, number] {
  if (hours === undefined) return [0, 24 * 60];
  return hours.split('-').map((hhmm) => {
    const [h, m] = hhmm.split(':').map(Number) as [number, number];
    return h * 60 + m;
  }) as [number, number];
}

/**
 * windowTest compiles a time window into a test on epoch milliseconds.
 * Throws RangeError for an unknown time zone.
 */
export function windowTest(window: TimeWindow): (now: number) => boolean {
  const clock = localClock(window.timezone ?? 'UTC');
  const days = window.days ? new Set<number>(window.days.map((d) => WEEKDAYS.indexOf(d))) : undefined;
  const [from, to] = windowMinutes(window.hours);
  return (now) => {
    const week = clock(now);
    if (days && !days.has(Math.floor(week / 1440))) return false;
    const at = week % 1440;
    return from <= to ? at >= from && at < to : at >= from || at < to;
  };
}

const utf8 = new TextDecoder();
let lastValue: unknown;
let lastText = '';

/**
 * argText is the string form an argument pattern matches against: strings
 * as they are, numbers and booleans as text, bytes as UTF-8, anything else
 * as its JSON. Decoded arguments are bounded (syscalls/schema.ts), and the
 * last object converted is remembered, so the rules of one decision share
 * one conversion.
 */
export function argText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value === lastValue) return lastText;
  const text = value instanceof Uint8Array ? utf8.decode(value) : (JSON.stringify(value) ?? '');
  lastValue = value;
  lastText = text;
  return text;
}
