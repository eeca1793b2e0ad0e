/**
 * `agentctl audit verify|show FILE`, `agentctl audit verify --redis URL`:
 * check and read decision logs. A file log is read segment by segment in
 * chunks, so a log of any size is verified and shown in flat memory.
 */
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { formatRecord, type RecordFilter } from '../../kernel/recorder/query.ts';
import { recordBatches } from '../../kernel/recorder/scan.ts';
import { segmentBaseOf } from '../../kernel/recorder/segments.ts';
import type { KeyObject } from 'node:crypto';
import { readPublicKey } from '../../kernel/recorder/anchors.ts';
import { type FileVerifyResult, verifyLogFile } from '../../kernel/recorder/verify-file.ts';
import { unreadable } from './input-file.ts';

function cannotRead(file: string, err: unknown): number {
  process.stderr.write(`agentctl: ${file}: ${unreadable(err)}\n`);
  return 2;
}

/**
 * auditVerify verifies the log FILE and its segments (with `pubkey`, its
 * anchors too): 0 it verifies, 1 a problem (named), 2 it or the key cannot be read.
 */
export function auditVerify(file: string, options: { head?: string; pubkey?: string; json?: boolean }): number {
  let publicKey: KeyObject | undefined;
  try {
    publicKey = options.pubkey === undefined ? undefined : readPublicKey(options.pubkey);
  } catch (err) {
    process.stderr.write(`agentctl: ${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  }
  let result: FileVerifyResult;
  try {
    result = verifyLogFile(file, { ...(options.head === undefined ? {} : { expectHead: options.head }), ...(publicKey === undefined ? {} : { publicKey }) });
  } catch (err) {
    return cannotRead(file, err);
  }
  // A kernel's log starts with its policy record: one with none was emptied (it verified as "ok: 0 records").
  if (result.ok && result.records === 0) result = { ...result, ok: false, problem: { kind: 'deleted', seq: 1, line: 0, message: `${file} holds no records, where a kernel's log starts with its policy record: emptied or truncated` } };
  const segments = result.segments > 1 ? ` in ${result.segments} segments` : '';
  const anchored = result.anchors === undefined ? '' : `; ${result.anchors} anchors verify, through record ${result.anchoredThrough}${result.unanchored! > 0 ? ` (the ${result.unanchored} after it rest on the chain alone)` : ''}`;
  if (options.json) process.stdout.write(`${JSON.stringify(result)}\n`);
  else if (result.ok) process.stdout.write(`ok: ${result.records} records verify${segments}; head ${result.head}${anchored}\n`);
  else process.stdout.write(`FAILED at seq ${result.problem!.seq}: ${result.problem!.message}\n${options.json ? '' : segmentHint(file, result.problem!.seq)}`);
  return result.ok ? 0 : 1;
}

/** segmentHint says, when FILE is a later segment of a log beside it, to verify the log itself (a segment alone does not start at seq 1). */
function segmentHint(file: string, seq: number): string {
  const of = seq === 1 ? segmentBaseOf(file) : undefined;
  if (of === undefined || !existsSync(of.base)) return '';
  return `${file} is segment ${of.index} of ${of.base}: run 'agentctl audit verify ${of.base}' to check every segment and the links between them\n`;
}

/** shownUrl is a Redis URL without its password, for messages. */
export function shownUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password === '') return url;
    parsed.password = '***';
    return parsed.toString();
  } catch {
    return url;
  }
}

/**
 * auditVerifyRedis verifies every node's decision stream under `prefix` in
 * the Redis at `url`: 0 all verify, 1 a problem or gap, 2 Redis unreachable
 * or no decision stream under the prefix (nothing verified; the message
 * names the prefixes that have streams there).
 */
export async function auditVerifyRedis(url: string, options: { prefix?: string; json?: boolean }): Promise<number> {
  const [{ connectRedis, whenReady }, { decisionPrefixes, formatGaps, verifyStreams }] = await Promise.all([import('../../kernel/redis/connect.ts'), import('../../kernel/recorder/redis-verify.ts')]);
  const prefix = options.prefix ?? 'agentk';
  let client;
  try {
    client = connectRedis({ url, commandTimeoutMs: 10_000 });
    await whenReady(client, 3000);
    const result = await verifyStreams(client, prefix);
    if (result.nodes.length === 0) {
      const others = (await decisionPrefixes(client)).filter((p) => p !== prefix);
      const hint = others.length > 0 ? `; prefixes with decision streams there: ${others.join(', ')} (pass one with --prefix)` : "; --prefix is the cluster's key prefix (agentk by default)";
      const error = `no decision streams under ${prefix}:decisions:* in ${shownUrl(url)}: nothing was verified${hint}`;
      if (options.json) process.stdout.write(`${JSON.stringify({ prefix, ...result, error })}\n`);
      else process.stderr.write(`agentctl: ${error}\n`);
      return 2;
    }
    if (options.json) {
      process.stdout.write(`${JSON.stringify({ prefix, ...result })}\n`);
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

/** auditShow prints the records of the log FILE (every segment) that pass the filters, waiting for stdout as it goes. */
export async function auditShow(file: string, options: { agent?: string; syscall?: string; decision?: string; type?: string; since?: string; until?: string; json?: boolean }): Promise<number> {
  let filter: RecordFilter;
  try {
    const { json: _json, ...fields } = options;
    filter = { ...fields, since: parseTime(options.since, '--since'), until: parseTime(options.until, '--until') };
  } catch (err) {
    process.stderr.write(`agentctl: ${(err as Error).message}\n`);
    return 2;
  }
  try {
    for (const batch of recordBatches(file, filter, {}, (record, line) => `${options.json ? line : formatRecord(record)}\n`)) {
      if (batch.length > 0 && !process.stdout.write(batch.join(''))) await once(process.stdout, 'drain');
    }
  } catch (err) {
    return cannotRead(file, err);
  }
  return 0;
}
