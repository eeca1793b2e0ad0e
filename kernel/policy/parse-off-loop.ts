/**
 * PolicyParser parses policies that agentd is sent (a replacement, a shadow,
 * the cluster's policy fetched from Redis) off the event loop: the YAML
 * parser costs ~2–3 ms a KiB here (a 1,000-rule policy of 209 KiB held the
 * loop ~0.5 s, and every agent's syscalls with it; the route takes 16 MiB).
 * A worker thread parses and validates the text (worker-jobs.ts: one at a
 * time, a few more waiting, then EAGAIN; a worker that fails or runs out of
 * heap fails that parse, EIO). The document it gives back is compiled here,
 * where the policy is used, in slices of the loop (compile.ts
 * compilePolicySliced: a regex costs RE2 0.4–5 ms, and an attacker pass held
 * the loop 3.8 s with 1,280 of them). Every text goes to the worker, the
 * shortest too (a review: 2 KiB of YAML whose aliases repeat a list of
 * regexes, its key spelled with an escape, compiled in one piece for 0.9 s
 * when short texts were parsed here to save the hand-over's ~1 ms).
 */
import { KernelError } from '../../abi/errno.ts';
import { moduleUrl } from '../module-url.ts';
import { WorkerJobs } from '../worker-jobs.ts';
import { loadedSliced, PolicyError, type LoadedPolicy } from './load.ts';
import type { PolicyDocument } from './schema.ts';

export interface ParseJob {
  readonly source: string;
  readonly file: string;
}

/** What the worker answers: the validated document, or where the text is wrong. */
export type ParseAnswer = { readonly document: PolicyDocument; readonly version: string } | { readonly refused: { readonly line: number; readonly column: number; readonly field: string; readonly problem: string } };

const PARSES = {
  worker: moduleUrl('./parse-worker', import.meta.url),
  jobs: 'policy parses',
  failed: (error: string) => new KernelError('EIO', `the policy could not be parsed: ${error}`),
  lost: (why: string) => new KernelError('EIO', `the policy could not be parsed: ${why} (a policy this large or this nested is refused)`),
};

export class PolicyParser {
  private readonly jobs = new WorkerJobs<ParseJob>(PARSES, { workers: 1, queue: 8, heapMib: 1024 });

  /** parse is parsePolicy off the event loop: PolicyError where the text is wrong; EAGAIN when too many parses wait; EIO when the worker fails. */
  async parse(source: string, file: string): Promise<LoadedPolicy> {
    const answer = (await this.jobs.run({ source, file })) as ParseAnswer;
    if ('refused' in answer) throw new PolicyError(file, answer.refused.line, answer.refused.column, answer.refused.field, answer.refused.problem);
    return loadedSliced(file, source, answer.document, answer.version);
  }

  /** close fails the parses under way (EAGAIN) and ends the worker. */
  close(): Promise<void> {
    return this.jobs.close();
  }
}
