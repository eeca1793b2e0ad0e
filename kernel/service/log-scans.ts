/**
 * LogScans runs agentd's reads of its decision log (verify, query) in worker
 * threads (worker-jobs.ts), so a scan of a log of any size never stalls the
 * event loop: at most `workers` scans run at once, at most `queue` more
 * wait, and any further one is refused with EAGAIN (429). A worker that
 * fails or runs out of memory fails its own scan (EIO), never agentd. A scan
 * whose client has gone is stopped (its worker ended).
 */
import { KernelError } from '../../abi/errno.ts';
import type { ScanAnswer, ScanJob } from '../recorder/scan-jobs.ts';
import { moduleUrl } from '../module-url.ts';
import { WorkerJobs, type WorkerJobOptions } from '../worker-jobs.ts';

export type LogScanOptions = WorkerJobOptions;

const SCANS = {
  worker: moduleUrl('../recorder/scan-worker', import.meta.url),
  jobs: 'decision log scans',
  failed: (error: string, code: string | undefined) => new KernelError(code === 'ENOENT' ? 'ENOENT' : 'EIO', `cannot read the decision log: ${error}`),
  lost: (why: string) => new KernelError('EIO', `the decision log scan failed: ${why}`),
};

export class LogScans {
  private readonly jobs: WorkerJobs<ScanJob>;

  constructor(options: LogScanOptions = {}) {
    this.jobs = new WorkerJobs(SCANS, options);
  }

  /**
   * run does `job` in a worker. EAGAIN when too many scans are running and
   * waiting or the scans are closed; EINTR when `signal` aborts; EIO
   * when the job fails (the message says why; ENOENT for a missing log).
   */
  run<J extends ScanJob>(job: J, signal?: AbortSignal): Promise<ScanAnswer<J>> {
    return this.jobs.run(job, signal) as Promise<ScanAnswer<J>>;
  }

  /** close refuses new scans, fails the waiting and running ones (EAGAIN) and ends every worker. */
  close(): Promise<void> {
    return this.jobs.close();
  }
}
