/**
 * Character sets as SMT-LIB regular expressions over UTF-16 code units
 * (the solver runs with `encoding bmp`: one character is one code unit).
 */
import { lit } from './smt.ts';

export const MAX_UNIT = 0xffff;

/** normalize sorts and merges inclusive [lo, hi] pairs. */
export function normalize(ranges: readonly number[]): number[] {
  const pairs: [number, number][] = [];
  for (let i = 0; i < ranges.length; i += 2) pairs.push([ranges[i]!, ranges[i + 1]!]);
  pairs.sort((a, b) => a[0] - b[0]);
  const out: number[] = [];
  for (const [lo, hi] of pairs) {
    const last = out.length - 1;
    if (last > 0 && lo <= out[last]! + 1) out[last] = Math.max(out[last]!, hi);
    else out.push(lo, hi);
  }
  return out;
}

/** complement is every code unit not in `ranges` (normalized). */
export function complement(ranges: readonly number[]): number[] {
  const sorted = normalize(ranges);
  const out: number[] = [];
  let next = 0;
  for (let i = 0; i < sorted.length; i += 2) {
    if (sorted[i]! > next) out.push(next, sorted[i]! - 1);
    next = sorted[i + 1]! + 1;
  }
  if (next <= MAX_UNIT) out.push(next, MAX_UNIT);
  return out;
}

/** without removes one code unit from `ranges` (normalized). */
export function without(ranges: readonly number[], unit: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < ranges.length; i += 2) {
    const lo = ranges[i]!;
    const hi = ranges[i + 1]!;
    if (unit < lo || unit > hi) out.push(lo, hi);
    else {
      if (lo < unit) out.push(lo, unit - 1);
      if (unit < hi) out.push(unit + 1, hi);
    }
  }
  return out;
}

/** setRegex writes normalized ranges as one SMT regex (re.none when empty). */
export function setRegex(ranges: readonly number[]): string {
  if (ranges.length === 2 && ranges[0] === 0 && ranges[1] === MAX_UNIT) return 're.allchar';
  // Every character but one (a glob's `*` is every character but '/'): z3 was measured 3× faster on this form than on two ranges.
  if (ranges.length === 4 && ranges[0] === 0 && ranges[3] === MAX_UNIT && ranges[2] === ranges[1]! + 2) return `(re.diff re.allchar (str.to_re ${lit(String.fromCharCode(ranges[1]! + 1))}))`;
  const parts: string[] = [];
  for (let i = 0; i < ranges.length; i += 2) {
    const lo = ranges[i]!;
    const hi = ranges[i + 1]!;
    parts.push(lo === hi ? `(str.to_re ${lit(String.fromCharCode(lo))})` : `(re.range ${lit(String.fromCharCode(lo))} ${lit(String.fromCharCode(hi))})`);
  }
  if (parts.length === 0) return 're.none';
  return parts.length === 1 ? parts[0]! : `(re.union ${parts.join(' ')})`;
}

/** concat joins SMT regexes (the empty string when none). */
export function concat(parts: readonly string[]): string {
  if (parts.length === 0) return '(str.to_re "")';
  return parts.length === 1 ? parts[0]! : `(re.++ ${parts.join(' ')})`;
}

/** union joins SMT regexes (re.none when none). */
export function union(parts: readonly string[]): string {
  if (parts.length === 0) return 're.none';
  return parts.length === 1 ? parts[0]! : `(re.union ${parts.join(' ')})`;
}
