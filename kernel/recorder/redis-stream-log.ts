/**
 * RedisStreamLog writes a node's decision records to its own Redis Stream,
 * `<prefix>:decisions:<node>`: the same records and hash chain as the file
 * log (chain.ts), one stream entry per record with the id `<seq>-0` and the
 * record's JSON line in its `rec` field. Each node has its own stream and
 * chain, so there is no cross-node lock on the hot path; a node is added
 * to the set `<prefix>:decision-nodes` after its first write, for the
 * verifier.
 *
 * What is guaranteed. record() is synchronous: it seals the record (seq,
 * prev, hash) at once and queues it. Queued records go to Redis in order,
 * in batches — one batch in flight at a time, and whatever arrives
 * meanwhile goes in the next (group commit). A batch is one Lua script that
 * appends only what continues the stream's chain (same seq order, `prev` =
 * the stream's last hash), so a retried batch never duplicates a record and
 * a second writer with the same node id is refused, not interleaved.
 * beforeAction(seq) resolves once record `seq` and every record before it
 * are in the stream — acknowledged by Redis, and with `replicas` > 0 by that
 * many replicas (WAIT) — and the dispatcher runs an allowed write-access
 * action only then. If Redis is unreachable the batch fails, every waiting
 * action fails with EIO (and never runs), and the records stay queued and
 * are retried in the background until Redis is back; past `maxQueued`
 * queued records record() throws EIO, so every syscall is denied. What a
 * record "in the stream" survives depends on Redis: see the README
 * (appendonly, appendfsync always, WAIT). If Redis comes back without a
 * stream that held records (restarted empty, or the key deleted), the chain
 * goes on from where the node was in a stream that starts there, `lost`
 * says so (agentd records it), and the verifier reports what Redis lost as
 * a gap: the stream alone no longer proves those records.
 */
import type { Cluster, Redis } from 'ioredis';
import { Subject } from 'rxjs';
import type { DecisionInput, DecisionRecorder } from '../../syscalls/records.ts';
import { KernelError } from '../../abi/errno.ts';
import { redisUnavailable } from '../redis/connect.ts';
import { type ChainRecord, GENESIS, sealRecord, toChainFields } from './chain.ts';
import { APPEND, parseTail } from './stream-append.ts';

export interface StreamLogOptions {
  /** Key prefix shared by the cluster (e.g. `agentk`). */
  readonly prefix: string;
  /** This node's id: names its stream. Letters, digits, `.`, `_`, `-`. */
  readonly node: string;
  /** Replicas that must hold a record (WAIT) before it counts as written. Default 0. */
  readonly replicas?: number;
  /** How long WAIT may take, ms. Default 1000. */
  readonly replicaTimeoutMs?: number;
  /** Records queued while Redis is away (or behind) before record() refuses more. Default 100000 (about 40 MB). */
  readonly maxQueued?: number;
  /** Clock for record times (ms since the epoch). */
  readonly clock?: () => number;
}

const NODE_ID = /^[A-Za-z0-9._-]{1,64}$/;
const MAX_BATCH = 2048;

/** streamKey is node `node`'s decision stream. */
export function streamKey(prefix: string, node: string): string {
  return `${prefix}:decisions:${node}`;
}

/** nodesKey is the set of nodes that have a decision stream. */
export function nodesKey(prefix: string): string {
  return `${prefix}:decision-nodes`;
}

interface Waiter {
  readonly seq: number;
  resolve(): void;
  reject(err: KernelError): void;
}

/** StreamLoss is what Redis lost of a stream it came back without: records 1 to `through`; the chain went on at `resumedAt`. */
export interface StreamLoss {
  readonly key: string;
  readonly through: number;
  readonly resumedAt: number;
}

