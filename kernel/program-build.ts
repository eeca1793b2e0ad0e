/**
 * buildProgramFile makes one script of an agent program that lives on the
 * host's disk (`agentctl run`, agentd's registered programs): its own
 * relative files and the npm packages of its project (the nearest folder
 * above it with a package.json), in JavaScript, TypeScript or TSX, ESM or
 * CommonJS, bundled by esbuild with the browser's conditions. Node's common
 * built-in modules (`fs`, `node:path`, …) come from the runtime's node layer;
 * any other built-in, a file outside the project folder, or code that does
 * not compile is refused with one line naming the file (ENOEXEC). Building
 * only reads files: no install script or other host code runs. The build is
 * cached on disk by its inputs (path, size and mtime of every file it read)
 * and reused while they are unchanged.
 */
import { build, type Message, type Plugin } from 'esbuild';
import { createHash } from 'node:crypto';
import { lstatSync, realpathSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { KernelError } from '../abi/errno.ts';
import { cacheDir, readCache, stamp, writeCache, type Inputs } from './build-cache.ts';
import { ENTRY_SOURCE } from '../userspace/runtime/author-frames.js';
import { NODE_MODULES } from '../userspace/node/names.js';
import { REFUSED_MODULES } from '../userspace/node/refused.js';
import { MAX_PROGRAM_BYTES, type Program } from './program.ts';

const PROVIDED: ReadonlySet<string> = new Set(NODE_MODULES);
const NODE_BUILTINS: ReadonlySet<string> = new Set(builtinModules);
const BUILTIN_NS = 'agent-builtin';
/** Bump when the build's options change, so older cache entries are not reused. */
const BUILD_VERSION = 2;
/** Files that change how the files beside and below them build: each one on the way from an input up to the project folder is an input too. */
const BUILD_CONFIG = ['package.json', 'tsconfig.json', 'jsconfig.json'];

/** projectRoot is the nearest folder at or above `dir` with a package.json, else `dir`. */
export function projectRoot(dir: string): string {
  for (let at = dir; ; at = dirname(at)) {
    try {
      if (statSync(join(at, 'package.json')).isFile()) return at;
    } catch {
      // not here
    }
    if (dirname(at) === at) return dir;
  }
}

/** shown names a file relative to the working directory when it is below it, else by its absolute path. */
export function shown(file: string): string {
  const near = relative(process.cwd(), file);
  return near === '' || near.startsWith('..') ? file : near;
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
        if (inside(args.path, root)) return undefined;
        return { errors: [{ text: outsideMessage(args.path, root, imports) }] };
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
 * buildProgramFile bundles the program at `path` (as the operator named it).
 * ENOENT if it cannot be read, ENOEXEC if it does not build, EFBIG past
 * MAX_PROGRAM_BYTES.
 */
export async function buildProgramFile(path: string): Promise<Program> {
  const entry = resolve(path);
  let stat;
  try {
    stat = statSync(entry);
  } catch {
    throw new KernelError('ENOENT', `cannot read program ${path}`);
  }
  // esbuild would read a device (/dev/zero) without end, and wait on a FIFO for ever.
  if (!stat.isFile()) throw new KernelError('ENOEXEC', `${path}: not a regular file`);
  if (stat.size > MAX_PROGRAM_BYTES) throw new KernelError('EFBIG', `${path}: ${stat.size} bytes, more than a program may be (${MAX_PROGRAM_BYTES})`);
  const root = projectRoot(dirname(entry));
  // Keyed by the program and its project folder: a package.json that moves the folder is a new build.
  const cacheFile = join(cacheDir(), `${createHash('sha256').update(`${entry}\0${root}\0${BUILD_VERSION}`).digest('hex').slice(0, 32)}.json`);
  const cached = readCache(cacheFile, BUILD_VERSION);
  const done = (source: string, sourceMap: string): Program => {
    if (source.length > MAX_PROGRAM_BYTES) throw new KernelError('EFBIG', `${path}: the built program is ${source.length} bytes, more than ${MAX_PROGRAM_BYTES}`);
    return { filename: path, source, sourceMap, sourceBase: root, contentHash: createHash('sha256').update(source).digest('hex') };
  };
  if (cached !== undefined) return done(cached.source, cached.sourceMap ?? '');
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
  const inputs: Inputs = {};
  // A configuration file that is absent is an input too: creating one changes the build.
  const note = (file: string, absentToo: boolean) => {
    if (file in inputs) return;
    const st = stamp(file);
    if (st[0] !== -1 || absentToo) inputs[file] = st;
  };
  for (const input of Object.keys(out.metafile?.inputs ?? {})) {
    if (input.includes(':') || input.startsWith('<')) continue; // a virtual module (a built-in, the entry line)
    const file = resolve(root, input);
    note(file, false);
    for (let at = dirname(file); at === root || at.startsWith(root + sep); at = dirname(at)) {
      for (const name of BUILD_CONFIG) note(join(at, name), true);
      if (at === root) break;
    }
  }
  writeCache(cacheFile, { version: BUILD_VERSION, inputs, source: code, sourceMap: map });
  return done(code, map);
}
