/**
 * verifyStreams checks the decision stream of every node under a prefix:
 * the nodes listed in `<prefix>:decision-nodes` and every stream found by
 * scanning `<prefix>:decisions:*` (so dropping a node from the list hides
 * nothing). For each stream, in entry order: every entry must hold one
 * record rebuilt byte for byte from its own fields (else it was edited),
 * under the entry id `<seq>-0` (else it was moved), each record must name
 * the previous record's hash (else the chain is broken), and sequence
 * numbers must run on by one from 1: every missing run is reported as a
 * gap (records deleted), and checking carries on after it from the next
 * record. A listed node without a stream lost all of its records.
 */
import { Cluster, type Redis } from 'ioredis';
import { redisUnavailable } from '../redis/connect.ts';
import { body, type ChainRecord, GENESIS, seal } from './chain.ts';
import { nodesKey, streamKey } from './redis-stream-log.ts';

export type StreamProblemKind = 'edited' | 'moved' | 'broken-chain' | 'malformed' | 'missing-stream';

export interface StreamProblem {
  readonly kind: StreamProblemKind;
  /** The record (or stream entry) concerned. */
  readonly seq: number;
  readonly message: string;
}

/** A run of missing sequence numbers, inclusive. */
export interface StreamGap {
  readonly from: number;
  readonly to: number;
}

export interface StreamVerifyResult {
  readonly node: string;
  readonly key: string;
  readonly ok: boolean;
  /** Records that verified. */
  readonly records: number;
  /** seq and hash of the last record. */
  readonly last: number;
  readonly head: string;
  readonly gaps: readonly StreamGap[];
  /** The first problems found (at most 20). */
  readonly problems: readonly StreamProblem[];
}

export interface StreamsVerifyResult {
  readonly ok: boolean;
  readonly nodes: readonly StreamVerifyResult[];
}

const PAGE = 1000;
const MAX_PROBLEMS = 20;

/** isWrongType: Redis refused a command because the key holds another kind of value (WRONGTYPE). */
export const isWrongType = (err: unknown): boolean => err instanceof Error && err.message.startsWith('WRONGTYPE');

/** streamEntries yields the entries of the stream at `key` in order, read a page of PAGE at a time. */
export async function* streamEntries(client: Redis | Cluster, key: string): AsyncGenerator<[id: string, fields: string[]], void, void> {
  let start = '-';
  for (;;) {
    const page = await client.xrange(key, start, '+', 'COUNT', PAGE);
    yield* page;
    if (page.length < PAGE) return;
    start = `(${page[page.length - 1]![0]}`;
  }
}

/** verifyStream checks one node's stream. EIO when Redis cannot be read. */
export async function verifyStream(client: Redis | Cluster, prefix: string, node: string): Promise<StreamVerifyResult> {
  const key = streamKey(prefix, node);
  const gaps: StreamGap[] = [];
  const problems: StreamProblem[] = [];
  const problem = (kind: StreamProblemKind, seq: number, message: string) => {
    if (problems.length < MAX_PROBLEMS) problems.push({ kind, seq, message });
  };
  let expected = 1;
  let prev = GENESIS;
  let records = 0;
  let last = 0;
  try {
    if ((await client.exists(key)) === 0) {
      problem('missing-stream', 0, `node ${node} is listed but its stream ${key} does not exist: all of its records are gone`);
    }
    for await (const [id, fields] of streamEntries(client, key)) {
      const idSeq = Number(id.slice(0, id.indexOf('-')));
      const line = fields[0] === 'rec' && fields.length === 2 ? fields[1]! : undefined;
      let record: ChainRecord | undefined;
      try {
        record = line === undefined ? undefined : (JSON.parse(line) as ChainRecord);
      } catch {
        record = undefined;
      }
      if (record === undefined || record === null || typeof record.seq !== 'number' || typeof record.hash !== 'string') {
        problem('malformed', idSeq, `entry ${id} is not a decision record`);
        continue;
      }
      if (seal(body(record as unknown as Record<string, unknown>)).line !== `${line}\n`) {
        problem('edited', record.seq, `record ${record.seq} (entry ${id}) does not match its hash: edited`);
      } else if (id !== `${record.seq}-0`) {
        problem('moved', record.seq, `entry ${id} holds record ${record.seq}: moved or re-added`);
      }
      if (record.seq > expected) {
        gaps.push({ from: expected, to: record.seq - 1 });
      } else if (record.prev !== prev) {
        problem('broken-chain', record.seq, `record ${record.seq} does not follow the hash of record ${record.seq - 1}: inserted or edited`);
      }
      if (record.seq >= expected) {
        expected = record.seq + 1;
        last = record.seq;
      }
      prev = record.hash;
      records++;
    }
  } catch (err) {
    if (!isWrongType(err)) throw redisUnavailable(err, key);
    problem('malformed', 0, `${key} holds another kind of value than a stream: not a decision stream`);
  }
  return { node, key, ok: gaps.length === 0 && problems.length === 0, records, last, head: prev, gaps, problems };
}

