/**
 * The decision log: query, live stream (SSE), verify. Queries and verifies
 * read the log (every segment) in worker threads (log-scans.ts), up to where
 * it had been written when the request came, so a log of any size never
 * stalls agentd; a query keeps only the `limit` matches it answers
 * (log-query.ts) and answers at most MAX_ANSWER_CHARS of records. A live follower that does not read gets
 * at most MAX_UNSENT_BYTES queued; past that its stream ends with an
 * `overflow` event naming the seq to resume after.
 */
import type { ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { Counter, Gauge } from 'prom-client';
import type { ChainRecord } from '../../recorder/chain.ts';
import { matchesFilter, type RecordFilter } from '../../recorder/query.ts';
import { KernelError } from '../../../abi/errno.ts';
import type { ServiceContext } from '../context.ts';
import { sendError } from '../errors.ts';
import { LogScans } from '../log-scans.ts';

/** Records a query answers when it gives no limit, and the most it may ask for. */
export const DEFAULT_LIMIT = 1000;
export const MAX_LIMIT = 100_000;
/** The most characters of records one answer carries (the oldest matches are left out first). */
export const MAX_ANSWER_CHARS = 16 << 20;
/** Bytes a live follower may leave unread before its stream is ended. */
export const MAX_UNSENT_BYTES = 1 << 20;
/** Live followers at once (an ended stream counts until its socket is gone). */
export const MAX_FOLLOWERS = 64;
/** How long an ended stream's unread bytes are kept for a client that does not read them. */
const DROP_GRACE_MS = 30_000;
/** The same when agentd shuts down. */
const SHUTDOWN_GRACE_MS = 1000;

const FILTER = {
  type: 'object',
  additionalProperties: false,
  properties: {
    agent: { type: 'string', maxLength: 128 },
    syscall: { type: 'string', maxLength: 128 },
    decision: { enum: ['allow', 'deny', 'require_approval'] },
    type: { type: 'string', maxLength: 32 },
    since: { type: 'number' },
    until: { type: 'number' },
    after: { type: 'integer', minimum: 0 },
    limit: { type: 'integer', minimum: 1, maximum: MAX_LIMIT },
  },
} as const;

type Query = RecordFilter & { limit?: number };

/** abortOnClose aborts when the client goes before its answer is complete. */
function abortOnClose(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.on('close', () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  return controller.signal;
}

function refuse(reply: FastifyReply, err: unknown): FastifyReply {
  if (err instanceof KernelError && err.errno === 'EAGAIN') reply.header('retry-after', '1');
  return sendError(reply, err);
}

/**
 * endThenDrop ends a stream with `last` and destroys its socket if the client
 * has not read everything within `ms`, so unread bytes are never kept long.
 */
function endThenDrop(res: ServerResponse, last: string, ms: number): void {
  if (!res.writableEnded) res.end(last);
  const drop = setTimeout(() => res.destroy(), ms);
  drop.unref();
  res.once('close', () => clearTimeout(drop));
}

export function decisionRoutes(app: FastifyInstance, ctx: ServiceContext): void {
  const scans = new LogScans();
  /** Every live stream (and every ended one whose client has yet to read its end), with what stops it following. */
  const followers = new Map<ServerResponse, () => void>();
  const { registry } = ctx.metrics;
  registry.registerMetric(
    new Gauge({
      name: 'agentk_decision_followers',
      help: 'Live decision streams (and ended ones whose client has yet to read the end)',
      registers: [],
      collect() {
        this.set(followers.size);
      },
    }),
  );
  registry.registerMetric(
    new Gauge({
      name: 'agentk_decision_follower_unsent_bytes',
      help: 'Bytes queued in agentd for decision stream clients, all followers together',
      registers: [],
      collect() {
        let bytes = 0;
        for (const res of followers.keys()) bytes += res.writableLength;
        this.set(bytes);
      },
    }),
  );
  const dropped = new Counter({ name: 'agentk_decision_followers_dropped_total', help: `Decision streams ended because their client fell more than ${MAX_UNSENT_BYTES} bytes behind`, registers: [registry] });
  // Streams end when the server closes, and their sockets go soon after: otherwise a follower would hold agentd's exit.
  app.addHook('preClose', (done) => {
    for (const [res, stop] of followers) {
      stop();
      endThenDrop(res, '', SHUTDOWN_GRACE_MS);
    }
    done();
  });
  app.addHook('onClose', async () => scans.close());

  app.get<{ Querystring: Query }>(
    '/v1/decisions',
    {
      schema: {
        summary: `Decision records, filtered, oldest first: the last \`limit\` matches (default ${DEFAULT_LIMIT}), or with \`after\` the first \`limit\` after that seq (page forward); at most ${MAX_ANSWER_CHARS >> 20} MiB of records, \`x-decisions-truncated: true\` when that cut the answer`,
        querystring: FILTER,
      },
    },
    async (req, reply) => {
      const { limit = DEFAULT_LIMIT, ...filter } = req.query;
      try {
        const end = ctx.log.flushedEnd();
        const found = await scans.run({ op: 'query', base: ctx.log.path, end, filter, limit, maxChars: MAX_ANSWER_CHARS }, abortOnClose(reply));
        if (found.truncated) reply.header('x-decisions-truncated', 'true');
        return reply.type('application/json; charset=utf-8').send(found.json);
      } catch (err) {
        return refuse(reply, err);
      }
    },
  );

  app.get<{ Querystring: Query }>(
    '/v1/decisions/stream',
    { schema: { summary: `Live decision records as server-sent events (one JSON record per event); a follower more than ${MAX_UNSENT_BYTES >> 20} MiB behind gets an \`overflow\` event with \`resume_after\` and the stream ends`, querystring: FILTER } },
    (req, reply) => {
      const { limit: _limit, ...filter } = req.query;
      if (followers.size >= MAX_FOLLOWERS) return refuse(reply, new KernelError('EAGAIN', `too many live followers (${MAX_FOLLOWERS})`));
      reply.hijack();
      const res = reply.raw;
      // The connection ends with the stream: a follower that was dropped is gone once it has read the end.
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'close' });
      res.write(': following the decision log\n\n');
      /** fellBehind ends the stream, naming the seq the client has everything up to; the socket goes if it never reads that. */
      const fellBehind = (resumeAfter: number) => {
        const unsent = res.writableLength;
        stop();
        dropped.inc();
        endThenDrop(res, `event: overflow\ndata: ${JSON.stringify({ error: `this follower fell behind: ${unsent} bytes unread`, resume_after: resumeAfter })}\n\n`, DROP_GRACE_MS);
      };
      const sub = ctx.log.appended.subscribe((record: ChainRecord) => {
        if (!matchesFilter(record, filter)) return;
        const event = `id: ${record.seq}\ndata: ${JSON.stringify(record)}\n\n`;
        if (res.writableLength + event.length > MAX_UNSENT_BYTES) return fellBehind(record.seq - 1);
        res.write(event);
      });
      const beat = setInterval(() => {
        if (res.writableLength > MAX_UNSENT_BYTES) fellBehind(ctx.log.count);
        else res.write(': keep-alive\n\n');
      }, 15_000);
      const stop = () => {
        sub.unsubscribe();
        clearInterval(beat);
      };
      followers.set(res, stop);
      req.raw.on('close', stop);
      res.on('close', () => {
        stop();
        followers.delete(res);
      });
    },
  );

  app.post<{ Querystring: { head?: string } }>(
    '/v1/audit/verify',
    {
      schema: {
        summary: "Verify the daemon's decision log, every segment (hash chain, sequence, torn tail), up to where it was written when asked: it must end with the record agentd wrote last then (else it was cut or rewritten); ?head= the hash the last record must have",
        querystring: { type: 'object', additionalProperties: false, properties: { head: { type: 'string', pattern: '^[0-9a-f]{64}$' } } },
      },
    },
    async (req, reply) => {
      try {
        const end = ctx.log.flushedEnd();
        // What agentd wrote up to `end` (read in the same turn as it): a file that ends elsewhere was cut or rewritten.
        const written = { records: ctx.log.count, head: ctx.log.head, by: 'agentd' };
        const result = await scans.run({ op: 'verify', base: ctx.log.path, end, written, ...(req.query.head !== undefined ? { expectHead: req.query.head } : {}) }, abortOnClose(reply));
        return { file: ctx.log.path, ...result };
      } catch (err) {
        return refuse(reply, err);
      }
    },
  );
}
