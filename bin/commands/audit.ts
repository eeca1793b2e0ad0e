/** `agentctl audit verify|show FILE`: check and read a decision log. */
import { readFileSync } from 'node:fs';
import { filterRecords, formatRecord, parseRecords, type RecordFilter } from '../../kernel/recorder/query.ts';
import { verifyLog } from '../../kernel/recorder/verify.ts';

function readLog(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    process.stderr.write(`agentctl: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}\n`);
    return undefined;
  }
}

export function auditVerify(file: string, options: { head?: string; json?: boolean }): number {
  const text = readLog(file);
  if (text === undefined) return 2;
  const result = verifyLog(text, options.head === undefined ? {} : { expectHead: options.head });
  if (options.json) process.stdout.write(`${JSON.stringify(result)}\n`);
  else if (result.ok) process.stdout.write(`ok: ${result.records} records verify; head ${result.head}\n`);
  else process.stdout.write(`FAILED at seq ${result.problem!.seq}: ${result.problem!.message}\n`);
  return result.ok ? 0 : 1;
}

function parseTime(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const t = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
  if (Number.isNaN(t)) throw new Error(`${flag} must be an ISO time or milliseconds since the epoch`);
  return t;
}

export function auditShow(file: string, options: { agent?: string; syscall?: string; decision?: string; type?: string; since?: string; until?: string; json?: boolean }): number {
  const text = readLog(file);
  if (text === undefined) return 2;
  let filter: RecordFilter;
  try {
    filter = { ...options, since: parseTime(options.since, '--since'), until: parseTime(options.until, '--until') };
  } catch (err) {
    process.stderr.write(`agentctl: ${(err as Error).message}\n`);
    return 2;
  }
  for (const record of filterRecords(parseRecords(text), filter)) {
    process.stdout.write(`${options.json ? JSON.stringify(record) : formatRecord(record)}\n`);
  }
  return 0;
}
