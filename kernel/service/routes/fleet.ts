/**
 * The fleet kill switch: one signal to every live process whose labels
 * match a selector (or to every live process), on every node of a cluster.
 * `agentctl kill -KILL --selector team=finance`, `agentctl freeze
 * --selector …` (SIGSTOP: each matching process's next syscall waits) and
 * `agentctl thaw` (SIGCONT). The operator's act is one record naming the
 * selector and the pids; each delivery has its own signal record, as a
 * signal to one pid does.
 */
import type { FastifyInstance } from 'fastify';
import { parseSignal, type SignalName } from '../../../signals/signal-table.ts';
import type { ProcessInfo } from '../../process.ts';
import type { ServiceContext } from '../context.ts';
import { PROBLEM } from '../context.ts';
import { sendError } from '../errors.ts';

/** FleetSignalBody: the signal, and whom: `labels` (every one must match) or `all`. */
export interface FleetSignalBody {
  signal: string | number;
  labels?: Record<string, string>;
  all?: boolean;
}

/** FleetOutcome is one matching process and what became of the signal (or why it could not be sent). */
export type FleetOutcome = { pid: number; agentId: string; node?: string } & ({ outcome: string } | { error: string; errno: string });

/** Listed is a process as ps lists it here or, in a cluster, on any node (state `lost`: its node died). */
type Listed = Omit<ProcessInfo, 'state'> & { readonly state: string; readonly node?: string };

/** The most pids the operator's record lists by number (the count is always whole). */
const LISTED_PIDS = 50;

const OUTCOME = {
  type: 'object',
  properties: { pid: { type: 'integer' }, agentId: { type: 'string' }, node: { type: 'string' }, outcome: { type: 'string' }, error: { type: 'string' }, errno: { type: 'string' } },
} as const;

/** matches: `p` is live and carries every label of the selector (`undefined`: all). */
function matches(p: Listed, labels: Readonly<Record<string, string>> | undefined): boolean {
  if (p.state === 'exited' || p.state === 'lost') return false;
  if (labels === undefined) return true;
  return Object.entries(labels).every(([k, v]) => p.labels?.[k] === v);
}

/** describeSelector is the selector as the record and the CLI write it: `team=finance,tier=1`, or `all`. */
export function describeSelector(labels: Readonly<Record<string, string>> | undefined): string {
  return labels === undefined ? 'all' : Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(',');
}

export function fleetRoutes(app: FastifyInstance, ctx: ServiceContext): void {
  const { kernel } = ctx;
  app.post<{ Body: FleetSignalBody }>(
    '/v1/signals',
    {
      schema: {
        summary: 'Send a signal to every live process whose labels match (labels), or to every live process (all: true), on every node',
        body: {
          type: 'object',
          required: ['signal'],
          additionalProperties: false,
          properties: {
            signal: { type: ['string', 'integer'] },
            labels: { type: 'object', minProperties: 1, maxProperties: 64, additionalProperties: { type: 'string', maxLength: 256 } },
            all: { type: 'boolean', const: true },
          },
        },
        response: { 200: { type: 'object', properties: { signal: { type: 'string' }, selector: { type: 'string' }, matched: { type: 'integer' }, results: { type: 'array', items: OUTCOME } } }, '4xx': PROBLEM, '5xx': PROBLEM },
      },
    },
    async (req, reply) => {
      const signal: SignalName | undefined = parseSignal(String(req.body.signal));
      if (signal === undefined) return reply.code(400).send({ error: `unknown signal '${String(req.body.signal)}'`, errno: 'EINVAL' });
      if ((req.body.labels === undefined) === (req.body.all === undefined)) return reply.code(400).send({ error: 'give labels (a selector) or all: true, not both and not neither', errno: 'EINVAL' });
      const selector = describeSelector(req.body.labels);
      try {
        const listed: readonly Listed[] = ctx.cluster === undefined ? kernel.ps() : await ctx.cluster.ps();
        const targets = listed.filter((p) => matches(p, req.body.labels));
        const sender = `operator (selector ${selector})`;
        ctx.log.record({ type: 'signal', pid: 0, agentId: 'agentd', detail: `${sender}: ${signal} to ${targets.length} processes${targets.length > 0 ? `: ${targets.slice(0, LISTED_PIDS).map((p) => p.pid).join(', ')}${targets.length > LISTED_PIDS ? ', …' : ''}` : ''}` });
        const results = await Promise.all(
          targets.map(async (p): Promise<FleetOutcome> => {
            const who = { pid: p.pid, agentId: p.agentId, ...(p.node !== undefined ? { node: p.node } : {}) };
            try {
              const local = kernel.get(p.pid) !== undefined;
              const outcome = local || ctx.cluster === undefined ? kernel.kill(p.pid, signal, sender) : await ctx.cluster.signal(p.pid, signal, sender);
              return { ...who, outcome };
            } catch (err) {
              const errno = (err as { errno?: string }).errno ?? 'EIO';
              return { ...who, error: err instanceof Error ? err.message : String(err), errno };
            }
          }),
        );
        return { signal, selector, matched: targets.length, results };
      } catch (err) {
        return sendError(reply, err);
      }
    },
  );
}
