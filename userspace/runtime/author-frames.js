// Which frames of a built program's stack are the author's. esbuild wraps a
// CommonJS-looking module (one that uses `module` or `exports`, or that is
// `require`d) in a function named after its path, called through its runtime's
// helpers (`__require`, `__toESM`, …), from the kernel's one-line entry that
// imports the program (`<agent-entry>`). None of that is the author's code: the
// helpers' frames, the entry's and the runtime's are dropped, and a module's
// wrapper is its top level, named as the program's top level is (`main`) for
// the program's own file and as Node names a CommonJS module's body
// (`Object.<anonymous>`) for another. Used by ring 3 (err.stack as the program
// reads it) and ring 0 (an uncaught error's report) alike; plain functions of
// strings, no globals.

/** The name of the kernel's entry shim, as esbuild's source map names it (the build's stdin). */
export const ENTRY_SOURCE = '<agent-entry>';

/** The scheme a built program's frames carry before they are mapped to the author's files. */
export const BUNDLE_SCHEME = 'agent-bundle:';

/** Frames from files whose name starts with this are the runtime's. */
export const RUNTIME_PREFIX = 'agent-runtime';

// esbuild's runtime (internal/runtime/runtime.go): the helpers a bundle's modules are loaded and converted through.
const HELPERS = new Set(['__require', '__init', '__commonJS', '__esm', '__toESM', '__toCommonJS', '__copyProps', '__reExport', '__export']);

/** A module wrapper's name: esbuild's key for the module, its path from the project folder. */
const MODULE_KEY = /^[^\s()]*[^\s()/]\.(?:[cm]?[jt]sx?|json)$/;

/** parts splits a frame line (`    at NAME (FILE:L:C)` or `    at FILE:L:C`) into its name and file, or undefined for a line that is not a frame. */
function parts(line) {
  const at = /^(\s*at )(async )?(.*)$/.exec(line);
  if (at === null) return undefined;
  const rest = at[3];
  const open = rest.endsWith(')') ? rest.lastIndexOf(' (') : -1;
  const name = open === -1 ? '' : rest.slice(0, open);
  const where = open === -1 ? rest : rest.slice(open + 2, -1);
  const file = where.replace(/:\d+:\d+$/, '');
  return { lead: at[1] + (at[2] ?? ''), name, where, file };
}

const base = (path) => path.slice(path.lastIndexOf('/') + 1);

/**
 * authorFrames keeps the author's frames of `lines` (frame lines and any
 * others, which pass unchanged), mapped already where a map was at hand:
 * see above.
 */
export function authorFrames(lines) {
  const frames = lines.map(parts);
  const dropped = frames.map((f) => f !== undefined && (f.file === ENTRY_SOURCE || f.file.endsWith('/' + ENTRY_SOURCE) || f.file.startsWith(RUNTIME_PREFIX) || (HELPERS.has(f.name) && f.file.startsWith(BUNDLE_SCHEME))));
  const out = [];
  for (let i = 0; i < lines.length; i++) {
    const f = frames[i];
    if (dropped[i]) continue;
    if (f === undefined || !MODULE_KEY.test(f.name) || base(f.name) !== base(f.file)) {
      out.push(lines[i]);
      continue;
    }
    // A module's wrapper: the program's own when what called it (past the helpers) is the entry.
    let next = i + 1;
    while (next < lines.length && frames[next] !== undefined && HELPERS.has(frames[next].name) && frames[next].file.startsWith(BUNDLE_SCHEME)) next++;
    const entry = frames[next] !== undefined && (frames[next].file === ENTRY_SOURCE || frames[next].file.endsWith('/' + ENTRY_SOURCE));
    out.push(`${f.lead}${entry ? 'main' : 'Object.<anonymous>'} (${f.where})`);
  }
  return out;
}
