/**
 * The ring-3 runtime as scripts: userspace/runtime/ (the base every isolate
 * runs before its program) and two layers an isolate runs only when its
 * program first needs them: `web` (the web globals' builders,
 * userspace/web/globals.js) and `node` (Node's built-in modules,
 * userspace/node/). Each is bundled by esbuild once per kernel process, and
 * V8's code cache for each is made by the first isolate that compiles it and
 * handed to every later one. The bundles are kept in the build cache
 * (build-cache.ts) between runs. The runtime is kernel code (from this package),
 * never agent input; the caches never hold agent code.
 */
import { buildSync, version as esbuildVersion, type BuildOptions } from 'esbuild';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheDir, readCache, stamp, writeCache, type Inputs } from './build-cache.ts';
import { compileCached, compileCachedAsync, type CodeSlot } from './code-cache.ts';
import ivm from 'isolated-vm';
import { warmLayer, WarmupStopped, type Warmed } from './layer-warmup.ts';

/** Frames from files whose name starts with this are the runtime's (dropped from an agent's error). */
export const RUNTIME_FILE = 'agent-runtime.js';
export const RUNTIME_PREFIX = 'agent-runtime';

export type LayerName = 'web' | 'node';
export const LAYERS: readonly LayerName[] = ['web', 'node'];

interface Script {
  readonly filename: string;
  readonly code: string;
  cachedData?: ivm.ExternalCopy<ArrayBuffer>;
  rejected: boolean;
  /** Its code cache holds the functions its first run compiled (warmCache), not only those compiled with the script. */
  warm?: boolean;
  /** A layer's warm-up (layer-warmup.ts), once started: what it found. */
  warming?: Promise<Warmed>;
  /** How many compiles asked for the warm cache before the warm-up started. */
  asked?: number;
  /** A layer's code cache with its common paths compiled (layer-warmup.ts), once its warm-up is done; dropped if V8 refuses it. */
  warmData?: ivm.ExternalCopy<ArrayBuffer>;
}


const file = (path: string): string => fileURLToPath(new URL(`../userspace/${path}`, import.meta.url));
const COMMON: BuildOptions = { bundle: true, platform: 'browser', target: 'es2023', write: false, legalComments: 'none', logLevel: 'silent' };

/** Bump when the bundling options change, so older cached scripts are not reused. */
const RUNTIME_VERSION = 1;

/**
 * bundle builds one runtime script, or takes it from the build cache (keyed
 * by `name` and this file's location, valid while none of its inputs changed):
 * bundling the layers takes about a second, which every `agentctl run` would
 * otherwise pay at its first spawn.
 */
function bundle(name: string, options: BuildOptions): string {
  const key = createHash('sha256').update(`${fileURLToPath(import.meta.url)}\0${name}\0${RUNTIME_VERSION}\0${esbuildVersion}`).digest('hex').slice(0, 32);
  const cacheFile = join(cacheDir(), `runtime-${key}.json`);
  const cached = readCache(cacheFile, RUNTIME_VERSION);
  if (cached !== undefined) return cached.source;
  const out = buildSync({ ...COMMON, ...options, metafile: true });
  const source = out.outputFiles![0]!.text;
  const inputs: Inputs = {};
  for (const input of Object.keys(out.metafile!.inputs)) if (!input.includes(':')) inputs[resolve(input)] = stamp(resolve(input));
  writeCache(cacheFile, { version: RUNTIME_VERSION, inputs, source });
  return source;
}

const scripts = new Map<string, Script>();

function script(name: 'base' | LayerName): Script {
  let found = scripts.get(name);
  if (found !== undefined) return found;
  if (name === 'base') {
    found = { filename: RUNTIME_FILE, code: bundle(name, { entryPoints: [file('runtime/index.js')], format: 'iife' }), rejected: false };
  } else {
    // A layer is CommonJS wrapped in a function the script's run only makes (a parenthesized function, compiled eagerly,
    // so the code cache holds it): ring 3 calls it, on the isolate's own thread, and it returns the layer's exports.
    // Minified (names kept): its source lives in each isolate that loads it.
    const entry = name === 'web' ? 'web/globals.js' : 'node/index.js';
    // whatwg-url's byte helpers need only the UTF-8/UTF-16 codecs, not the legacy multi-byte tables.
    // tr46's tables load only for hosts that need them (web/tr46-fast.js).
    // Aliases are absolute paths: esbuild resolves a package alias from the working directory, which need not be this package's.
    const fromUrl = createRequire(createRequire(import.meta.url).resolve('whatwg-url'));
    const alias = { '@exodus/bytes/encoding.js': fromUrl.resolve('@exodus/bytes/encoding-lite.js'), tr46: file('web/tr46-fast.js'), 'agent-kernel-tr46': fromUrl.resolve('tr46') };
    const code = bundle(name, { entryPoints: [file(entry)], format: 'cjs', minify: true, keepNames: true, alias });
    found = { filename: `${RUNTIME_PREFIX}-${name}.js`, code: `(function () { var module = { exports: {} }, exports = module.exports;\n${code}\nreturn module.exports; })`, rejected: false };
  }
  scripts.set(name, found);
  return found;
}

