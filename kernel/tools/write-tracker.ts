/**
 * WriteTracker remembers, per agent, fingerprints of the content the agent
 * wrote into its VFS (kernel/tools/fingerprint.ts: whole contents, lines,
 * and any run of 23 or more characters) and the names of the files and
 * directories it created, so the kernel can tell when a tool is about to
 * execute that content (the `vfs-to-exec` flow). Content is fed when a file
 * written through an fd is closed, and for files still open when a tool is
 * checked; the tracker is per agent tree, so every process of the agent
 * (children included) shares it.
 *
 * Bounded work and memory: content up to INLINE_BYTES is fingerprinted at
 * once; larger content goes to a worker thread, and until its fingerprints
 * are in, every check fails closed ("written"). At most MAX_FINGERPRINTS are
 * kept per agent (a compact open-addressing table); past that the tracker is
 * saturated and fails closed for good.
 *
 * This is provenance by content, not taint tracking through computation: it
 * stops an agent that writes a script and hands it (or a part of it) to a
 * tool that executes it, not one that computes the script afresh — policy on
 * the executing tool governs that.
 */
import { Worker } from 'node:worker_threads';
import type { AgentVfs } from '../../vfs/agent-vfs.ts';
import type { DirEntry } from '../../vfs/backend.ts';
import { fingerprints } from './fingerprint.ts';
import { moduleUrl } from '../module-url.ts';

export { fingerprints } from './fingerprint.ts';

type MaybePromise<T> = T | Promise<T>;

/** after applies `next` now if `value` is ready, else when it resolves (a synchronous backend never pays for a promise). */
function after<T, U>(value: MaybePromise<T>, next: (v: T) => MaybePromise<U>): MaybePromise<U> {
  return value instanceof Promise ? value.then(next) : next(value);
}

/** Past this many fingerprints an agent's tracker is saturated and answers "written" to every check (fail closed). */
export const MAX_FINGERPRINTS = 262_144;
/** Content up to this size is fingerprinted on the spot; larger content in the worker. */
export const INLINE_BYTES = 64 * 1024;
/** The longest text a check fingerprints (on the spot, since the decision waits for it); a longer one counts as written (fail closed). */
export const MAX_CHECKED = 256 * 1024;
const decoder = new TextDecoder();
/** Fingerprints from the worker taken into the set at a time, between turns of the event loop. */
const REMEMBER_SLICE = 16_384;
/** Bytes an agent may have waiting for the worker; past it the writer's close waits (back-pressure), so the queue stays bounded. */
export const MAX_PENDING_BYTES = 4 * 1024 * 1024;

/** Charge receives kernel time (ns) spent for the agent; `onLoop` false for time spent off the event loop (the worker). */
export type Charge = (ns: number, onLoop?: boolean) => void;

/** PrintSet is a set of 53-bit fingerprints in a Float64Array with open addressing (0 marks an empty slot). */
class PrintSet {
  private slots = new Float64Array(1024);
  private count = 0;

  get size(): number {
    return this.count;
  }

  add(print: number): void {
    const key = print === 0 ? 1 : print;
    if ((this.count + 1) * 2 > this.slots.length) this.grow();
    const mask = this.slots.length - 1;
    for (let i = (key % this.slots.length) & mask; ; i = (i + 1) & mask) {
      const at = this.slots[i]!;
      if (at === key) return;
      if (at === 0) {
        this.slots[i] = key;
        this.count++;
        return;
      }
    }
  }

  has(print: number): boolean {
    const key = print === 0 ? 1 : print;
    const mask = this.slots.length - 1;
    for (let i = (key % this.slots.length) & mask; ; i = (i + 1) & mask) {
      const at = this.slots[i]!;
      if (at === key) return true;
      if (at === 0) return false;
    }
  }

  private grow(): void {
    const old = this.slots;
    this.slots = new Float64Array(old.length * 2);
    this.count = 0;
    for (const key of old) if (key !== 0) this.add(key);
  }

  clear(): void {
    this.slots = new Float64Array(1024);
    this.count = 0;
  }
}

/** FingerprintWorker hands large content to one shared worker thread, started on first use and never keeping the process alive. */
class FingerprintWorker {
  private worker: Worker | undefined;
  private next = 1;
  private readonly waiting = new Map<number, { resolve: (prints: Float64Array, ns: number) => void; reject: (err: Error) => void }>();

