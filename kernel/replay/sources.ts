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
import type { LineKind } from '../recorder/line-reader.ts';
import { streamKey } from '../recorder/redis-stream-log.ts';
import { isWrongType, streamEntries, streamNodes } from '../recorder/redis-verify.ts';
import { logSegments, walkSegments } from '../recorder/segments.ts';
import { decisionLine } from './decision-line.ts';
import { type LogRecord, type Replayer, ReplayError } from './replay.ts';

/** The end of every sealed line, `,"prev":"<64 hex>","hash":"<64 hex>"}`: its length, and where prev and hash start, counted from the end. */
const TAIL = 149;
const PREV_AT = 140;
const HASH_AT = 66;

/** Head is what the chain and the replay need of a line before deciding to parse it. */
interface Head {
  readonly seq: number;
  /** Where `,"time":` starts (right after seq). */
  readonly timeAt: number;
  readonly prev: string;
  readonly hash: string;
  readonly type: string;
}

/**
 * headOf reads seq, type, prev and hash from a line as the recorder writes
 * it (chain.ts: `{"seq":N,"time":N,"type":"…",…,"prev":"…","hash":"…"}`)
 * without parsing the rest; undefined for a line of any other shape (which
 * is then parsed in full).
 */
function headOf(text: string): Head | undefined {
  const n = text.length;
  if (n < TAIL + 30 || !text.startsWith('{"seq":') || !text.endsWith('"}')) return undefined;
  if (!text.startsWith(',"prev":"', n - TAIL) || !text.startsWith('","hash":"', n - HASH_AT - 10)) return undefined;
  const comma = text.indexOf(',', 7);
  const seq = Number(text.slice(7, comma));
  const typeAt = text.indexOf(',"type":"', comma);
  if (!Number.isSafeInteger(seq) || typeAt < 0) return undefined;
  const typeEnd = text.indexOf('"', typeAt + 9);
  return { seq, timeAt: comma, type: text.slice(typeAt + 9, typeEnd), prev: text.slice(n - PREV_AT, n - PREV_AT + 64), hash: text.slice(n - HASH_AT, n - 2) };
}

/** ChainCheck follows one chain: each record must come next (seq) and name the hash before it. */
class ChainCheck {
  private seq = 0;
  private hash = GENESIS;

  /** next checks a record's place, read at `where`; ReplayError when it is not the next record of the chain. */
  next(seq: unknown, prev: unknown, hash: unknown, where: () => string): void {
    if (typeof seq !== 'number' || typeof prev !== 'string' || typeof hash !== 'string') throw new ReplayError(where(), 'not a decision record (no seq, prev and hash)');
    if (seq !== this.seq + 1) {
      const why = this.seq === 0 ? `the log starts at record ${seq}, not 1: its beginning is missing` : `record ${seq} follows record ${this.seq}: records are missing or out of order`;
      throw new ReplayError(where(), `${why}; a replay needs the whole log`);
    }
    if (prev !== this.hash) throw new ReplayError(where(), `record ${seq} does not follow the hash of record ${this.seq}: the chain is broken (run 'agentctl audit verify')`);
    this.seq = seq;
    this.hash = hash;
  }

  get records(): number {
    return this.seq;
  }
}

function parsed(text: string, where: () => string): LogRecord {
  let record: unknown;
  try {
    record = JSON.parse(text);
  } catch {
    throw new ReplayError(where(), 'not JSON: not a decision log');
  }
  if (record === null || typeof record !== 'object' || Array.isArray(record)) throw new ReplayError(where(), 'not a decision record');
  return record as LogRecord;
}

/**
 * take follows one line of a chain into `replayer`: its place is checked
 * from its head, and it is parsed only when the replay wants it (or when
 * it is not in the recorder's shape, to say what it is).
 */
