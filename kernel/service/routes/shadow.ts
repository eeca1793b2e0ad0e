/**
 * The shadow policy (kernel/policy/shadow.ts): set one beside the policy in
 * force, read how it would have decided otherwise, promote it through the
 * normal replacement path, or clear it. Setting, promoting and clearing are
 * recorded; a shadow that does not load is refused (400, naming file, line
 * and field) and changes nothing. In a cluster the shadow is every node's:
 * stored in Redis first (503 while Redis is away: no node changes), then
 * set on each node (kernel/cluster/policy-sync.ts).
 */
import { notApplied, recordAct } from '../../recorder/record-act.ts';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { LoadedPolicy } from '../../policy/load.ts';
import type { ServiceContext } from '../context.ts';
import { PROBLEM } from '../context.ts';
import { installPolicy, notHere, type NotHere, POLICY_PROBLEM, problem, refusedStatus, SOURCE_BODY, type SourceBody, unparsedStatus, inTurn } from './policy.ts';

const NO_SHADOW = { error: 'no shadow policy is set (agentctl policy shadow set FILE)', errno: 'ENOENT' };

/**
 * step runs one step of changing the shadow (recording the change first, recordAct; storing it for the cluster);
 * false once it has answered 503 for its failure: EIO or ENOSPC from the log, Redis away. Nothing has changed then.
 */
async function step(reply: FastifyReply, work: () => Promise<unknown>): Promise<boolean> {
  try {
    await work();
    return true;
  } catch (err) {
    await reply.code(503).send({ ok: false, ...problem(err) });
    return false;
  }
}

export function shadowRoutes(app: FastifyInstance, ctx: ServiceContext): void {
  const { kernel, log } = ctx;
  /** act is the record of a change of the shadow (`detail`), made by agentd under the policy in force. */
  const act = (detail: string) => ({ type: 'policy', pid: 0, agentId: 'agentd', detail, policyVersion: kernel.engine.version }) as const;
  /** recordPolicy records a change of the shadow before it is made; unmade records that it was not made here, and why. */
  const recordPolicy = (detail: string) => recordAct(log, act(detail));
  const unmade = (detail: string, why: string) => notApplied((e) => log.record(e), act(detail), why);
  /** shared stores the cluster's shadow (undefined: none) and sets it here, unless this node had a newer one meanwhile or Redis lost its data: why not, then (notHere). */
  const shared = async (policy: LoadedPolicy | undefined): Promise<NotHere | undefined> => {
    const here = () => kernel.setShadow(policy);
    if (ctx.cluster !== undefined) return notHere(await ctx.cluster.publishShadow(policy, here), kernel.shadow?.version);
    here();
    return undefined;
  };
  /** stale answers for a change of the shadow stored for the cluster but not made here (`why`), recording that it was not applied. */
  const stale = (reply: FastifyReply, detail: string, why: NotHere) => {
    unmade(detail, why.error);
    return reply.code(refusedStatus(why)).send({ ok: false, ...why });
  };
  /** unpublished records that a change of the shadow recorded first did not happen (the cluster refused it). */
  const unpublished = (detail: string) => unmade(detail, 'the cluster could not be told');

  app.get('/v1/policy/shadow', { schema: { summary: 'The shadow policy: version, file, since, decisions made under it and disagreements', response: { 404: PROBLEM } } }, (_req, reply) => {
    const shadow = kernel.shadow;
    if (shadow === undefined) return reply.code(404).send(NO_SHADOW);
    const { groups: _groups, recent: _recent, ...summary } = shadow.summary();
    return { ...summary, source: shadow.engine.policy.source, enforced: kernel.engine.version };
  });

  app.put<{ Body: SourceBody }>('/v1/policy/shadow', { schema: { summary: 'Set the shadow policy (in a cluster, on every node): every decision is also made under it, changing nothing; an invalid one is refused', body: SOURCE_BODY, response: { '4xx': POLICY_PROBLEM, 503: PROBLEM } } }, (req, reply) =>
    inTurn(ctx, async () => {
      let policy;
      try {
        policy = await ctx.policies.parse(req.body.source, req.body.filename ?? 'shadow.yaml');
      } catch (err) {
        return reply.code(unparsedStatus(err)).send({ ok: false, ...problem(err) });
      }
      const previous = kernel.shadow?.version;
      const detail = `shadow policy set: ${policy.version}${previous !== undefined ? ` (was ${previous})` : ''}; the policy in force stays ${kernel.engine.version}`;
      if (!(await step(reply, () => recordPolicy(detail)))) return reply;
      let why: NotHere | undefined;
      if (!(await step(reply, async () => (why = await shared(policy))))) {
        unpublished(detail);
        return reply;
      }
      if (why !== undefined) return stale(reply, detail, why);
      return { ok: true, version: policy.version, enforced: kernel.engine.version };
    }),
  );

  app.get('/v1/policy/shadow/diff', { schema: { summary: 'How the shadow would have decided otherwise: counts by direction and rules, and the most recent disagreements', response: { 404: PROBLEM } } }, (_req, reply) => {
    const shadow = kernel.shadow;
    if (shadow === undefined) return reply.code(404).send(NO_SHADOW);
    return { ...shadow.summary(), enforced: kernel.engine.version };
  });

  app.post('/v1/policy/shadow/promote', { schema: { summary: 'Make the shadow the policy in force (the normal replacement; in a cluster, on every node) and clear it', response: { 404: PROBLEM, 409: POLICY_PROBLEM, 503: PROBLEM } } }, (_req, reply) =>
    inTurn(ctx, async () => {
      const shadow = kernel.shadow;
      if (shadow === undefined) return reply.code(404).send(NO_SHADOW);
      const { decisions, disagreements } = shadow.summary();
      const installed = await installPolicy(ctx, shadow.engine.policy, `shadow policy promoted after ${decisions} decisions, ${disagreements} disagreements; policy replaced`);
      if (!installed.ok) return reply.code(refusedStatus(installed)).send(installed);
      // The promote's answer is the policy's: a clear not made here (another node's newer shadow, a lost Redis) leaves what
      // the cluster holds, which sync() adopts; the log says the shadow stayed.
      let why: NotHere | undefined;
      if (!(await step(reply, async () => (why = await shared(undefined))))) return reply;
      if (why !== undefined) unmade(`shadow policy ${shadow.version} cleared after its promotion`, why.error);
      return installed;
    }),
  );

  app.delete('/v1/policy/shadow', { schema: { summary: 'Clear the shadow policy (in a cluster, on every node)', response: { 404: PROBLEM, 409: POLICY_PROBLEM, 503: PROBLEM } } }, (_req, reply) =>
    inTurn(ctx, async () => {
      const shadow = kernel.shadow;
      if (shadow === undefined) return reply.code(404).send(NO_SHADOW);
      const { decisions, disagreements } = shadow.summary();
      const detail = `shadow policy ${shadow.version} cleared after ${decisions} decisions, ${disagreements} disagreements`;
      if (!(await step(reply, () => recordPolicy(detail)))) return reply;
      let why: NotHere | undefined;
      if (!(await step(reply, async () => (why = await shared(undefined))))) {
        unpublished(detail);
        return reply;
      }
      if (why !== undefined) return stale(reply, detail, why);
      return { ok: true, version: shadow.version, decisions, disagreements };
    }),
  );
}