/** compileScript compiles `s` in `isolate`, with its code cache once there is one (made by the first compile). */
function compileScript(isolate: ivm.Isolate, s: Script): ivm.Script {
  return compileCached(isolate, s.code, { filename: s.filename }, slot(s));
}

/** slot is where `s`'s code cache lives: a cache V8 refuses is dropped, and the script compiles from source from then on. */
function slot(s: Script): CodeSlot {
  return {
    cached: s.rejected ? undefined : s.cachedData,
    produce: !s.rejected,
    keep: (data) => void (s.cachedData = data),
    refused: () => void ((s.rejected = true), (s.cachedData = undefined)),
  };
}

/**
 * warmCache makes `s`'s code cache again in `isolate`, where it has just run:
 * V8 compiles a function the first time it is called, so a cache made with
 * the script holds only its top level, and every isolate compiled again
 * each function the runtime calls as it boots (~1 ms of its ~1.1 ms run).
 * Compiled again in the isolate that ran it, the script comes from V8's
 * own compilation cache with those functions compiled, and the cache made
 * from it holds them. Once per script and kernel process.
 */
function warmCache(isolate: ivm.Isolate, s: Script): void {
  if (s.warm === true || s.rejected || s.cachedData === undefined) return;
  s.warm = true;
  const again: ivm.Script & { cachedData?: ivm.ExternalCopy<ArrayBuffer> } = isolate.compileScriptSync(s.code, { filename: s.filename, produceCachedData: true });
  if (again.cachedData !== undefined) s.cachedData = again.cachedData;
  again.release();
}

/** warmRuntime makes the base runtime's code cache again in `isolate`, where it has just booted (warmCache). */
export function warmRuntime(isolate: ivm.Isolate): void {
  warmCache(isolate, script('base'));
}

/** compileRuntime compiles the base runtime in `isolate`. */
export function compileRuntime(isolate: ivm.Isolate): ivm.Script {
  return compileScript(isolate, script('base'));
}

/** compileLayer compiles layer `name` in `isolate` with its plain code cache (its script's top level), on the caller's thread. */
export function compileLayer(isolate: ivm.Isolate, name: LayerName): ivm.Script {
  return compileScript(isolate, script(name));
}

/**
 * compileWarmLayer compiles layer `name` in `isolate` with its warm code
 * cache (layer-warmup.ts), which holds its common paths, on the isolate's
 * own thread: V8 reads all of a cache with the script, and a warm one is
 * 2-12× the plain one's size (web ~560 KB: ~3 ms against ~0.5 here). Undefined while
 * there is none. The second call starts the warm-up that makes it: a
 * one-shot `agentctl run` pays nothing for a cache it would not use.
 */
export function compileWarmLayer(isolate: ivm.Isolate, name: LayerName): Promise<ivm.Script> | undefined {
  const s = script(name);
  startWarming(name, s);
  const warm = s.warmData;
  if (warm === undefined) return undefined;
  return compileCachedAsync(isolate, s.code, { filename: s.filename }, { cached: warm, produce: false, keep: () => undefined, refused: () => void (s.warmData = undefined) });
}

/** WARM_AFTER: the warm-up starts when this many compiles have asked for the layer's warm cache. */
const WARM_AFTER = 2;

function startWarming(name: LayerName, s: Script): void {
  if (s.warming !== undefined) return;
  s.asked = (s.asked ?? 0) + 1;
  if (s.asked < WARM_AFTER) return;
  // Node's modules run over the web globals: its warm-up is given both.
  const sources = name === 'web' ? { web: script('web') } : { web: script('web'), node: s };
  const warming: Promise<Warmed> = warmLayer(name, sources).then(
    (warmed) => {
      s.warmData = warmed.cachedData;
      return warmed;
    },
    (err: unknown) => {
      // Stopped (a kernel shutting down): the next need starts it again. Failed: isolates go on compiling the layer's functions as they call them.
      if (err instanceof WarmupStopped && s.warming === warming) s.warming = undefined;
      return { cachedData: undefined, failures: [`warm-up: ${err instanceof Error ? err.message : String(err)}`] };
    },
  );
  s.warming = warming;
}

/** layerCacheBytes is the size of layer `name`'s plain and warm code caches, those made so far (for tests). */
export function layerCacheBytes(name: LayerName): { plain?: number; warm?: number } {
  const s = script(name);
  return { plain: s.cachedData?.copy().byteLength, warm: s.warmData?.copy().byteLength };
}

/** layerWarmup is what layer `name`'s warm-up found, once one was started (for tests). */
export function layerWarmup(name: LayerName): Promise<Warmed> | undefined {
  return script(name).warming;
}

/** runtimeCacheBytes is the size of the base runtime's code cache, and whether it is warm (warmCache), once one is made (for tests). */
export function runtimeCacheBytes(): { bytes: number; warm: boolean } | undefined {
  const s = script('base');
  return s.cachedData === undefined ? undefined : { bytes: s.cachedData.copy().byteLength, warm: s.warm === true };
}

/** runtimeSource is the base runtime's code (for measurements). */
export function runtimeSource(): string {
  return script('base').code;
}
