/**
 * moduleUrl is the URL of a sibling module (a worker's entry file) given
 * without its extension: `.ts` when the caller runs from the repository's
 * TypeScript, `.js` when it runs from the built package (Node does not strip
 * types under node_modules, so the package ships JavaScript, and a path
 * written into a `new URL(…)` is not rewritten by the compiler as imports are).
 */
export function moduleUrl(relative: string, from: string): URL {
  return new URL(`${relative}${from.endsWith('.ts') ? '.ts' : '.js'}`, from);
}
