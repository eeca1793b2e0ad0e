/** `agentctl audit verify|show FILE`, `agentctl audit verify --redis URL`: check and read decision logs. */
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

/**
 * auditVerifyRedis verifies every node's decision stream under `prefix` in
 * the Redis at `url`: 0 all verify, 1 a problem or gap, 2 Redis unreachable.
 */
export async function auditVerifyRedis(url: string, options: { prefix?: string; json?: boolean }): Promise<number> {
  const [{ connectRedis, whenReady }, { formatGaps, verifyStreams }] = await Promise.all([import('../../kernel/redis/connect.ts'), import('../../kernel/recorder/redis-verify.ts')]);
  const prefix = options.prefix ?? 'agentk';
  let client;
  try {
    client = connectRedis({ url, commandTimeoutMs: 10_000 });
    await whenReady(client, 3000);
    const result = await verifyStreams(client, prefix);
    if (options.json) {
      process.stdout.write(`${JSON.stringify({ prefix, ...result })}\n`);
    } else if (result.nodes.length === 0) {
      process.stdout.write(`no decision streams under ${prefix}:decisions:* in ${url}\n`);
    } else {
      for (const n of result.nodes) {
        if (n.ok) {
          process.stdout.write(`${n.node}: ok: ${n.records} records verify; head ${n.head}\n`);
          continue;
        }
        const gaps = n.gaps.length === 0 ? '' : `; records missing (gaps): ${formatGaps(n.gaps)}`;
        process.stdout.write(`${n.node}: FAILED: ${n.records} records read, last seq ${n.last}${gaps}\n`);
        for (const p of n.problems) process.stdout.write(`  ${p.kind} at seq ${p.seq}: ${p.message}\n`);
      }
    }
    return result.ok ? 0 : 1;
  } catch (err) {
    process.stderr.write(`agentctl: ${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  } finally {
    client?.disconnect();
  }
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
