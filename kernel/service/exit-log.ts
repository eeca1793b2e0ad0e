/**
 * logExits writes one line to agentd's own log for every process of this
 * node that ends, so an operator watching agentd sees why an agent died
 * without asking for it:
 *   agentd: pid 3 (agent notes) exited(1): Error: no key (at main (notes.ts:4:9))
 *   agentd: pid 4 (agent hog) exited(132): killed by SIGKILL (memory limit exceeded)
 *   agentd: pid 5 (agent tidy) exited(0)
 * It watches the decision log for exit records and reads the reason from the
 * process's exit record (still in the process table then: an ending is
 * recorded before anyone can reap it). Exit records of other things (an MCP
 * gateway session, pid 0) have no process and print nothing.
 */
import type { Observable, Subscription } from 'rxjs';
import { exitSummary } from '../exit-summary.ts';
import type { Process } from '../process.ts';
import type { ChainRecord } from '../recorder/chain.ts';

/** ExitSource is what logExits needs: the records as they are appended, and the process a record names. */
export interface ExitSource {
  readonly appended: Observable<ChainRecord>;
  get(pid: number): Process | undefined;
}

/** exitLine is agentd's log line for `proc`'s ending, or undefined while it has not ended. */
export function exitLine(proc: Process): string | undefined {
  const exit = proc.exit;
  if (exit === undefined) return undefined;
  const head = `agentd: pid ${exit.pid} (agent ${exit.agentId}) exited(${exit.status})`;
  return exit.reason.kind === 'exit' ? head : `${head}: ${exitSummary(exit.reason, exit.status)}`;
}

/** logExits calls `write` with one line (newline included) per process ending until the subscription is ended. */
export function logExits(source: ExitSource, write: (line: string) => void): Subscription {
  return source.appended.subscribe((record) => {
    if (record.type !== 'exit') return;
    const proc = source.get(record.pid);
    const line = proc === undefined ? undefined : exitLine(proc);
    if (line !== undefined) write(`${line}\n`);
  });
}
