/** Policy: read, validate, replace (hot reload that keeps the old policy if the new one is invalid). */
import type { FastifyInstance } from 'fastify';
import { notApplied, recordAct } from '../../recorder/record-act.ts';
import { KernelError } from '../../../abi/errno.ts';
import { PolicyError, type LoadedPolicy } from '../../policy/load.ts';
import type { ServiceContext } from '../context.ts';
import { PROBLEM } from '../context.ts';
import type { Published } from '../../cluster/policy-sync.ts';

export const SOURCE_BODY = {
  type: 'object',
  required: ['source'],
  additionalProperties: false,
  properties: { source: { type: 'string', maxLength: 16 * 1024 * 1024 }, filename: { type: 'string', maxLength: 256 } },
} as const;

/** A refused policy names where it went wrong, and (on replace) the version that stays in force. */
export const POLICY_PROBLEM = {
  type: 'object',
  properties: { ...PROBLEM.properties, ok: { type: 'boolean' }, kept: { type: 'string' }, line: { type: 'integer' }, column: { type: 'integer' }, field: { type: 'string' } },
  required: ['error'],
} as const;

export interface SourceBody {
  source: string;
  filename?: string;
}

/** problem is the answer's body for `err`: where a policy went wrong, or a kernel error's errno. */
export function problem(err: unknown): { error: string; line?: number; column?: number; field?: string; errno?: string } {
  if (err instanceof PolicyError) return { error: err.message, line: err.line, column: err.column, field: err.field };
  if (err instanceof KernelError) return { error: err.message, errno: err.errno };
  return { error: err instanceof Error ? err.message : String(err) };
}

/** The last change of the policy or the shadow each agentd was sent, settled when it is done. */
const changes = new WeakMap<ServiceContext, Promise<unknown>>();

/**
 * inTurn runs `change` (a change of the policy or the shadow) once every one
 * sent before it is done: they take effect in the order they came. A large
 * policy's parse (in a worker) finished after a small one sent 30 ms later,
 * and the large one ended in force, the operator's later one overridden (a
 * review).
 */
export function inTurn<T>(ctx: ServiceContext, change: () => Promise<T>): Promise<T> {
  const mine = (changes.get(ctx) ?? Promise.resolve()).then(change, change);
  changes.set(ctx, mine.catch(() => {}));
  return mine;
}

/** unparsedStatus is the HTTP status of a policy that was not read: 400 when it is wrong, 429 when too many parses wait, 503 when the parser failed. */
export function unparsedStatus(err: unknown): 400 | 429 | 503 {
  if (!(err instanceof KernelError)) return 400;
  return err.errno === 'EAGAIN' ? 429 : err.errno === 'EIO' ? 503 : 400;
}

export function policyRoutes(app: FastifyInstance, ctx: ServiceContext): void {
  const engine = ctx.kernel.engine;

  app.get('/v1/policy', { schema: { summary: 'The policy in force: version, source, rule count' } }, () => ({
    version: engine.version,
    file: engine.policy.file,
    rules: engine.policy.document.rules.length,
    source: engine.policy.source,
  }));

  app.post<{ Body: SourceBody }>('/v1/policy/validate', { schema: { summary: 'Validate a policy without installing it', body: SOURCE_BODY, response: { '4xx': POLICY_PROBLEM } } }, async (req, reply) => {
    try {
      const policy = await ctx.policies.parse(req.body.source, req.body.filename ?? 'policy.yaml');
      return { ok: true, version: policy.version, rules: policy.document.rules.length };
    } catch (err) {
      return reply.code(unparsedStatus(err)).send({ ok: false, ...problem(err) });
    }
  });

  app.put<{ Body: SourceBody }>('/v1/policy', { schema: { summary: 'Replace the policy (hot reload; in a cluster, on every node); an invalid policy is refused and the old one stays', body: SOURCE_BODY, response: { '4xx': POLICY_PROBLEM } } }, (req, reply) =>
    inTurn(ctx, async () => {
      let policy;
      try {
        policy = await ctx.policies.parse(req.body.source, req.body.filename ?? 'policy.yaml');
      } catch (err) {
        return reply.code(unparsedStatus(err)).send({ ok: false, kept: engine.version, ...problem(err) });
      }
      const installed = await installPolicy(ctx, policy, 'policy replaced');
      return installed.ok ? installed : reply.code(refusedStatus(installed)).send(installed);
    }),
  );
}