export class RedisStreamLog implements DecisionRecorder {
  readonly key: string;
  readonly node: string;
  /** Every record as sealed, for live followers. */
  readonly appended = new Subject<ChainRecord>();
  /** Each time Redis came back without this stream (restarted empty, or the key deleted) and the chain went on in a new one. */
  readonly lost = new Subject<StreamLoss>();
  private readonly client: Redis | Cluster;
  private readonly replicas: number;
  private readonly replicaTimeoutMs: number;
  private readonly maxQueued: number;
  private readonly clock: () => number;
  private readonly prefix: string;
  private seq = 0;
  private prev = GENESIS;
  private writtenSeq = 0;
  private opened = false;
  /** Mirrored records that came before the stream was open: sealed, in order, once it is. */
  private early: { fields: Omit<ChainRecord, 'seq' | 'time' | 'prev' | 'hash'>; time: number }[] = [];
  /** Whether the node is known to be in the set of nodes with a stream (added after its first write). */
  private listed = false;
  private queue: { seq: number; prev: string; hash: string; line: string }[] = [];
  private waiters: Waiter[] = [];
  private inFlight: Promise<void> | undefined;
  private scheduled = false;
  private retry: NodeJS.Timeout | undefined;
  private retryMs = 50;
  /** Set when the stream holds records this node did not write: nothing more is recorded. */
  private fenced: KernelError | undefined;
  private closed = false;

  private constructor(client: Redis | Cluster, options: StreamLogOptions) {
    if (!NODE_ID.test(options.node)) throw new KernelError('EINVAL', `bad node id '${options.node}': use letters, digits, '.', '_' and '-'`);
    this.client = client;
    this.node = options.node;
    this.prefix = options.prefix;
    this.key = streamKey(options.prefix, options.node);
    this.replicas = options.replicas ?? 0;
    this.replicaTimeoutMs = options.replicaTimeoutMs ?? 1000;
    this.maxQueued = options.maxQueued ?? 100_000;
    this.clock = options.clock ?? Date.now;
  }

  /**
   * open continues node `node`'s stream where it ends (a new stream starts
   * at seq 1). EINVAL for a bad node id; EIO when Redis cannot be reached or
   * the stream's last entry is not an intact record.
   */
  static async open(client: Redis | Cluster, options: StreamLogOptions): Promise<RedisStreamLog> {
    const log = new RedisStreamLog(client, options);
    await log.readTail();
    return log;
  }

  /**
   * connect returns at once and opens the stream in the background, trying
   * again whenever the client becomes ready and every half second while
   * Redis is away. Until it is open record() refuses (EIO) and mirror()
   * keeps the records, to seal them in order once it is. A damaged tail
   * stops it for good (see `problem`). EINVAL for a bad node id.
   */
  static connect(client: Redis | Cluster, options: StreamLogOptions): RedisStreamLog {
    const log = new RedisStreamLog(client, options);
    let trying = false;
    const attempt = (): void => {
      if (log.closed || log.opened || log.fenced || trying) return;
      trying = true;
      log.readTail().then(
        () => {
          trying = false;
          client.off('ready', attempt);
        },
        (err: unknown) => {
          trying = false;
          if (err instanceof KernelError && err.message.includes('not an intact record')) log.fenced = err;
          else setTimeout(attempt, 500).unref();
        },
      );
    };
    client.on('ready', attempt);
    attempt();
    return log;
  }

  /** isOpen is true once the stream's tail is known and records are taken. */
  get isOpen(): boolean {
    return this.opened;
  }

  /** problem says why the log records nothing more (a damaged stream, another writer), if it does not. */
  get problem(): string | undefined {
    return this.fenced?.message;
  }

  private async readTail(): Promise<void> {
    let last: [string, string[]][];
    try {
      last = await this.client.xrevrange(this.key, '+', '-', 'COUNT', 1);
    } catch (err) {
      throw redisUnavailable(err, this.key);
    }
    const tail = parseTail(this.key, last[0]);
    this.seq = tail.seq;
    this.prev = tail.hash;
    this.writtenSeq = tail.seq;
    this.listed = tail.seq > 0;
    this.opened = true;
    const early = this.early;
    this.early = [];
    for (const r of early) this.append(r.fields, r.time);
  }

