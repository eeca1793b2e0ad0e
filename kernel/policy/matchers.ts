/**
 * The building blocks rules are compiled from: globs (picomatch), RE2 regexes
 * (re2js: linear time, so no pattern can stall the kernel), and time windows
 * evaluated in a named time zone.
 */
import picomatch from 'picomatch';
import { RE2JS } from 're2js';
import type { TimeWindow, Weekday } from './schema.ts';

export type StringTest = (value: string) => boolean;

const GLOB_CHARS = /[*?[\]{}()!+@]/;

/** isLiteral reports whether a glob has no special characters (so it can be indexed). */
export function isLiteral(glob: string): boolean {
  return !GLOB_CHARS.test(glob);
}

/** globTest compiles a glob; a literal compiles to string equality. Throws on a bad glob. */
export function globTest(glob: string): StringTest {
  if (isLiteral(glob)) return (value) => value === glob;
  const re = picomatch.makeRe(glob, { dot: true, strictBrackets: true });
  return (value) => re.test(value);
}

/** anyGlob compiles a list of globs into one test. */
export function anyGlob(globs: readonly string[]): StringTest {
  const literals = new Set(globs.filter(isLiteral));
  const patterns = globs.filter((g) => !isLiteral(g)).map(globTest);
  if (patterns.length === 0) return (value) => literals.has(value);
  return (value) => literals.has(value) || patterns.some((t) => t(value));
}

/** regexTest compiles an RE2 pattern (unanchored search). Throws on a bad pattern. */
export function regexTest(pattern: string): StringTest {
  const re = RE2JS.compile(pattern);
  const prefix = anchoredPrefix(pattern);
  if (prefix === '') return (value) => re.test(value);
  // A value without the literal head of an anchored pattern cannot match: skip the regex engine.
  return (value) => value.startsWith(prefix) && re.test(value);
}

const PLAIN = /[A-Za-z0-9 _\-:/=,@]/;

/**
 * anchoredPrefix is the literal text every match of `pattern` starts with:
 * the plain characters after a leading `^`, up to the first operator ('' if
 * the pattern is not anchored or has a top-level alternation).
 */
function anchoredPrefix(pattern: string): string {
  if (!pattern.startsWith('^')) return '';
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

const DAY_INDEX: Readonly<Record<string, Weekday>> = { Mon: 'mon', Tue: 'tue', Wed: 'wed', Thu: 'thu', Fri: 'fri', Sat: 'sat', Sun: 'sun' };

function minutes(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number) as [number, number];
  return h * 60 + m;
}

/**
 * windowTest compiles a time window into a test on epoch milliseconds.
 * Throws RangeError for an unknown time zone.
 */
export function windowTest(window: TimeWindow): (now: number) => boolean {
  const format = new Intl.DateTimeFormat('en-US', {
    timeZone: window.timezone ?? 'UTC',
    weekday: 'short',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  });
  const days = window.days ? new Set<Weekday>(window.days) : undefined;
  const [from, to] = window.hours ? (window.hours.split('-').map(minutes) as [number, number]) : [0, 24 * 60];
  return (now) => {
    let day: Weekday | undefined;
    let hour = 0;
    let minute = 0;
    for (const part of format.formatToParts(now)) {
      if (part.type === 'weekday') day = DAY_INDEX[part.value];
      else if (part.type === 'hour') hour = Number(part.value);
      else if (part.type === 'minute') minute = Number(part.value);
    }
    if (days && (day === undefined || !days.has(day))) return false;
    const at = hour * 60 + minute;
    return from <= to ? at >= from && at < to : at >= from || at < to;
  };
}

/** argText is the string form an argument pattern matches against. */
export function argText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value) ?? '';
}