export type Installed = { ok: true; version: string; previous: string } | { ok: false; kept: string; error: string; errno?: string };

/**
 * installPolicy puts a validated policy in force, recorded (`how`: what the
 * record says happened). In a cluster the policy is stored in Redis first
 * and every node installs it; while Redis is away no node changes policy.
 */
export async function installPolicy(ctx: ServiceContext, policy: LoadedPolicy, how: string): Promise<Installed> {
  const engine = ctx.kernel.engine;
  const previous = engine.version;
  const kept = (err: unknown): Installed => ({ ok: false, kept: engine.version, ...problem(err) });
  // Recorded and written before it takes effect here or is published to other nodes (each of which records its own
  // install): with the decision log full, a replacement went into force unrecorded and answered 500 (an attacker pass).
  const act = { type: 'policy', pid: 0, agentId: 'agentd', detail: `${how}: ${previous} -> ${policy.version}`, policyVersion: policy.version } as const;
  try {
    await recordAct(ctx.log, act);
  } catch (err) {
    return kept(err);
  }
  let refused: NotHere | undefined;
  try {
    const here = () => ctx.kernel.replacePolicy(policy);
    if (ctx.cluster === undefined) {
      // Kept for the next start before it takes effect: a crash never brings back the one it replaced (policy-state.ts).
      ctx.policyState?.keep(policy);
      try {
        here();
      } catch (err) {
        // Not in force after all: the next start must not put it in force either (best effort: the error goes on).
        try {
          ctx.policyState?.keep(engine.policy);
        } catch {
          // the kept file may name the refused policy; the record says it was not applied
        }
        throw err;
      }
    }
    else refused = notHere(await ctx.cluster.publishPolicy(policy, here), engine.version);
  } catch (err) {
    notApplied((e) => ctx.log.record(e), { ...act, policyVersion: previous }, err instanceof Error ? err.message : String(err));
    return kept(err);
  }
  if (refused !== undefined) {
    notApplied((e) => ctx.log.record(e), { ...act, policyVersion: engine.version }, refused.error);
    return { ok: false, kept: engine.version, ...refused };
  }
  return { ok: true, version: policy.version, previous };
}

/** refusedStatus is the HTTP status of an install that did not happen: 409 when a newer one superseded it, else 503 (the log or Redis failed). */
export const refusedStatus = (refused: { errno?: string }): 409 | 503 => (refused.errno === 'ECANCELED' ? 409 : 503);

/** NotHere is why a change stored for the cluster was not made on this node (notHere). */
export interface NotHere {
  readonly error: string;
  readonly errno: 'ECANCELED' | 'EIO';
}

/**
 * notHere says why a policy (or shadow) stored for the cluster was not put in force on this node, which has `inForce`
 * (undefined when it was: policy-sync.ts publish): another node's newer epoch came first (ECANCELED), or Redis lost its
 * data meanwhile (EIO: the nodes adopt what Redis holds now, which may be this one or not).
 */
export function notHere(published: Published, inForce: string | undefined): NotHere | undefined {
  const here = inForce === undefined ? 'none' : inForce;
  switch (published.here) {
    case 'installed':
      return undefined;
    case 'superseded':
      return { errno: 'ECANCELED', error: `stored as cluster epoch ${published.epoch}, but another node published epoch ${published.applied} meanwhile; this node has ${here} in force` };
    case 'lost':
      return { errno: 'EIO', error: `Redis lost its data while this was stored (epoch ${published.epoch}): every node adopts what Redis holds now, which may not be this one; this node has ${here} in force until then` };
  }
}
