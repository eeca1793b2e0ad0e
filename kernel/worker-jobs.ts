/**
 * WorkerJobs runs jobs of one kind in worker threads, so work whose size an
 * operator or an agent chooses (a scan of the decision log, a policy's
 * parse) never stalls the kernel's event loop: at most `workers` jobs run at
 * once, at most `queue` more wait, and any further one is refused with
 * EAGAIN. Each worker has a heap limit; a worker that fails or runs out of
 * memory fails its own job (EIO), never the kernel. A job whose signal
 * aborts is stopped (its worker ended). Idle workers end after `idleMs`.
 * The worker's side is answerJobs (worker-answer.ts).
 */
import { Worker } from 'node:worker_threads';
import { KernelError } from '../abi/errno.ts';

export interface WorkerJobOptions {
  /** Jobs at once (default 2). */
  readonly workers?: number;
  /** Jobs waiting for a worker (default 8). */
  readonly queue?: number;
  /** An idle worker ends after this long (default 30 s). */
  readonly idleMs?: number;
  /** Each worker's old-generation heap limit, MiB (default 256). */
  readonly heapMib?: number;
}

/** JobKind says which worker runs the jobs and how their failures read. */
export interface JobKind {
  /** The worker's entry module (moduleUrl). */
  readonly worker: URL;
  /** The jobs, plural, for messages: `decision log scans`. */
  readonly jobs: string;
  /** failed is the error of a job the worker answered with an error (its message and code). */
  failed(error: string, code: string | undefined): KernelError;
  /** lost is the error of a job whose worker failed or ended under it. */
  lost(why: string): KernelError;
}

/** What a worker answers (worker-answer.ts). */
export type JobReply = { ok: true; value: unknown } | { ok: false; error: string; code?: string };

interface Task<Job> {
  readonly job: Job;
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: KernelError) => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
}

interface Slot<Job> {
  readonly worker: Worker;
  task: Task<Job> | undefined;
  idle: NodeJS.Timeout | undefined;
}

export class WorkerJobs<Job> {
  private readonly workers: number;
  private readonly queueLength: number;
  private readonly idleMs: number;
  private readonly heapMib: number;
  private readonly slots = new Set<Slot<Job>>();
  private readonly waiting: Task<Job>[] = [];
  private closed = false;
  private readonly kind: JobKind;

  constructor(kind: JobKind, options: WorkerJobOptions = {}) {
    this.kind = kind;
    this.workers = options.workers ?? 2;
    this.queueLength = options.queue ?? 8;
    this.idleMs = options.idleMs ?? 30_000;
    this.heapMib = options.heapMib ?? 256;
  }

  /**
   * run does `job` in a worker and resolves with the worker's answer, which
   * the caller types. EAGAIN when too many jobs are running and waiting or
   * the jobs are closed; EINTR when `signal` aborts; the kind's errors when
   * the job fails.
   */
  run(job: Job, signal?: AbortSignal): Promise<unknown> {
    if (this.closed) return Promise.reject(new KernelError('EAGAIN', 'agentd is shutting down'));
    if (this.waiting.length >= this.queueLength) return Promise.reject(new KernelError('EAGAIN', `too many ${this.kind.jobs} in progress (${this.workers} running, ${this.waiting.length} waiting); try again`));
    if (signal?.aborted) return Promise.reject(this.cancelled());
    return new Promise((resolve, reject) => {
      const task: Task<Job> = { job, resolve, reject, signal, onAbort: () => this.cancel(task) };
      signal?.addEventListener('abort', task.onAbort, { once: true });
      this.waiting.push(task);
      this.pump();
    });
  }

  /** close refuses new jobs, fails the waiting and running ones (EAGAIN) and ends every worker. */
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

  private cancelled(): KernelError {
    return new KernelError('EINTR', `the ${this.kind.jobs.replace(/s$/, '')} was cancelled`);
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

  private start(): Slot<Job> {
    const worker = new Worker(this.kind.worker, { resourceLimits: { maxOldGenerationSizeMb: this.heapMib } });
    const slot: Slot<Job> = { worker, task: undefined, idle: undefined };
    this.slots.add(slot);
    worker.on('message', (reply: JobReply) => {
      const task = slot.task;
      slot.task = undefined;
      if (task !== undefined) this.settle(task, reply.ok ? undefined : this.kind.failed(reply.error, reply.code), reply.ok ? reply.value : undefined);
      if (!this.slots.has(slot)) return;
      slot.idle = setTimeout(() => void this.retire(slot), this.idleMs);
      slot.idle.unref();
      this.pump();
    });
    const lost = (why: string) => {
      if (!this.slots.delete(slot)) return;
      clearTimeout(slot.idle);
      if (slot.task !== undefined) this.settle(slot.task, this.kind.lost(why));
      slot.task = undefined;
      this.pump();
    };
    worker.on('error', (err) => lost(err.message));
    worker.on('exit', (code) => lost(`its worker exited (${code})`));
    return slot;
  }

  /** cancel drops a waiting task, or ends the worker running it. */
  private cancel(task: Task<Job>): void {
    const at = this.waiting.indexOf(task);
    if (at >= 0) this.waiting.splice(at, 1);
    for (const slot of this.slots) if (slot.task === task) void this.retire(slot);
    this.settle(task, this.cancelled());
    this.pump();
  }

  private retire(slot: Slot<Job>): Promise<number> {
    this.slots.delete(slot);
    clearTimeout(slot.idle);
    slot.task = undefined;
    return slot.worker.terminate();
  }

  private settle(task: Task<Job>, error: KernelError | undefined, value?: unknown): void {
    task.signal?.removeEventListener('abort', task.onAbort);
    if (error === undefined) task.resolve(value);
    else task.reject(error);
  }
}
