/**
 * A cluster node behind the cluster's policy decides nothing (kernel/cluster/lease.ts, policy-sync.ts behind), with
 * real agent programs and a real Redis: a decision made while an epoch it heard of is not in force yet waits for the
 * install (at most four heartbeats) and is decided under the new policy, or is denied; an epoch that does not load on
 * the node denies every decision until one that loads is the cluster's. Before, the node went on deciding under the
 * policy it had: an operator's new deny was not applied by that node until it installed it, and never when the
 * policy did not load there.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { RedisHealth } from '../../kernel/cluster/health.ts';
import { NodeLease } from '../../kernel/cluster/lease.ts';
import { policyHost, type NodeLog } from '../../kernel/cluster/policy-hosts.ts';
import { PolicySync } from '../../kernel/cluster/policy-sync.ts';
import { ClusterKeys, type RedisClient } from '../../kernel/cluster/redis.ts';
import { Kernel } from '../../kernel/kernel.ts';
import { parsePolicy, type LoadedPolicy } from '../../kernel/policy/load.ts';
import { redisForTests } from '../redis.ts';
import { run } from '../syscalls/harness.ts';
import { until } from '../until.ts';
import { POLICY_1 } from './policies.ts';

const env = await redisForTests('policy-behind');
afterAll(() => env?.cleanup());

/** LOCKED: POLICY_1 and a deny of mkdir under mem/locked. */
const LOCKED = parsePolicy(POLICY_1.replace('rules:\n', 'rules:\n  - id: locked-stays-shut\n    effect: deny\n    syscalls: [SYS_MKDIR]\n    paths: ["/agent/${agent}/mem/locked", "/agent/${agent}/mem/locked/**"]\n'), 'locked.yaml');
/**
 * mkdir runs an agent program that makes directory `path` under `kernel`: 'made', the errno and message of its
 * refusal, or (when the node denies everything, its output included) why it ended.
 */
async function mkdir(kernel: Kernel, path: string): Promise<string> {
  const result = await run(`try { sys.mkdir(${JSON.stringify(path)}); report('made'); } catch (e) { report(e.errno + ': ' + e.message); }`, { kernel, agentId: 'a' });
  return result.exit.status === 0 ? (JSON.parse(result.stdout.trim()) as string) : `ended: ${JSON.stringify(result.exit.reason)}`;
}

/** A node's log whose writes the test lets through, one at a time. */
function held(): NodeLog & { count: () => number; write: () => void } {
  const waiting: (() => void)[] = [];
  let count = 0;
  return {
    record: () => count++,
    beforeAction: () => new Promise<void>((resolve) => waiting.push(resolve)),
    count: () => count,
    write: () => waiting.shift()?.(),
  };
}

interface Node {
  readonly kernel: Kernel;
  readonly log: ReturnType<typeof held>;
  /** This node's policy sync; `publish` stores a policy as another node would, and tells this one. */
  readonly a: PolicySync;
  readonly publish: (policy: LoadedPolicy) => Promise<number>;
}

/** withNode runs `test` with one node (its kernel's standing a lease that never runs out) synchronised under its own key prefix. */
async function withNode(name: string, heartbeatMs: number, test: (node: Node) => Promise<void>): Promise<void> {
  const redis: RedisClient = await env!.client();
  const health = new RedisHealth([redis], 'test', 1000);
  let a: PolicySync | undefined;
  const lease = new NodeLease(
    { nodeTtlMs: 600_000, heartbeatMs },
    { problem: () => undefined, refusal: () => undefined, renew: async () => {}, stopped: () => false, behind: () => a?.behind(), caughtUp: () => a?.caughtUp() ?? Promise.resolve() },
  );
  const kernel = new Kernel({ stdout: () => {}, stderr: () => {}, standing: lease });
  try {
    await until(() => health.ready, 'Redis');
    const keys = new ClusterKeys(`${env!.prefix}-${name}`);
    const log = held();
    a = new PolicySync(redis, keys, health, 'a', policyHost(kernel, log));
    const b = new PolicySync(redis, keys, health, 'b', { current: () => kernel.engine.policy, install: async () => {}, refused: () => {} });
    await a.sync();
    await b.sync();
    lease.synced();
    lease.beatSent(performance.now());
    const node = a;
    await test({ kernel, log, a: node, publish: async (policy) => {
      const { epoch } = await b.publish(policy);
      void node.seen(epoch);
      return epoch;
    } });
  } finally {
    health.close();
    await kernel.shutdown();
  }
}

