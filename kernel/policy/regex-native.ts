/**
 * nativeRegex: a policy regex that V8's own engine may run in RE2's place.
 * re2js guarantees linear time for any pattern but costs 60-200 ns a test on
 * short commands here, against ~20 ns for V8's engine. V8's engine
 * backtracks, so it is used only for patterns where backtracking cannot
 * blow up and both engines mean the same: literals, escaped metacharacters,
 * groups, alternation and anchors, in printable ASCII, with no quantifier,
 * class, `.` or other escape, and at most NATIVE_PATHS ways through the
 * alternations. Each start position then costs at most NATIVE_PATHS times
 * the pattern's length. As that can still be ~60x RE2's time for a long
 * periodic pattern on a long value (an attacker pass: 174 ms against 2.9 for
 * a 4,096-character pattern on 8,192 characters), V8's engine only sees
 * patterns up to NATIVE_PATTERN_MAX and values up to NATIVE_INPUT_MAX
 * characters (the commands and URLs policies match are shorter): about 1 ms
 * a test at worst. Anything else stays with re2js.
 */

/** The most ways through a pattern's alternations that V8's engine is trusted with. */
export const NATIVE_PATHS = 32;
/** The longest pattern, and the longest value, V8's engine is given: past either, re2js decides. */
export const NATIVE_PATTERN_MAX = 256;
export const NATIVE_INPUT_MAX = 1024;

const META = '^$\\.*+?()[]{}|/';

/**
 * paths counts the ways through `pattern` from `at` up to a `)` or its end
 * (alternatives added, sequences multiplied); undefined for anything outside
 * the subset above. Returns where it stopped.
 */
function paths(pattern: string, at: number, depth: number): { ways: number; at: number } | undefined {
  let total = 0;
  let branch = 1;
  let i = at;
  for (; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '|') {
      total += branch;
      branch = 1;
    } else if (c === ')') break;
    else if (c === '(') {
      if (depth >= 16) return undefined;
      let start = i + 1;
      if (pattern[start] === '?') {
        if (pattern[start + 1] !== ':') return undefined;
        start += 2;
      }
      const inner = paths(pattern, start, depth + 1);
      if (inner === undefined || pattern[inner.at] !== ')') return undefined;
      branch *= inner.ways;
      i = inner.at;
    } else if (c === '\\') {
      if (!META.includes(pattern[i + 1] ?? 'x')) return undefined;
      i++;
    } else if ('*+?{}[].'.includes(c) || c < ' ' || c > '~') return undefined;
    if (branch > NATIVE_PATHS) return undefined;
  }
  total += branch;
  return total > NATIVE_PATHS ? undefined : { ways: total, at: i };
}

/** nativeRegex is `pattern` as a V8 RegExp when it is in the subset above (RE2 has already accepted it), else undefined. */
export function nativeRegex(pattern: string): RegExp | undefined {
  if (pattern.length > NATIVE_PATTERN_MAX) return undefined;
  const counted = paths(pattern, 0, 0);
  if (counted === undefined || counted.at !== pattern.length) return undefined;
  try {
    return new RegExp(pattern, 'u');
  } catch {
    return undefined;
  }
}