  /** fingerprint sends `bytes` to the worker; the worker takes their buffer when it is theirs alone (else a copy). */
  fingerprint(bytes: Uint8Array): Promise<{ prints: Float64Array; ns: number }> {
    const worker = (this.worker ??= this.start());
    const id = this.next++;
    const own = bytes.buffer instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes.buffer : bytes.slice().buffer;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve: (prints, ns) => resolve({ prints, ns }), reject });
      worker.ref();
      worker.postMessage({ id, bytes: new Uint8Array(own), max: MAX_FINGERPRINTS + 1 }, [own]);
    });
  }

  private start(): Worker {
    const worker = new Worker(moduleUrl('./fingerprint-worker', import.meta.url));
    worker.unref();
    worker.on('message', (m: { id: number; prints: Float64Array; ns: number }) => {
      const w = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      if (this.waiting.size === 0) worker.unref();
      w?.resolve(m.prints, m.ns);
    });
    const fail = (err: Error) => {
      this.worker = undefined;
      for (const w of this.waiting.values()) w.reject(err);
      this.waiting.clear();
    };
    worker.on('error', fail);
    worker.on('exit', () => fail(new Error('the fingerprint worker ended')));
    return worker;
  }
}

const worker = new FingerprintWorker();

export class WriteTracker {
  private readonly seen = new PrintSet();
  private saturated = false;
  private pending = 0;
  /** Bytes handed to the worker and not yet taken back, and who waits for them to drop below the bound. */
  private queuedBytes = 0;
  private drained: (() => void)[] = [];

  /**
   * add remembers `content` (text, or bytes decoded as UTF-8) as written by
   * the agent: at once when small, else in the worker (checks fail closed
   * until it is done). It takes ownership of a Uint8Array (its buffer may be
   * handed to the worker). `charge` gets the kernel time spent. A promise
   * when the agent already has MAX_PENDING_BYTES waiting for the worker: the
   * caller (a close) waits until the queue drains below that.
   */
  add(content: string | Uint8Array, charge?: Charge): void | Promise<void> {
    if (this.saturated) return;
    const size = typeof content === 'string' ? content.length : content.byteLength;
    if (size > INLINE_BYTES) {
      const bytes = typeof content === 'string' ? new TextEncoder().encode(content) : content;
      this.queuedBytes += size;
      const done = worker.fingerprint(bytes).then(async ({ prints, ns }) => {
        charge?.(ns, false);
        // Taken into the set a slice at a time, the event loop turning between slices (checks fail closed meanwhile).
        for (let at = 0; at < prints.length && !this.saturated; at += REMEMBER_SLICE) {
          const started = performance.now();
          this.remember(prints.subarray(at, at + REMEMBER_SLICE));
          charge?.((performance.now() - started) * 1e6);
          if (at + REMEMBER_SLICE < prints.length) await new Promise((resolve) => setImmediate(resolve));
        }
      });
      // A worker that failed leaves the tracker saturated: fail closed.
      this.pendingUntil(
        done
          .catch(() => void (this.saturated = true))
          .finally(() => {
            this.queuedBytes -= size;
            if (this.queuedBytes <= MAX_PENDING_BYTES) for (const wake of this.drained.splice(0)) wake();
          }),
      );
      if (this.queuedBytes > MAX_PENDING_BYTES) return new Promise((resolve) => this.drained.push(resolve));
      return;
    }
    const started = performance.now();
    this.remember(fingerprints(typeof content === 'string' ? content : decoder.decode(content)));
    charge?.((performance.now() - started) * 1e6);
  }

  /** addName remembers a created file's or directory's path, each segment on its own (names can carry content too). */
  addName(path: string, charge?: Charge): void {
    for (const segment of path.split('/')) if (segment.length >= 8) this.add(segment, charge);
  }

  private remember(prints: ArrayLike<number>): void {
    for (let i = 0; i < prints.length && !this.saturated; i++) {
      this.seen.add(prints[i]!);
      if (this.seen.size > MAX_FINGERPRINTS) {
        this.saturated = true;
        this.seen.clear();
      }
    }
  }

  /** pendingUntil marks content still on its way (a worker, an asynchronous backend): until `done` settles, every check fails closed. */
  pendingUntil(done: Promise<unknown>): void {
    this.pending++;
    const settle = () => void this.pending--;
    done.then(settle, settle);
  }

  /**
   * wrote: does `text` (whole, one of its lines, or a run of 23+ characters)
   * match content the agent wrote? True while content is pending or once the
   * tracker is saturated, or for a text longer than MAX_CHECKED (fail closed).
   */
  wrote(text: string): boolean {
    if (this.saturated || this.pending > 0 || text.length > MAX_CHECKED) return true;
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
