/** The decision log: query, live stream (SSE), verify. */
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { ChainRecord } from '../../recorder/chain.ts';
import { filterRecords, parseRecords, type RecordFilter } from '../../recorder/query.ts';
import { verifyLog } from '../../recorder/verify.ts';
import type { ServiceContext } from '../context.ts';

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
    limit: { type: 'integer', minimum: 1, maximum: 100_000 },
  },
} as const;

type Query = RecordFilter & { limit?: number };

function matches(r: ChainRecord, f: RecordFilter): boolean {
  return filterRecords([r], f).length === 1;
}

export function decisionRoutes(app: FastifyInstance, ctx: ServiceContext): void {
  // Open streams end when the server closes; otherwise a follower would hold agentd's exit for ever.
  const streams = new Set<() => void>();
  app.addHook('preClose', (done) => {
    for (const end of streams) end();
    done();
  });
  const readLog = () => {
    ctx.log.flush();
    return readFileSync(ctx.log.path, 'utf8');
  };

  app.get<{ Querystring: Query }>('/v1/decisions', { schema: { summary: 'Decision records, filtered (newest last; ?limit keeps the last N)', querystring: FILTER } }, (req) => {
    const { limit, ...filter } = req.query;
    const records = filterRecords(parseRecords(readLog()), filter);
    return limit === undefined ? records : records.slice(-limit);
  });

  app.get<{ Querystring: Query }>('/v1/decisions/stream', { schema: { summary: 'Live decision records as server-sent events (one JSON record per event)', querystring: FILTER } }, (req, reply) => {
    const { limit: _limit, ...filter } = req.query;
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    res.write(': following the decision log\n\n');
    const sub = ctx.log.appended.subscribe((record) => {
      if (matches(record, filter)) res.write(`id: ${record.seq}\ndata: ${JSON.stringify(record)}\n\n`);
    });
    const beat = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
    const done = () => {
      sub.unsubscribe();
      clearInterval(beat);
      streams.delete(end);
    };
    const end = () => {
      done();
      res.end();
    };
    streams.add(end);
    req.raw.on('close', done);
    res.on('close', done);
  });

  app.post('/v1/audit/verify', { schema: { summary: "Verify the daemon's decision log (hash chain, sequence, torn tail)" } }, () => ({ file: ctx.log.path, ...verifyLog(readLog()) }));
}
