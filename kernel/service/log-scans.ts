/**
 * LogScans runs agentd's reads of its decision log (verify, query) in worker
 * threads, so a scan of a log of any size never stalls the event loop: at
 * most `workers` scans run at once, at most `queue` more wait, and any
 * further one is refused with EAGAIN (429). Each worker has a heap limit; a
 * worker that fails or runs out of memory fails its own scan (EIO), never
 * agentd. A scan whose client has gone is stopped (its worker ended). Idle
 * workers end after `idleMs`.
 */
import { Worker } from 'node:worker_threads';
import { KernelError } from '../../abi/errno.ts';
import type { ScanAnswer, ScanJob } from '../recorder/scan-jobs.ts';
import { moduleUrl } from '../module-url.ts';

export interface LogScanOptions {
  /** Scans at once (default 2). */
  readonly workers?: number;
  /** Scans waiting for a worker (default 8). */
  readonly queue?: number;
  /** An idle worker ends after this long (default 30 s). */
  readonly idleMs?: number;
  /** Each worker's old-generation heap limit, MiB (default 256). */
  readonly heapMib?: number;
}

type Reply = { ok: true; value: unknown } | { ok: false; error: string; code?: string };

interface Task {
  readonly job: ScanJob;
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: KernelError) => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
}

interface Slot {
  readonly worker: Worker;
  task: Task | undefined;
  idle: NodeJS.Timeout | undefined;
}

const WORKER = moduleUrl('../recorder/scan-worker', import.meta.url);

export class LogScans {
  private readonly workers: number;
  private readonly queueLength: number;
  private readonly idleMs: number;
  private readonly heapMib: number;
  private readonly slots = new Set<Slot>();
  private readonly waiting: Task[] = [];
  private closed = false;

  constructor(options: LogScanOptions = {}) {
    this.workers = options.workers ?? 2;
    this.queueLength = options.queue ?? 8;
    this.idleMs = options.idleMs ?? 30_000;
    this.heapMib = options.heapMib ?? 256;
  }

  /**
   * run does `job` in a worker. EAGAIN when too many scans are running and
   * waiting or the scans are closed; EINTR when `signal` aborts; EIO
   * when the job fails (the message says why; ENOENT for a missing log).
   */
  run<J extends ScanJob>(job: J, signal?: AbortSignal): Promise<ScanAnswer<J>> {
    if (this.closed) return Promise.reject(new KernelError('EAGAIN', 'agentd is shutting down'));
    if (this.waiting.length >= this.queueLength) return Promise.reject(new KernelError('EAGAIN', `too many decision log scans in progress (${this.workers} running, ${this.waiting.length} waiting); try again`));
    if (signal?.aborted) return Promise.reject(new KernelError('EINTR', 'the scan was cancelled'));
    return new Promise((resolve, reject) => {
      const task: Task = { job, resolve: resolve as (value: unknown) => void, reject, signal, onAbort: () => this.cancel(task) };
      signal?.addEventListener('abort', task.onAbort, { once: true });
      this.waiting.push(task);
      this.pump();
    });
  }

  /** close refuses new scans, fails the waiting and running ones (EAGAIN) and ends every worker. */
  async close(): Promise<void> {
    this.closed = true;
    for (const task of this.waiting.splice(0)) this.settle(task, new KernelError('EAGAIN', 'agentd is shutting down'));
    const ending: Promise<number>[] = [];
    for (const slot of this.slots) {
      if (slot.task !== undefined) this.settle(slot.task, new KernelError('EAGAIN', 'agentd is shutting down'));
      ending.push(this.retire(slot));
    }
    await Promise.all(ending);
  }

  private pump(): void {
    while (this.waiting.length > 0) {
      let slot = [...this.slots].find((s) => s.task === undefined);
      if (slot === undefined) {
        if (this.slots.size >= this.workers) return;
        slot = this.start();
      }
      const task = this.waiting.shift()!;
      clearTimeout(slot.idle);
      slot.idle = undefined;
      slot.task = task;
      // oxlint-disable-next-line unicorn/require-post-message-target-origin -- a worker_threads Worker, not window.postMessage
      slot.worker.postMessage(task.job);
    }
  }

  private start(): Slot {
    const worker = new Worker(WORKER, { resourceLimits: { maxOldGenerationSizeMb: this.heapMib } });
    const slot: Slot = { worker, task: undefined, idle: undefined };
    this.slots.add(slot);
    worker.on('message', (reply: Reply) => {
      const task = slot.task;
      slot.task = undefined;
      if (task !== undefined) this.settle(task, reply.ok ? undefined : new KernelError(reply.code === 'ENOENT' ? 'ENOENT' : 'EIO', `cannot read the decision log: ${reply.error}`), reply.ok ? reply.value : undefined);
      if (!this.slots.has(slot)) return;
      slot.idle = setTimeout(() => void this.retire(slot), this.idleMs);
      slot.idle.unref();
      this.pump();
    });
    const lost = (why: string) => {
      if (!this.slots.delete(slot)) return;
      clearTimeout(slot.idle);
      if (slot.task !== undefined) this.settle(slot.task, new KernelError('EIO', `the decision log scan failed: ${why}`));
      slot.task = undefined;
      this.pump();
    };
    worker.on('error', (err) => lost(err.message));
    worker.on('exit', (code) => lost(`its worker exited (${code})`));
    return slot;
  }

  /** cancel drops a waiting task, or ends the worker running it. */
  private cancel(task: Task): void {
    const at = this.waiting.indexOf(task);
    if (at >= 0) this.waiting.splice(at, 1);
    for (const slot of this.slots) if (slot.task === task) void this.retire(slot);
    this.settle(task, new KernelError('EINTR', 'the scan was cancelled'));
    this.pump();
  }

  private retire(slot: Slot): Promise<number> {
    this.slots.delete(slot);
    clearTimeout(slot.idle);
    slot.task = undefined;
    return slot.worker.terminate();
  }

  private settle(task: Task, error: KernelError | undefined, value?: unknown): void {
    task.signal?.removeEventListener('abort', task.onAbort);
    if (error === undefined) task.resolve(value);
    else task.reject(error);
  }
}