  /** count is the sequence number of the last record. */
  get count(): number {
    return this.seq;
  }

  /** head is the hash of the last record. */
  get head(): string {
    return this.prev;
  }

  /** written is the sequence number of the last record Redis holds. */
  get written(): number {
    return this.writtenSeq;
  }

  /** record seals `entry` into the chain, queues it for Redis and returns its seq. EIO when not open, closed, fenced or too far behind. */
  record(entry: DecisionInput): number {
    return this.append(toChainFields(entry), this.clock());
  }

  /**
   * mirror seals a record another log made (its fields and time, not its
   * seq or hashes) into this chain: agentd mirrors every record of its file
   * log this way. Same errors as record().
   */
  mirror(record: ChainRecord): number {
    const { seq: _seq, time, prev: _prev, hash: _hash, ...fields } = record;
    if (!this.opened && !this.fenced && !this.closed) {
      if (this.early.length >= this.maxQueued) throw new KernelError('EIO', `redis unavailable: ${this.early.length} decision records wait for ${this.key} to open; refusing more`);
      this.early.push({ fields, time });
      return 0;
    }
    return this.append(fields, time);
  }

  /**
   * barrier is beforeAction for everything recorded or mirrored so far:
   * undefined when it is all in the stream, else a promise that resolves
   * once it is (EIO at once while the stream is not open).
   */
  barrier(): Promise<void> | undefined {
    if (!this.opened) return this.early.length === 0 ? undefined : Promise.reject(new KernelError('EIO', `redis unavailable: decision stream ${this.key} is not open yet`));
    return this.beforeAction(this.seq);
  }