describe.skipIf(env === undefined)('a cluster node behind the cluster policy', () => {
  it('a decision made while the epoch it heard of is being installed waits for it, and is decided under the new policy', async () => {
    await withNode('waits', 1000, async ({ kernel, log, publish }) => {
      expect(await mkdir(kernel, 'mem/before')).toBe('made');
      await publish(LOCKED);
      await until(() => log.count() === 1, 'the install to be recorded');
      let settled = false;
      const running = mkdir(kernel, 'mem/locked').finally(() => (settled = true));
      await new Promise((resolve) => setTimeout(resolve, 500));
      // Under the old policy the directory was made here, before the deny was in force.
      expect(settled).toBe(false);
      log.write();
      expect(await running).toMatch(/^EACCES: .*locked-stays-shut/);
    });
  });

  it('past four heartbeats without the install, a decision is denied fail-closed naming the epoch; once installed, the new policy decides', async () => {
    await withNode('bound', 100, async ({ kernel, log, a, publish }) => {
      const epoch = await publish(LOCKED);
      await until(() => log.count() === 1, 'the install to be recorded');
      expect(a.behind()).toBe(`the cluster policy epoch ${epoch} is not in force on this node yet (it has epoch ${epoch - 1})`);
      expect(await mkdir(kernel, 'mem/open')).toMatch(new RegExp(`^ended: .*SYS_\\w+ denied by kernel\\.fail-closed.*epoch ${epoch} is not in force on this node yet`));
      log.write();
      await until(() => kernel.engine.version === LOCKED.version, 'the new policy to be in force');
      expect(a.behind()).toBeUndefined();
      expect(await mkdir(kernel, 'mem/open')).toBe('made');
      expect(await mkdir(kernel, 'mem/locked')).toMatch(/^EACCES: .*locked-stays-shut/);
    });
  });

  it('an epoch that does not load on this node denies every decision at once, until a policy that loads is the cluster\'s', async () => {
    await withNode('refused', 1000, async ({ kernel, log, a, publish }) => {
      const wrong = { ...LOCKED, source: `${LOCKED.source}  - id: last\n    effect: perhaps\n`, version: 'sha256:wrong' };
      const epoch = await publish(wrong);
      await until(() => a.epoch === epoch, 'the epoch to be refused');
      const started = performance.now();
      expect(await mkdir(kernel, 'mem/open')).toMatch(new RegExp(`^ended: .*SYS_\\w+ denied by kernel\\.fail-closed.*epoch ${epoch} does not load on this node`));
      expect(performance.now() - started).toBeLessThan(3000);
      await publish(LOCKED);
      await until(() => log.count() === 2, 'the install to be recorded');
      log.write();
      await until(() => kernel.engine.version === LOCKED.version, 'the new policy to be in force');
      expect(await mkdir(kernel, 'mem/open')).toBe('made');
    });
  });

  it('an epoch heard of that Redis no longer holds (it lost its data) does not hold the node back for good', async () => {
    await withNode('stale', 1000, async ({ kernel, a }) => {
      // A message (or a beat) of a Redis that has since lost that epoch: the fetch finds less stored.
      await a.seen(a.epoch + 5);
      expect(a.behind()).toBeUndefined();
      expect(await mkdir(kernel, 'mem/open')).toBe('made');
    });
  });
});
