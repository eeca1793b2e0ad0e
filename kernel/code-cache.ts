/**
 * V8's code cache for the programs the operator hands over (built from the
 * host's disk): made by the first isolate that compiles a program, kept in
 * memory for the Program and, for a built program, on disk beside its build
 * (named by the bundle's content hash), so the next `agentctl run` of an
 * unchanged program compiles in a fraction of the time. Programs that come
 * from agents are never cached: a cache holds only code the operator gave.
 * V8 checks a cache against the source and its own version and refuses one
 * that does not fit; the program then compiles from source.
 */
import ivm from 'isolated-vm';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Program } from './program.ts';

const memory = new WeakMap<Program, ivm.ExternalCopy<ArrayBuffer>>();

/** isolated-vm sets these on a script compiled with produceCachedData or cachedData (its typings leave them out). */
type CachedScript = ivm.Script & { cachedData?: ivm.ExternalCopy<ArrayBuffer>; cachedDataRejected?: boolean };

/** CodeSlot is where a script's code cache lives: what it holds, what to keep once made, what to do when V8 refuses it. */
export interface CodeSlot {
  readonly cached: ivm.ExternalCopy<ArrayBuffer> | undefined;
  /** produce: make a cache when there is none (false: the script is not worth one, or its cache was refused before). */
  readonly produce: boolean;
  keep(data: ivm.ExternalCopy<ArrayBuffer>): void;
  refused(): void;
}

/**
 * compileCached compiles `code` in `isolate` with the slot's code cache, or
 * making one; a cache V8 refuses (another V8 build, another source) is
 * reported to the slot and the script compiled from source.
 */
export function compileCached(isolate: ivm.Isolate, code: string, origin: ivm.ScriptOrigin, slot: CodeSlot): ivm.Script {
  const cachedData = slot.cached;
  return settle(slot, cachedData, isolate.compileScriptSync(code, compileOptions(origin, slot, cachedData)));
}

/** compileCachedAsync is compileCached on the isolate's own thread: the event loop only starts the compile and takes its script. */
export async function compileCachedAsync(isolate: ivm.Isolate, code: string, origin: ivm.ScriptOrigin, slot: CodeSlot): Promise<ivm.Script> {
  const cachedData = slot.cached;
  return settle(slot, cachedData, await isolate.compileScript(code, compileOptions(origin, slot, cachedData)));
}

function compileOptions(origin: ivm.ScriptOrigin, slot: CodeSlot, cachedData: ivm.ExternalCopy<ArrayBuffer> | undefined): ivm.ScriptOrigin & ivm.CachedDataOptions {
  return { ...origin, ...(cachedData !== undefined ? { cachedData } : slot.produce ? { produceCachedData: true } : {}) };
}

/** settle tells `slot` what V8 made of the cache it was given (`cachedData`), or keeps the cache made with `script`. */
function settle(slot: CodeSlot, cachedData: ivm.ExternalCopy<ArrayBuffer> | undefined, script: CachedScript): ivm.Script {
  if (script.cachedDataRejected === true) slot.refused();
  else if (cachedData === undefined && script.cachedData !== undefined) slot.keep(script.cachedData);
  return script;
}

function diskFile(program: Program, dir: string): string | undefined {
  return program.contentHash === undefined ? undefined : join(dir, `${program.contentHash}.v8`);
}

/** cachedCode returns the code cache for `program`, if one was made (in this process, or on disk under `dir`). */
export function cachedCode(program: Program, dir: string): ivm.ExternalCopy<ArrayBuffer> | undefined {
  const held = memory.get(program);
  if (held !== undefined) return held;
  const file = diskFile(program, dir);
  if (file === undefined) return undefined;
  try {
    const bytes = readFileSync(file);
    const copy = new ivm.ExternalCopy(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
    memory.set(program, copy);
    return copy;
  } catch {
    return undefined;
  }
}

/** keepCode keeps a freshly made code cache for `program` (in memory, and on disk for a built program). */
export function keepCode(program: Program, data: ivm.ExternalCopy<ArrayBuffer>, dir: string): void {
  memory.set(program, data);
  const file = diskFile(program, dir);
  if (file === undefined) return;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const temp = `${file}.${process.pid}.tmp`;
    writeFileSync(temp, new Uint8Array(data.copy()), { mode: 0o600 });
    renameSync(temp, file);
  } catch {
    // without a cache on disk the next start compiles from source
  }
}

/** forget drops a cache V8 refused. */
export function forget(program: Program): void {
  memory.delete(program);
}

/** programSlot is a program's code cache: built programs (bundles, often megabytes) have one; a small script is not worth it. */
export function programSlot(program: Program, dir: string): CodeSlot {
  const built = program.contentHash !== undefined;
  return {
    cached: built ? cachedCode(program, dir) : undefined,
    produce: built,
    keep: (data) => keepCode(program, data, dir),
    refused: () => forget(program),
  };
}
