/**
 * The build cache on disk (cacheDir()): a build's output with the path,
 * size and mtime of every file it read, and the listing of the folders
 * whose new entries could change it, reused while none of them changed
 * (an input recorded as absent must still be absent). Used for programs
 * built from the host's disk and for the ring-3 runtime's scripts. The
 * folder is the operator's (0700): whoever can write there can change what
 * the kernel runs, as with any cache of build output.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

/** Inputs maps a file to [size, mtimeMs], or [-1, -1] for a file that must stay absent; a folder to its listing (listing()). */
export type Inputs = Record<string, [size: number, mtimeMs: number] | string>;

/**
 * listing is what of folder `dir` a build depends on besides the files it read, as a digest: the names of its files
 * (any name: `./util` finds a file named `util` before `util.ts`, `./util.v2` one named `util.v2`; reviews), with
 * `all` its folders' names too (a node_modules folder, where a new package is a new folder), and every symbolic link
 * with where it leads (a link re-pointed, as a pnpm upgrade does, changes no name; a review); 'absent' when it is not
 * there. Not its mtime, nor its folders outside node_modules: a run that recorded into the project folder (agentctl
 * run --record DIR) rebuilt the next one's program (a review).
 */
export function listing(dir: string, all: boolean): string {
  const names: string[] = [];
  try {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isSymbolicLink()) names.push(`${e.name} -> ${readlinkSync(join(dir, e.name))}`);
      else if (all) names.push(e.isDirectory() ? `${e.name}/` : e.name);
      else if (!e.isDirectory()) names.push(e.name);
    }
  } catch {
    return 'absent';
  }
  return `${all ? 'all' : 'modules'}:${createHash('sha256').update(names.toSorted().join('\0')).digest('hex').slice(0, 32)}`;
}

export interface CacheEntry {
  readonly version: number;
  readonly inputs: Inputs;
  readonly source: string;
  readonly sourceMap?: string;
}

/** cacheDir is where builds are kept: $AGENT_KERNEL_CACHE, else $XDG_CACHE_HOME/agent-kernel/builds, else ~/.cache/agent-kernel/builds. */
export function cacheDir(): string {
  return process.env.AGENT_KERNEL_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'agent-kernel', 'builds');
}

/** stamp is a file's [size, mtimeMs], or [-1, -1] when it does not exist. */
export function stamp(file: string): [number, number] {
  try {
    const st = statSync(file);
    return [st.size, st.mtimeMs];
  } catch {
    return [-1, -1];
  }
}

/** readCache returns the entry in `file` if it is of `version` and none of its inputs changed. */
export function readCache(file: string, version: number): CacheEntry | undefined {
  try {
    const entry = JSON.parse(readFileSync(file, 'utf8')) as CacheEntry;
    if (entry.version !== version) return undefined;
    for (const [path, was] of Object.entries(entry.inputs)) {
      if (typeof was === 'string') {
        if (was !== 'absent' && listing(path, was.startsWith('all:')) !== was) return undefined;
        if (was === 'absent' && stamp(path)[0] !== -1) return undefined;
        continue;
      }
      const [s, m] = stamp(path);
      if (s !== was[0] || m !== was[1]) return undefined;
    }
    return entry;
  } catch {
    return undefined;
  }
}

/** writeCache stores `entry` in `file` (atomically); a cache that cannot be written only costs the next start a build. */
export function writeCache(file: string, entry: CacheEntry): void {
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    const temp = `${file}.${process.pid}.tmp`;
    writeFileSync(temp, JSON.stringify(entry), { mode: 0o600 });
    renameSync(temp, file);
  } catch {
    // the next start builds again
  }
}