  private append(fields: Omit<ChainRecord, 'seq' | 'time' | 'prev' | 'hash'>, time: number): number {
    if (this.fenced) throw this.fenced;
    if (this.closed) throw new KernelError('EIO', `decision stream ${this.key} is closed`);
    if (!this.opened) throw new KernelError('EIO', `redis unavailable: decision stream ${this.key} is not open yet`);
    if (this.queue.length >= this.maxQueued) throw new KernelError('EIO', `redis unavailable: ${this.queue.length} decision records wait for ${this.key}; refusing more`);
    this.seq++;
    const sealed = sealRecord(fields, this.seq, time, this.prev);
    this.queue.push({ seq: this.seq, prev: this.prev, hash: sealed.hash, line: sealed.line.slice(0, -1) });
    this.prev = sealed.hash;
    if (this.appended.observed) this.appended.next({ ...sealed.record, hash: sealed.hash } as ChainRecord);
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(() => {
        this.scheduled = false;
        this.pump();
      });
    }
    return this.seq;
  }

  beforeAction(seq: number): Promise<void> | undefined {
    return seq <= this.writtenSeq ? undefined : this.whenWritten(seq);
  }

  /** whenWritten resolves once record `seq` is in the stream (and on the replicas asked for); rejects with EIO if the attempt fails. */
  whenWritten(seq: number): Promise<void> {
    if (seq <= this.writtenSeq) return Promise.resolve();
    if (this.fenced) return Promise.reject(this.fenced);
    if (this.closed) return Promise.reject(new KernelError('EIO', `decision stream ${this.key} is closed; record ${seq} was not written`));
    return new Promise((resolve, reject) => {
      this.waiters.push({ seq, resolve, reject });
      // Someone waits: try now rather than at the next background retry (fails at once while Redis is away).
      clearTimeout(this.retry);
      this.retry = undefined;
      this.pump();
    });
  }

  /** flush resolves once every record made so far is in the stream; rejects with EIO if it cannot be written now. */
  flush(): Promise<void> {
    return this.whenWritten(this.seq);
  }

  /** close writes what is queued (waiting at most `timeoutMs`), then refuses new records. The client stays open. */
  async close(timeoutMs = 2000): Promise<void> {
    if (this.closed) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.flush().catch(() => undefined), new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
    this.closed = true;
    clearTimeout(this.retry);
  }

  /**
   * pump sends the next batch unless one is in flight, a retry is pending, or
   * the log is closed or fenced. (A closed log must not pump: with its client
   * gone every send fails at once, and fail() schedules no retry once closed,
   * so pumping again from the finally below would spin forever.)
   */
  private pump(): void {
    if (this.inFlight !== undefined || this.retry !== undefined || this.queue.length === 0 || this.fenced || this.closed) return;
    this.inFlight = this.send().finally(() => {
      this.inFlight = undefined;
      this.pump();
    });
  }

  private async send(): Promise<void> {
    const batch = this.queue.slice(0, MAX_BATCH);
    // Once Redis has held records of this stream, finding it empty means Redis lost them: go on, and say so.
    const resume = this.writtenSeq > 0 ? 1 : 0;
    const args = [resume, ...batch.flatMap((r) => [r.seq, r.prev, r.hash, r.line])];
    let last: number;
    try {
      last = await this.write(args);
    } catch (err) {
      const error = redisUnavailable(err, this.key);
      if (error.message.includes('ECHAIN')) this.fenced = new KernelError('EIO', `decision stream ${this.key} was written by someone else; this node records no more: ${error.message}`);
      this.fail(this.fenced ?? error);
      return;
    }
    this.queue.splice(0, batch.length);
    if (last < 0) {
      const loss: StreamLoss = { key: this.key, through: this.writtenSeq, resumedAt: batch[0]!.seq };
      this.listed = false;
      this.lost.next(loss);
    }
    this.writtenSeq = batch[batch.length - 1]!.seq;
    if (!this.listed) {
      // Listed once it has records, so a listed node without a stream is one whose stream was deleted.
      await this.client.sadd(nodesKey(this.prefix), this.node).then(
        () => (this.listed = true),
        () => undefined,
      );
    }
    this.retryMs = 50;
    if (this.waiters.length > 0) {
      const still: Waiter[] = [];
      for (const w of this.waiters) {
        if (w.seq <= this.writtenSeq) w.resolve();
        else still.push(w);
      }
      this.waiters = still;
    }
  }

  /** write runs APPEND (and WAIT, when replicas are asked for) in one round trip; APPEND's reply (negative: the stream was resumed). */
  private async write(args: (string | number)[]): Promise<number> {
    if (this.replicas === 0) return Number(await APPEND.run(this.client, [this.key], args));
    for (let attempt = 0; ; attempt++) {
      const replies = await this.client.pipeline().evalsha(APPEND.sha, 1, this.key, ...args).wait(this.replicas, this.replicaTimeoutMs).exec();
      const [scriptErr] = replies?.[0] ?? [new Error('no reply')];
      if (scriptErr instanceof Error && scriptErr.message.startsWith('NOSCRIPT') && attempt === 0) {
        await this.client.script('LOAD', APPEND.source);
        continue;
      }
      if (scriptErr) throw scriptErr;
      const [waitErr, acked] = replies![1]!;
      if (waitErr) throw waitErr;
      if ((acked as number) < this.replicas) throw new KernelError('EIO', `redis unavailable: ${String(acked)} of ${this.replicas} replicas hold the records of ${this.key} after ${this.replicaTimeoutMs} ms`);
      return Number(replies![0]![1]);
    }
  }

  /** fail rejects every waiting action and retries the queue in the background. */
  private fail(error: KernelError): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.reject(error);
    if (this.fenced || this.closed) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.pump();
    }, this.retryMs);
    this.retry.unref();
    this.retryMs = Math.min(this.retryMs * 2, 1000);
  }
}
