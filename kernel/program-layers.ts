/**
 * The runtime layers a program is given: those its text names, handed over
 * before its first line runs; no other.
 *
 * A layer (runtime-bundle.ts) is compiled and its script run in the isolate
 * by the kernel, on the kernel's thread. isolated-vm ends every such run
 * with work of its own in the isolate: the pending microtasks, and a look at
 * the promises rejected with no handler so far, whose reason it reads
 * through the program's getters. Before the program's first line there is
 * none of the program's; in the middle of its code, a rejected error whose
 * `message` getter loops held the kernel's event loop for good (found by a
 * review), and a layer run then also reported a promise the program handles
 * a moment later. So a program whose code names a layer's globals (or
 * imports a Node module) has that layer given first, and a global of a layer
 * it did not name, reached by a computed name (`globalThis['Text' +
 * 'Encoder']`), is a ReferenceError saying so; one that names none loads
 * nothing it does not use.
 *
 * The names are read from the program's text, a property of another object
 * (`o.fetch`) left out; a name in a string or a comment gives its layer for
 * nothing. Reading a program is bounded by its size (MAX_PROGRAM_BYTES) and
 * done once per program; the spawn that reads it pays for it, as it pays for
 * building the isolate.
 */
import { WEB_GLOBAL_NAMES } from '../userspace/web/names.js';
import type { Program } from './program.ts';
import type { LayerName } from './runtime-bundle.ts';

/**
 * The names that make a program need each layer. `console` counts: the base
 * runtime prints plain values itself, and the web layer's formatter prints
 * the rest. Node's modules use the web globals, so a program that needs
 * `node` needs `web` too.
 */
const NODE_NAMES = ['process', 'Buffer', 'agent-kernel.builtin'];
const WEB_NAMES = WEB_GLOBAL_NAMES;
const NODE = new Set(NODE_NAMES);
// Word boundaries, not a look-behind that also excludes `$`: ~10 ms for a 4 MiB program with no such name here,
// against ~20 (a `$process` read as `process` only runs a layer early).
const NAMES = new RegExp(`\\b(?:${[...NODE_NAMES, ...WEB_NAMES].map((n) => n.replaceAll('.', '\\.')).join('|')})\\b`, 'g');

/**
 * The web globals whose first use compiles much of the web layer (whatwg-url's
 * parser, the streams, the bodies: ~10 ms in each isolate). A program that
 * names one is given the layers with the code caches that hold their common
 * paths (runtime-bundle.ts compileWarmLayer): the frameworks' agents, which name
 * `fetch`. Others keep the small caches, which V8 reads faster.
 */
const COMMON_PATHS: ReadonlySet<string> = new Set(WEB_NAMES.filter((n) => /^(?:URL|URLSearchParams|fetch|Request|Response|Headers|FormData|Blob|File)$|Stream|QueuingStrategy/.test(n)));

interface Plan {
  readonly layers: readonly LayerName[];
  readonly common: boolean;
}
const known = new WeakMap<Program, Plan>();

/** What a global is read through: `globalThis.fetch`, `self.fetch`… */
const GLOBAL_OBJECT = /(?:^|[^\w$.])(?:globalThis|global|self|window)\s*\??\.\s*$/;

/** global: the name at `at` can be a global: not a property of some other object (`o.fetch`, `this.process`). */
function global(source: string, at: number): boolean {
  let i = at - 1;
  while (i >= 0 && (source.charCodeAt(i) === 32 || source.charCodeAt(i) === 9 || source.charCodeAt(i) === 10)) i--;
  if (i < 0 || source.charCodeAt(i) !== 46 /* '.' */) return true;
  // A spread (`...process.argv`) reads the global.
  if (i >= 2 && source.charCodeAt(i - 1) === 46 && source.charCodeAt(i - 2) === 46) return true;
  return GLOBAL_OBJECT.test(source.slice(Math.max(0, i - 40), at));
}

/** layersFor lists the layers `program` is given before it runs, web first (Node's modules use it). */
export function layersFor(program: Program): readonly LayerName[] {
  return planFor(program).layers;
}

/** commonPaths: `program` names a global of COMMON_PATHS, so its layers come with their warm caches. */
export function commonPaths(program: Program): boolean {
  return planFor(program).common;
}

function planFor(program: Program): Plan {
  let plan = known.get(program);
  if (plan !== undefined) return plan;
  let web = false;
  let node = false;
  let common = false;
  NAMES.lastIndex = 0;
  const source = program.source;
  for (let m = NAMES.exec(source); m !== null && !(node && common); m = NAMES.exec(source)) {
    if (!global(source, m.index)) continue;
    if (NODE.has(m[0])) node = true;
    else {
      web = true;
      if (COMMON_PATHS.has(m[0])) common = true;
    }
  }
  plan = { layers: node ? ['web', 'node'] : web ? ['web'] : [], common };
  known.set(program, plan);
  return plan;
}
