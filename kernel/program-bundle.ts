/**
 * bundleProgram is the build of an agent program from the host's disk
 * (program-build.ts), run in a process of its own (build-process.ts): its
 * own relative files and the npm packages of its project folder, in
 * JavaScript, TypeScript or TSX, ESM or CommonJS, bundled by esbuild with
 * the browser's conditions. Node's common built-in modules (`fs`,
 * `node:path`, …) come from the runtime's node layer; any other built-in, a
 * file outside the project folder (its real path), a file that is not a
 * regular one, or code that does not compile is refused with one line
 * naming the file (ENOEXEC). It also lists what the build depends on, for
 * the build cache (inputsOf).
 */
import { build, type Message, type Plugin } from 'esbuild';
import { lstatSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { basename, dirname, extname, isAbsolute, join, resolve, sep } from 'node:path';
import { KernelError } from '../abi/errno.ts';
import { listing, stamp, type Inputs } from './build-cache.ts';
import { shown } from './program-build.ts';
import { ENTRY_SOURCE } from '../userspace/runtime/author-frames.js';
import { NODE_MODULES } from '../userspace/node/names.js';
import { REFUSED_MODULES } from '../userspace/node/refused.js';
import { MAX_PROGRAM_BYTES } from './program.ts';

const PROVIDED: ReadonlySet<string> = new Set(NODE_MODULES);
const NODE_BUILTINS: ReadonlySet<string> = new Set(builtinModules);
const BUILTIN_NS = 'agent-builtin';
/** Files that change how the files beside and below them build: each one on the way from an input up to the project folder is an input too. */
const BUILD_CONFIG = ['package.json', 'tsconfig.json', 'jsconfig.json'];
/** The configuration esbuild also reads above the project folder, up to `/`. */
const TS_CONFIG = ['tsconfig.json', 'jsconfig.json'];

/** Bundled is a built program: its script, source map, and what the build read (build-cache.ts Inputs). */
export interface Bundled {
  readonly code: string;
  readonly map: string;
  readonly inputs: Inputs;
}

const bare = (name: string): string => (name.startsWith('node:') ? name.slice(5) : name);

const inside = (path: string, folder: string): boolean => path === folder || path.startsWith(folder + sep);

/** The most imports remembered for naming the link a refused file was reached through (a build of a large framework has a few thousand). */
const MAX_IMPORTS = 20_000;

/**
 * linkTo names the symbolic link inside `root` that `file` (a real path
 * outside it) was reached through, with where it leads, or undefined: the
 * links looked at are on the way to what the build's imports named (`imports`:
 * [specifier, the folder it was imported from]), a relative one's path, a
 * package's folder in each node_modules from its importer up to `root`, and
 * those node_modules folders.
 */
function linkTo(file: string, root: string, imports: ReadonlyMap<string, string>): { link: string; target: string } | undefined {
  const seen = new Set<string>();
  const check = (path: string) => {
    for (let at = path; inside(at, root) && at !== root && !seen.has(at); at = dirname(at)) {
      seen.add(at);
      try {
        if (!lstatSync(at).isSymbolicLink()) continue;
        const target = realpathSync(at);
        if (inside(file, target)) return { link: at, target };
      } catch {
        // not there
      }
    }
    return undefined;
  };
  for (const [key, from] of imports) {
    const spec = key.slice(0, key.lastIndexOf('\0'));
    if (spec.startsWith('.') || spec.startsWith('/')) {
      const found = check(resolve(from, spec));
      if (found !== undefined) return found;
      continue;
    }
    const name = spec.split('/').slice(0, spec.startsWith('@') ? 2 : 1).join('/');
    for (let at = from; inside(at, root); at = dirname(at)) {
      const found = check(join(at, 'node_modules', name));
      if (found !== undefined) return found;
      if (at === root) break;
    }
  }
  return undefined;
}

/** outsideMessage says that `file` is outside the project folder `root`, through which link if one was followed, and what to do. */
function outsideMessage(file: string, root: string, imports: ReadonlyMap<string, string>): string {
  const via = linkTo(file, root, imports);
  const why = via === undefined ? ' (its real path, symbolic links followed)' : ` once symbolic links are followed: ${shown(via.link)} is a symbolic link to ${via.target}`;
  const todo = file.split(sep).includes('node_modules')
    ? `packages are built only from inside the project folder: install them there (npm ci in ${root}), not linked from elsewhere or hoisted above it`
    : 'a program is built only from files inside its project folder (the nearest folder above it with a package.json)';
  return `${shown(file)} is outside the program's project folder ${root}${why}; ${todo}`;
}

/** guard maps Node's built-ins to the runtime's node layer (or refuses them) and keeps every file inside the project folder. */
function guard(root: string): Plugin {
  // What each import named, from where: a file refused as outside is explained by the link it was reached through.
  const imports = new Map<string, string>();
  return {
    name: 'agent-kernel-guard',
    setup(b) {
      b.onResolve({ filter: /.*/ }, (args) => {
        if (imports.size < MAX_IMPORTS && args.resolveDir !== '') imports.set(`${args.path}\0${args.resolveDir}`, args.resolveDir);
        return undefined;
      });
      b.onResolve({ filter: /^[a-z0-9_:/]+$/ }, (args) => {
        const name = bare(args.path);
        if (!args.path.startsWith('node:') && !NODE_BUILTINS.has(name)) return undefined;
        if (PROVIDED.has(name)) return { path: name, namespace: BUILTIN_NS };
        const alternative = Object.hasOwn(REFUSED_MODULES, name) ? REFUSED_MODULES[name] : undefined;
        const instead = alternative === undefined ? '' : alternative.startsWith('none:') ? `; ${alternative.slice(5).trim()}` : `; use ${alternative}`;
        return { errors: [{ text: `imports node:${name}, which agent programs cannot use${instead}` }] };
      });
      b.onLoad({ filter: /.*/, namespace: BUILTIN_NS }, (args) => ({
        contents: `module.exports = globalThis[Symbol.for('agent-kernel.builtin')](${JSON.stringify(args.path)});`,
        loader: 'js',
      }));
      b.onLoad({ filter: /.*/, namespace: 'file' }, (args) => {
        if (!inside(args.path, root)) return { errors: [{ text: outsideMessage(args.path, root, imports) }] };
        // esbuild would wait on a FIFO for ever, and read a device without end (an attacker pass: only the entry was checked).
        let regular = false;
        try {
          regular = statSync(args.path).isFile();
        } catch {
          // esbuild says it cannot read it
        }
        return regular ? undefined : { errors: [{ text: `${shown(args.path)}: not a regular file` }] };
      });
    },
  };
}

function firstError(errors: readonly Message[], root: string, fallback: string): string {
  const first = errors[0];
  if (first === undefined) return fallback;
  const at = first.location ? `${shown(resolve(root, first.location.file))}:${first.location.line}:${first.location.column + 1}: ` : '';
  // esbuild's own errors are the parser's (or a module it cannot find); the guard's name their rule.
  const kind = first.pluginName === '' && !first.text.startsWith('Could not resolve') ? 'SyntaxError: ' : '';
  return `${at}${kind}${first.text}`;
}

/**
 * bundleProgram bundles the program `entry` (a real path; `path` as the
 * operator named it) of the project folder `root` (a real path).
 * ENOEXEC if it does not build, EFBIG past MAX_PROGRAM_BYTES.
 */
export async function bundleProgram(entry: string, root: string, path: string): Promise<Bundled> {
  let out;
  try {
    out = await build({
      // A one-line entry that imports the program, so that the program's own exports do not end up in the script.
      stdin: { contents: `import ${JSON.stringify(entry)};`, resolveDir: root, loader: 'js', sourcefile: ENTRY_SOURCE },
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2023',
      write: false,
      outfile: join(root, 'agent-bundle.js'),
      sourcemap: 'external',
      sourcesContent: false,
      metafile: true,
      logLevel: 'silent',
      absWorkingDir: root,
      plugins: [guard(root)],
      // The program runs as a script: import.meta is an object made at its top (url, filename, dirname of the entry; env empty).
      banner: { js: `const __agentImportMeta = { url: ${JSON.stringify(`file://${entry}`)}, filename: ${JSON.stringify(entry)}, dirname: ${JSON.stringify(dirname(entry))}, env: {} };` },
      define: {
        'import.meta': '__agentImportMeta',
        __filename: JSON.stringify(entry),
        __dirname: JSON.stringify(dirname(entry)),
      },
    });
  } catch (err) {
    const errors = (err as { errors?: Message[] }).errors ?? [];
    throw new KernelError('ENOEXEC', firstError(errors, root, `${path}: cannot build: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`));
  }
  const files = out.outputFiles ?? [];
  const code = files.find((f) => f.path.endsWith('.js'))?.text ?? '';
  const map = files.find((f) => f.path.endsWith('.map'))?.text ?? '';
  if (code.length > MAX_PROGRAM_BYTES) throw new KernelError('EFBIG', `${path}: the built program is ${code.length} bytes, more than ${MAX_PROGRAM_BYTES}`);
  if (map.length > 4 * MAX_PROGRAM_BYTES) throw new KernelError('EFBIG', `${path}: the built program's source map is ${map.length} bytes, more than ${4 * MAX_PROGRAM_BYTES}`);
  return { code, map, inputs: inputsOf(Object.keys(out.metafile?.inputs ?? {}), root) };
}

/**
 * inputsOf lists what a build depends on, each with its stamp (build-cache.ts):
 * every file it read; the listing of every folder on the way from one up to
 * the project folder, and of the node_modules in each (a file added there,
 * such as util.ts beside util.js or a nearer package, changes what an
 * import resolves to);
 * the configuration files on that way, present or not, and what a
 * tsconfig.json extends; and the tsconfig.json and jsconfig.json of every
 * folder above the project folder, which esbuild obeys too (an attacker
 * pass found each of these missing: an edited project kept its old build).
 */
function inputsOf(read: readonly string[], root: string): Inputs {
  const inputs: Inputs = {};
  // A file that is absent is an input too where creating it changes the build. True for a file there, noted now.
  const note: Note = (file, absentToo) => {
    if (Object.hasOwn(inputs, file)) return false;
    const st = stamp(file);
    if (st[0] !== -1 || absentToo) inputs[file] = st;
    return st[0] !== -1;
  };
  /** noteConfig notes a configuration file, present or not, and what a tsconfig.json or jsconfig.json there extends. */
  const noteConfig = (file: string) => {
    if (note(file, true) && TS_CONFIG.some((name) => file.endsWith(sep + name))) extended(file, note, 0);
  };
  // A folder's listing (build-cache.ts listing): every name in a node_modules (or a scope in one), else its files' names.
  const noteFolder = (dir: string) => {
    if (Object.hasOwn(inputs, dir)) return;
    const parent = basename(dirname(dir));
    inputs[dir] = listing(dir, basename(dir) === 'node_modules' || (basename(dir).startsWith('@') && parent === 'node_modules'));
  };
  for (const input of read) {
    // A virtual module (a built-in of the node layer, the entry line); a file's name may hold a ':' too.
    if (input.startsWith(`${BUILTIN_NS}:`) || input.startsWith('<')) continue;
    const file = resolve(root, input);
    note(file, false);
    for (let at = dirname(file); inside(at, root); at = dirname(at)) {
      noteFolder(at);
      noteFolder(join(at, 'node_modules'));
      for (const name of BUILD_CONFIG) noteConfig(join(at, name));
      if (at === root) break;
    }
  }
  for (let at = dirname(root); ; at = dirname(at)) {
    for (const name of TS_CONFIG) noteConfig(join(at, name));
    if (dirname(at) === at) break;
  }
  return inputs;
}

/** The longest chain of `extends` followed. */
const MAX_EXTENDS = 8;

/** Note records a file's stamp (an absent one too when `absentToo`): true when the file is there and was not noted before. */
type Note = (file: string, absentToo: boolean) => boolean;

/** extended notes what the tsconfig.json `file` extends (a relative path, or a package's), present or not, and what that extends, MAX_EXTENDS deep. */
function extended(file: string, note: Note, depth: number): void {
  if (depth >= MAX_EXTENDS) return;
  let names: unknown;
  try {
    const match = /"extends"\s*:\s*(\[[^\]]*\]|"(?:[^"\\]|\\.)*")/.exec(readFileSync(file, 'utf8'));
    names = match === null ? [] : JSON.parse(match[1]!);
  } catch {
    return;
  }
  for (const name of Array.isArray(names) ? names : [names]) {
    if (typeof name !== 'string' || name === '') continue;
    const notes = (base: string) => {
      for (const candidate of extname(base) === '' ? [base, `${base}.json`, join(base, 'tsconfig.json')] : [base]) {
        if (note(candidate, true)) extended(candidate, note, depth + 1);
      }
    };
    if (name.startsWith('.') || isAbsolute(name)) {
      notes(resolve(dirname(file), name));
      continue;
    }
    for (let at = dirname(file); ; at = dirname(at)) {
      notes(join(at, 'node_modules', name));
      if (dirname(at) === at) break;
    }
  }
}
