/**
 * WriteTracker remembers, per agent, fingerprints of the content the agent
 * wrote into its VFS, so the kernel can tell when a tool is about to execute
 * that content (the `vfs-to-exec` flow). Fingerprints are taken after
 * collapsing whitespace, of:
 *   - the whole content of each written file,
 *   - each of its lines of 8 or more characters,
 *   - winnowed 16-character windows (Schleimer, Wilkerson and Aiken's
 *     winnowing, window 8), so any shared run of 23 or more characters is
 *     found wherever it sits in either text.
 * Each fingerprint is a 53-bit hash (two 32-bit FNV-1a variants), so
 * accidental matches are negligible. Content is fed when a file written
 * through an fd is closed, and for files still open when a tool is checked.
 *
 * This is provenance by content, not taint tracking through computation: it
 * stops an agent that writes a script and hands it (or a part of it) to a
 * tool that executes it, not one that computes the script afresh — policy on
 * the executing tool governs that.
 */
import type { AgentVfs } from '../../vfs/agent-vfs.ts';
import type { DirEntry } from '../../vfs/backend.ts';

type MaybePromise<T> = T | Promise<T>;

/** after applies `next` now if `value` is ready, else when it resolves (a synchronous backend never pays for a promise). */
function after<T, U>(value: MaybePromise<T>, next: (v: T) => MaybePromise<U>): MaybePromise<U> {
  return value instanceof Promise ? value.then(next) : next(value);
}

const K = 16;
const W = 8;
const MIN_LINE = 8;
/** Past this many fingerprints an agent's tracker is saturated and answers "written" to every check (fail closed). */
export const MAX_FINGERPRINTS = 2_000_000;
const decoder = new TextDecoder();

function normalize(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** hash53 hashes text[from, to) into a 53-bit integer. */
function hash53(text: string, from: number, to: number): number {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995) ^ (b >>> 15);
  }
  return (a >>> 0) * 0x200000 + ((b >>> 0) & 0x1fffff);
}

/** fingerprints lists the whole, line and winnowed window fingerprints of `raw`. */
export function fingerprints(raw: string): number[] {
  const text = normalize(raw);
  if (text.length === 0) return [];
  const out = [hash53(text, 0, text.length)];
  for (const line of raw.split('\n')) {
    const l = normalize(line);
    if (l.length >= MIN_LINE) out.push(hash53(l, 0, l.length));
  }
  const grams = text.length - K + 1;
  if (grams <= 0) return out;
  const hashes = new Float64Array(grams);
  for (let i = 0; i < grams; i++) hashes[i] = hash53(text, i, i + K);
  // Winnowing: the smallest hash of every run of W consecutive windows (the rightmost on ties), each once.
  const width = Math.min(W, grams);
  let last = -1;
  for (let start = 0; start + width <= grams; start++) {
    let min = start;
    for (let i = start + 1; i < start + width; i++) if (hashes[i]! <= hashes[min]!) min = i;
    if (min !== last) out.push(hashes[min]!);
    last = min;
  }
  return out;
}

export class WriteTracker {
  private readonly seen = new Set<number>();
  private saturated = false;
  private pending = 0;

  /** add remembers `content` (text, or bytes decoded as UTF-8) as written by the agent. */
  add(content: string | Uint8Array): void {
    if (this.saturated) return;
    const text = typeof content === 'string' ? content : decoder.decode(content);
    for (const f of fingerprints(text)) this.seen.add(f);
    if (this.seen.size > MAX_FINGERPRINTS) {
      this.saturated = true;
      this.seen.clear();
    }
  }

  /** pendingUntil marks content still on its way (an asynchronous backend): until `done` settles, every check fails closed. */
  pendingUntil(done: Promise<unknown>): void {
    this.pending++;
    const settle = () => void this.pending--;
    done.then(settle, settle);
  }

  /**
   * wrote: does `text` (whole, one of its lines, or a run of 23+ characters)
   * match content the agent wrote? True while content is pending or once the
   * tracker is saturated (fail closed).
   */
  wrote(text: string): boolean {
    if (this.saturated || this.pending > 0) return true;
    if (this.seen.size === 0) return false;
    return fingerprints(text).some((f) => this.seen.has(f));
  }

  get size(): number {
    return this.seen.size;
  }
}

const trackers = new WeakMap<AgentVfs, WriteTracker>();

/** scan feeds every file under `dir` (except the read-only policy mount) to `tracker`; a promise for an asynchronous backend. */
function scan(vfs: AgentVfs, dir: string, tracker: WriteTracker): MaybePromise<void> {
  const each = (entries: DirEntry[]): MaybePromise<void> => {
    const pending: Promise<void>[] = [];
    for (const entry of entries) {
      const path = `${dir}/${entry.name}`;
      if (path === `${vfs.root}/policy`) continue;
      const done =
        entry.type === 'dir'
          ? scan(vfs, path, tracker)
          : after(vfs.open(path, 'r'), ({ file }) =>
              after(file.size(), (size) => after(file.read(size, 0), (bytes) => {
                tracker.add(bytes);
                return file.close();
              })),
            );
      if (done instanceof Promise) pending.push(done);
    }
    if (pending.length > 0) return Promise.all(pending).then(() => undefined);
  };
  return after(vfs.readdir(dir), each);
}

/**
 * writeTracker returns agent tree `vfs`'s tracker. Created on first use, it
 * starts from what the tree already holds (restored checkpoints, files
 * written before), so nothing in the tree escapes it.
 */
export function writeTracker(vfs: AgentVfs): WriteTracker {
  let tracker = trackers.get(vfs);
  if (tracker === undefined) {
    tracker = new WriteTracker();
    trackers.set(vfs, tracker);
    let scanned: MaybePromise<void>;
    try {
      scanned = scan(vfs, vfs.root, tracker);
    } catch {
      scanned = undefined;
    }
    if (scanned instanceof Promise) tracker.pendingUntil(scanned.catch(() => undefined));
  }
  return tracker;
}
