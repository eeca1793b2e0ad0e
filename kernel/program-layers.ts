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
 * building the isolate. An agent's spawn reads it ahead, in slices a turn of
 * the event loop apart (planAhead); an operator's reads it at once.
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
  const scan = new NameScan(program.source);
  scan.step(Infinity);
  plan = scan.plan();
  known.set(program, plan);
  return plan;
}

/** How long one turn of planAhead reads a program's text, ms. */
const SLICE_MS = 2;

/**
 * planAhead reads `program`'s text for the names of its layers in slices of
 * SLICE_MS, a turn of the event loop apart, each charged to `charge` (ns),
 * so that layersFor and commonPaths then answer at once. An agent's program
 * (up to MAX_PROGRAM_BYTES) read at once held the loop ~10 ms, ~100 ms with
 * a name on every line (an attacker pass), however its tree was charged.
 */
export async function planAhead(program: Program, charge: (ns: number) => void): Promise<void> {
  if (known.has(program)) return;
  const scan = new NameScan(program.source);
  for (;;) {
    const began = performance.now();
    const done = scan.step(began + SLICE_MS);
    charge((performance.now() - began) * 1e6);
    if (done) break;
    await new Promise((resolve) => setImmediate(resolve));
  }
  known.set(program, scan.plan());
}

/** The text NameScan reads at once; a slice ends between two (a regular expression's search cannot be stopped). */
const CHUNK_CHARS = 64 * 1024;
/** Longer than every name, and the look behind a name global() takes. */
const OVERLAP = 64;

/**
 * NameScan finds the layers a program's text names, a chunk at a time: each
 * chunk is searched as a view of the text (no copy) that starts one
 * character early and runs OVERLAP past its end, so that a word boundary at
 * either edge sees the text's own neighbours; a match counts in the chunk
 * where it starts.
 */
class NameScan {
  private web = false;
  private node = false;
  private common = false;
  private at = 0;
  private readonly source: string;

  constructor(source: string) {
    this.source = source;
  }

  /** step reads chunks until the text ends, both layers and the common paths are found (true), or `deadline` (performance.now) passes (false). */
  step(deadline: number): boolean {
    const source = this.source;
    while (this.at < source.length && !(this.node && this.common)) {
      const from = Math.max(0, this.at - 1);
      const end = Math.min(source.length, this.at + CHUNK_CHARS);
      const chunk = source.slice(from, Math.min(source.length, end + OVERLAP));
      NAMES.lastIndex = this.at - from;
      for (let m = NAMES.exec(chunk); m !== null && from + m.index < end && !(this.node && this.common); m = NAMES.exec(chunk)) {
        if (!global(source, from + m.index)) continue;
        if (NODE.has(m[0])) this.node = true;
        else {
          this.web = true;
          if (COMMON_PATHS.has(m[0])) this.common = true;
        }
      }
      this.at = end;
      if (performance.now() > deadline) break;
    }
    return this.at >= source.length || (this.node && this.common);
  }

  plan(): Plan {
    return { layers: this.node ? ['web', 'node'] : this.web ? ['web'] : [], common: this.common };
  }
}
