/**
 * Placeholders in policy patterns: `${agent}` in a rule's `paths` is the
 * calling agent's id, filled in per request. Nothing else is expanded, so a
 * misspelt name (`${agnet}`), or a placeholder in a field that is never
 * expanded (where `${agent}` would only match the text `$agent`), is refused
 * when the policy loads instead of quietly matching nothing.
 */

/** AGENT_PLACEHOLDER is replaced by the calling agent's id in path globs. */
export const AGENT_PLACEHOLDER = '${agent}';

/** PLACEHOLDERS are the names a path glob may use as `${name}`. */
export const PLACEHOLDERS: readonly string[] = ['agent'];

// `${name}`: a name, not brace alternatives after a `$` (`${a,b}` is a glob's own syntax).
const PLACEHOLDER = /\$\{([A-Za-z_][\w.-]*)\}/g;

const KNOWN = `known placeholders: ${PLACEHOLDERS.map((n) => `\${${n}}`).join(', ')}, in paths only`;

/** insideClass: the character at `at` is inside a `[...]` class of the glob (escapes skipped). */
function insideClass(glob: string, at: number): boolean {
  let open = false;
  for (let i = 0; i < at; i++) {
    const c = glob[i];
    if (c === '\\') i++;
    else if (c === '[' && !open) open = true;
    else if (c === ']' && open) open = false;
  }
  return open;
}

/**
 * placeholderProblem says what is wrong with the placeholders of `pattern`,
 * or undefined: in a field that `expands` them, a name not in PLACEHOLDERS;
 * elsewhere, any placeholder at all.
 */
export function placeholderProblem(pattern: string, expands: boolean): string | undefined {
  for (const m of pattern.matchAll(PLACEHOLDER)) {
    const [text, name] = m;
    if (!expands) return `placeholder '${text}' is not expanded here: it would match the text '$${name}' (${KNOWN})`;
    if (!PLACEHOLDERS.includes(name!)) return `unknown placeholder '${text}' (${KNOWN})`;
    if (insideClass(pattern, m.index)) return `placeholder '${text}' inside a character class [...]: the agent id would be read as the class's characters and ranges`;
  }
  return undefined;
}
