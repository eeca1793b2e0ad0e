/**
 * Where replay reads records from: a file decision log (every segment, in
 * chunks, so memory stays flat whatever its size) or the decision streams
 * of a cluster's nodes in Redis (one node's, or all merged in time order).
 * Each source checks that its records are one whole chain — seq running on
 * by one from 1, each naming the previous record's hash — so a truncated
 * log, a missing segment, a gap Redis lost or a file of another format is
 * refused with one line naming the log and the line or record, never
 * replayed in part. (Recomputing each hash is `agentctl audit verify`'s
 * job, and `replay --verify` runs it first.)
 */
import type { Cluster, Redis } from 'ioredis';
import { GENESIS } from '../recorder/chain.ts';
import { LineSplitter, readChunks, type LineKind } from '../recorder/line-reader.ts';
import { nodesKey, streamKey } from '../recorder/redis-stream-log.ts';
import { logSegments, segmentOf } from '../recorder/segments.ts';
import { type LogRecord, type Replayer, ReplayError } from './replay.ts';

/** ChainCheck follows one chain: each record must come next (seq) and name the hash before it. */
class ChainCheck {
  private seq = 0;
  private hash = GENESIS;

  /** next checks `record`, read at `where`; ReplayError when it is not the next record of the chain. */
  next(record: unknown, where: string): LogRecord {
    if (record === null || typeof record !== 'object' || Array.isArray(record)) throw new ReplayError(where, 'not a decision record');
    const { seq, prev, hash } = record as LogRecord;
    if (typeof seq !== 'number' || typeof prev !== 'string' || typeof hash !== 'string') throw new ReplayError(where, 'not a decision record (no seq, prev and hash)');
    if (seq !== this.seq + 1) {
      const why = this.seq === 0 ? `the log starts at record ${seq}, not 1: its beginning is missing` : `record ${seq} follows record ${this.seq}: records are missing or out of order`;
      throw new ReplayError(where, `${why}; a replay needs the whole log`);
    }
    if (prev !== this.hash) throw new ReplayError(where, `record ${seq} does not follow the hash of record ${this.seq}: the chain is broken (run 'agentctl audit verify')`);
    this.seq = seq;
    this.hash = hash;
    return record as LogRecord;
  }

  get records(): number {
    return this.seq;
  }
}

function parsed(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new ReplayError(where, 'not JSON: not a decision log');
  }
}

/**
 * replayFile feeds every record of the file log at `base` (all its
 * segments) to `replayer`: ReplayError for a log it cannot replay whole;
 * file errors (ENOENT…) as they are.
 */
export function replayFile(base: string, replayer: Replayer): number {
  const segments = logSegments(base);
  const chain = new ChainCheck();
  let name = base;
  let lineNo = 0;
  let last = false;
  const splitter = new LineSplitter((bytes: Buffer, kind: LineKind) => {
    lineNo++;
    const where = `${name}:${lineNo}`;
    if (kind === 'torn') throw new ReplayError(where, `the log ends inside a record ${last ? '(a torn tail: the writer stopped mid-record)' : '(the segment was cut short)'}; a replay needs whole records`);
    if (kind === 'overlong') throw new ReplayError(where, 'a line longer than any decision record: not a decision log');
    replayer.feed(chain.next(parsed(bytes.toString('utf8'), where), where), where);
  });
  let expected = 1;
  for (const [i, segment] of segments.entries()) {
    if (segment.index !== expected) throw new ReplayError(segmentOf(base, expected).path, `segment missing: the log goes on in ${segment.name}; a replay needs every segment`);
    expected = segment.index + 1;
    name = segment.path;
    lineNo = 0;
    last = i === segments.length - 1;
    for (const chunk of readChunks(segment.path)) splitter.push(chunk);
    splitter.end();
  }
  if (chain.records === 0) throw new ReplayError(base, 'no records: nothing to replay');
  return chain.records;
}

/** A node's stream read page by page. */
class StreamReader {
  readonly node: string;
  private readonly key: string;
  private readonly client: Redis | Cluster;
  private page: [string, string[]][] = [];
  private at = 0;
  private start = '-';
  private ended = false;
  private readonly chain = new ChainCheck();
  /** The next record, checked, once `fill` has run; undefined at the end. */
  head: { record: LogRecord; time: number; where: string } | undefined;

  constructor(client: Redis | Cluster, prefix: string, node: string) {
    this.client = client;
    this.node = node;
    this.key = streamKey(prefix, node);
  }

  /** fill makes `head` the next record (reading the next page when this one is used up). */
  async fill(): Promise<void> {
    if (this.at >= this.page.length && !this.ended) {
      this.page = (await this.client.xrange(this.key, this.start, '+', 'COUNT', 1000)) as [string, string[]][];
      this.at = 0;
      if (this.page.length < 1000) this.ended = true;
      const lastId = this.page[this.page.length - 1]?.[0];
      if (lastId !== undefined) this.start = `(${lastId}`;
    }
    const entry = this.page[this.at++];
    if (entry === undefined) {
      this.head = undefined;
      return;
    }
    const [id, fields] = entry;
    const where = `${this.key} entry ${id}`;
    if (fields[0] !== 'rec' || fields.length !== 2) throw new ReplayError(where, "not a decision record (no 'rec' field)");
    const record = this.chain.next(parsed(fields[1]!, where), where);
    this.head = { record, time: typeof record.time === 'number' ? record.time : 0, where };
  }

  get records(): number {
    return this.chain.records;
  }
}

/**
 * replayStreams feeds the decision records of the cluster under `prefix`
 * to `replayer`: the stream of `node` alone, or every node's (those listed
 * and those found) merged in time order (ties by node id). A node listed
 * without a stream, or a stream that is not one whole chain, is refused.
 */
export async function replayStreams(client: Redis | Cluster, prefix: string, replayer: Replayer, node?: string): Promise<number> {
  let nodes: string[];
  if (node !== undefined) nodes = [node];
  else {
    const listed = await client.smembers(nodesKey(prefix));
    nodes = listed.toSorted();
  }
  if (nodes.length === 0) throw new ReplayError(`${prefix}:decision-nodes`, 'no decision streams under this prefix: nothing to replay');
  const readers: StreamReader[] = [];
  for (const name of nodes) {
    if ((await client.exists(streamKey(prefix, name))) === 0) throw new ReplayError(streamKey(prefix, name), `node ${name}'s decision stream does not exist (Redis lost it, or no such node): nothing of it can be replayed`);
    const reader = new StreamReader(client, prefix, name);
    await reader.fill();
    readers.push(reader);
  }
  let total = 0;
  for (;;) {
    let next: StreamReader | undefined;
    for (const r of readers) if (r.head !== undefined && (next === undefined || r.head.time < next.head!.time)) next = r;
    if (next === undefined) break;
    const { record, where } = next.head!;
    replayer.feed(record, where);
    total++;
    await next.fill();
  }
  if (total === 0) throw new ReplayError(prefix, 'the decision streams hold no records: nothing to replay');
  return total;
}
