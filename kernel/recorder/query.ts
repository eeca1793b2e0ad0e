/**
 * Filtering and printing decision records for `agentctl audit show`,
 * `agentctl logs` and agentd's /v1/decisions: by agent, syscall, decision,
 * type, time and sequence number (scan.ts and log-query.ts read the logs).
 */
import type { ChainRecord } from './chain.ts';
import { printable } from '../terminal-text.ts';

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

/** formatRecord is one human-readable line (a time out of Date's range is printed as the number it is). */
export function formatRecord(r: ChainRecord): string {
  const date = new Date(r.time);
  const time = Number.isNaN(date.getTime()) ? String(r.time) : date.toISOString();
  // An outcome names the record of its decision (or approval): `outcome SYS_WRITE of 12: ok, 2 bytes, sha256:…`.
  const what = r.type === 'syscall' ? `${r.syscall}${r.path ? ` ${r.path}` : ''} ${r.decision} (${r.rule})` : r.type === 'outcome' ? `outcome ${r.syscall ?? ''} ${r.detail ?? ''}` : `${r.type} ${r.detail ?? ''}`;
  // Paths, agent ids and details come from agents: escaped (terminal-text.ts).
  return printable(`${String(r.seq).padStart(6)} ${time} pid ${r.pid} ${r.agent} ${what}`);
}
