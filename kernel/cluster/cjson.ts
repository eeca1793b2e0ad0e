/**
 * JSON that the cluster's Lua scripts can decode and write back with
 * Redis's cjson, which refuses a lone UTF-16 surrogate. JSON.stringify
 * writes one as an escape (an agent can put one in a program's name or a
 * call's arguments), so each such escape becomes U+FFFD here: otherwise the
 * script that buries a dead node's processes skips the entry and the
 * process shows as running for good.
 */

/** A lone surrogate's escape as JSON.stringify writes it (a pair is written as the character), not itself after an escaped backslash. */
const LONE_SURROGATE = /(?<=(?:^|[^\\])(?:\\\\)*)\\u[dD][89a-fA-F][0-9a-fA-F]{2}/g;

/** forCjson is `value` as JSON with every lone surrogate replaced by U+FFFD. */
export function forCjson(value: unknown): string {
  return JSON.stringify(value).replace(LONE_SURROGATE, '\\ufffd');
}