/** streamNodes lists the nodes that have (or had) a decision stream under `prefix`, sorted. */
export async function streamNodes(client: Redis | Cluster, prefix: string): Promise<string[]> {
  const nodes = new Set(await client.smembers(nodesKey(prefix)));
  const marker = `${prefix}:decisions:`;
  const servers: (Redis | Cluster)[] = client instanceof Cluster ? client.nodes('master') : [client];
  for (const server of servers) {
    let cursor = '0';
    do {
      // The prefix is matched as text: a '*', '?', '[' or '\\' in it is escaped, not a pattern.
      const [next, keys] = await server.scan(cursor, 'MATCH', `${marker.replace(/[*?[\]\\]/g, '\\$&')}*`, 'COUNT', 1000);
      for (const key of keys) nodes.add(key.slice(marker.length));
      cursor = next;
    } while (cursor !== '0');
  }
  return [...nodes].toSorted();
}

/**
 * verifyStreams checks every node's stream under `prefix`; not ok when there
 * is none (nothing was verified: a wrong prefix must not pass as a clean
 * log). EIO when Redis cannot be read.
 */
export async function verifyStreams(client: Redis | Cluster, prefix: string): Promise<StreamsVerifyResult> {
  let nodes: string[];
  try {
    nodes = await streamNodes(client, prefix);
  } catch (err) {
    throw redisUnavailable(err, `${prefix}:decisions:*`);
  }
  const results: StreamVerifyResult[] = [];
  for (const node of nodes) results.push(await verifyStream(client, prefix, node));
  return { ok: results.length > 0 && results.every((r) => r.ok), nodes: results };
}

const SCAN_PAGES = 100;
const NODES_SUFFIX = ':decision-nodes';
const STREAM_INFIX = ':decisions:';

/**
 * decisionPrefixes lists (sorted, at most `limit`) the prefixes that have
 * decision streams in this Redis, to suggest when a prefix has none. It
 * scans at most 100 pages of 1,000 keys per server. EIO when Redis cannot
 * be read.
 */
export async function decisionPrefixes(client: Redis | Cluster, limit = 10): Promise<string[]> {
  const found = new Set<string>();
  const servers: (Redis | Cluster)[] = client instanceof Cluster ? client.nodes('master') : [client];
  try {
    for (const server of servers) {
      let cursor = '0';
      let pages = 0;
      do {
        const [next, keys] = await server.scan(cursor, 'MATCH', '*:decision*', 'COUNT', 1000);
        for (const key of keys) {
          const at = key.endsWith(NODES_SUFFIX) ? key.length - NODES_SUFFIX.length : key.lastIndexOf(STREAM_INFIX);
          if (at > 0) found.add(key.slice(0, at));
        }
        cursor = next;
      } while (cursor !== '0' && ++pages < SCAN_PAGES && found.size < limit);
    }
  } catch (err) {
    throw redisUnavailable(err, '*:decision*');
  }
  return [...found].toSorted().slice(0, limit);
}

/** formatGaps says which records are missing: "5–7, 12". */
export function formatGaps(gaps: readonly StreamGap[]): string {
  return gaps.map((g) => (g.from === g.to ? `${g.from}` : `${g.from}–${g.to}`)).join(', ');
}
