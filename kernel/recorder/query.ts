/**
 * Reading a decision log for `agentctl audit show` and agentd's
 * /v1/decisions: parse complete records and filter them by agent, syscall,
 * decision, type, time and sequence number (see scan.ts for logs of any size).
 */
import type { ChainRecord } from './chain.ts';

export interface RecordFilter {
  agent?: string;
  syscall?: string;
  decision?: string;
  type?: string;
  /** ms since the epoch, inclusive */
  since?: number;
  /** ms since the epoch, exclusive */
  until?: number;
  /** Only records with a greater sequence number (the last one a reader has). */
  after?: number;
}

/** parseRecords returns every complete, parseable record in order (a torn tail is skipped). */
export function parseRecords(text: string): ChainRecord[] {
  const out: ChainRecord[] = [];
  const lines = text.split('\n');
  if (!text.endsWith('\n')) lines.pop();
  for (const line of lines) {
    if (line === '') continue;
    try {
      out.push(JSON.parse(line) as ChainRecord);
    } catch {
      // a malformed line is verify's business; show skips it
    }
  }
  return out;
}

/** matchesFilter reports whether record `r` passes every field `filter` sets. */
export function matchesFilter(r: ChainRecord, filter: RecordFilter): boolean {
  return (
    (filter.agent === undefined || r.agent === filter.agent) &&
    (filter.syscall === undefined || r.syscall === filter.syscall) &&
    (filter.decision === undefined || r.decision === filter.decision) &&
    (filter.type === undefined || r.type === filter.type) &&
    (filter.since === undefined || r.time >= filter.since) &&
    (filter.until === undefined || r.time < filter.until) &&
    (filter.after === undefined || r.seq > filter.after)
  );
}

export function filterRecords(records: readonly ChainRecord[], filter: RecordFilter): ChainRecord[] {
  return records.filter((r) => matchesFilter(r, filter));
}

/** formatRecord is one human-readable line. */
export function formatRecord(r: ChainRecord): string {
  const time = new Date(r.time).toISOString();
  const what = r.type === 'syscall' ? `${r.syscall}${r.path ? ` ${r.path}` : ''} ${r.decision} (${r.rule})` : `${r.type} ${r.detail ?? ''}`;
  return `${String(r.seq).padStart(6)} ${time} pid ${r.pid} ${r.agent} ${what}`;
}