function take(text: string, chain: ChainCheck, replayer: Replayer, where: () => string, node?: string): void {
  const head = headOf(text);
  if (head === undefined) {
    const record = parsed(text, where);
    chain.next(record.seq, record.prev, record.hash, where);
    replayer.feed(record, where, node);
    return;
  }
  chain.next(head.seq, head.prev, head.hash, where);
  if (!replayer.wants(head.type)) return replayer.pass();
  // A decision is read without parsing what replay does not use; a line in any other shape is parsed in full.
  const record = (head.type === 'syscall' ? decisionLine(text, head.seq, head.timeAt) : undefined) ?? parsed(text, where);
  if (record.seq !== head.seq) throw new ReplayError(where(), 'not a record as the recorder writes it (its seq is not where it should be)');
  replayer.feed(record, where, node);
}

/**
 * replayFile feeds every record of the file log at `base` (all its
 * segments) to `replayer`: ReplayError for a log it cannot replay whole;
 * file errors (ENOENT…) as they are.
 */
export function replayFile(base: string, replayer: Replayer): number {
  const chain = new ChainCheck();
  let name = base;
  let lineNo = 0;
  let last = false;
  const where = () => `${name}:${lineNo}`;
  walkSegments(base, logSegments(base), {
    segment(segment, missing, isLast) {
      if (missing !== undefined) throw new ReplayError(missing.path, `segment missing: the log goes on in ${segment.name}; a replay needs every segment`);
      name = segment.path;
      lineNo = 0;
      last = isLast;
    },
    line(bytes: Buffer, kind: LineKind) {
      lineNo++;
      if (kind === 'torn') throw new ReplayError(where(), `the log ends inside a record ${last ? '(a torn tail: the writer stopped mid-record)' : '(the segment was cut short)'}; a replay needs whole records`);
      if (kind === 'overlong') throw new ReplayError(where(), 'a line longer than any decision record: not a decision log');
      take(bytes.toString('utf8'), chain, replayer, where);
    },
  });
  if (chain.records === 0) throw new ReplayError(base, 'no records: nothing to replay');
  return chain.records;
}

/** A node's stream read page by page. */
class StreamReader {
  readonly node: string;
  private readonly key: string;
  private readonly entries: AsyncIterator<[id: string, fields: string[]], void, void>;
  private readonly chain = new ChainCheck();
  /** The next record's line and time, once `fill` has run; undefined at the end. */
  head: { line: string; time: number; where: () => string } | undefined;

  constructor(client: Redis | Cluster, prefix: string, node: string) {
    this.node = node;
    this.key = streamKey(prefix, node);
    this.entries = streamEntries(client, this.key);
  }

  /** fill makes `head` the next record. */
  async fill(): Promise<void> {
    let next: IteratorResult<[string, string[]], void>;
    try {
      next = await this.entries.next();
    } catch (err) {
      if (isWrongType(err)) throw new ReplayError(this.key, 'holds another kind of value than a stream: not a decision stream');
      throw err;
    }
    if (next.done === true) {
      this.head = undefined;
      return;
    }
    const entry = next.value;
    const [id, fields] = entry;
    const where = () => `${this.key} entry ${id}`;
    if (fields[0] !== 'rec' || fields.length !== 2) throw new ReplayError(where(), "not a decision record (no 'rec' field)");
    const line = fields[1]!;
    // Streams are merged by time: `"time":N` follows `{"seq":N,` in every record the recorder writes.
    const at = line.indexOf(',"time":');
    const time = at < 0 ? Number.NaN : Number.parseInt(line.slice(at + 8, at + 30), 10);
    if (!Number.isFinite(time)) throw new ReplayError(where(), 'not a decision record (no time)');
    this.head = { line, time, where };
  }

  /** take follows the head line into `replayer`. */
  take(replayer: Replayer): void {
    take(this.head!.line, this.chain, replayer, this.head!.where, this.node);
  }
}

/**
 * replayStreams feeds the decision records of the cluster under `prefix`
 * to `replayer`: the stream of `node` alone, or every node's (those listed
 * and those found) merged in time order (ties by node id). A node listed
 * without a stream, or a stream that is not one whole chain, is refused.
 */
export async function replayStreams(client: Redis | Cluster, prefix: string, replayer: Replayer, node?: string): Promise<number> {
  const nodes = node !== undefined ? [node] : await streamNodes(client, prefix);
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
    next.take(replayer);
    total++;
    await next.fill();
  }
  if (total === 0) throw new ReplayError(prefix, 'the decision streams hold no records: nothing to replay');
  return total;
}
