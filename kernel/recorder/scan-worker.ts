/** Worker-thread entry for log scans (kernel/service/log-scans.ts): each message is a ScanJob (scan-jobs.ts). */
import { answerJobs } from '../worker-answer.ts';
import { runScanJob, type ScanJob } from './scan-jobs.ts';

answerJobs((job: ScanJob) => runScanJob(job));
