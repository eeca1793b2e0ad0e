/**
 * Found by a review (fixed): a node that heard of epoch E but could not install it (its log refused the record, or the fetch's Redis read
 * failed) keeps `heard = E`. If Redis then loses its data and this node is the one that re-seeds it (SEED stores the
 * node's own epoch E-1, which equals `applied`), sync() sees nothing lost (stored === applied, same version) and never
 * fetches; fetchOnce's "Redis holds less than heard" reset never runs. behind() then says "epoch E is not in force"
 * for good: every decision is denied fail-closed, every beat (epoch E-1) changes nothing, and the node stays not ready,
 * although the policy in force here IS the cluster's. Only a new publish frees it.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { KernelError } from '../../abi/errno.ts';
import { RedisHealth } from '../../kernel/cluster/health.ts';
import { PolicySync, type PolicyHost } from '../../kernel/cluster/policy-sync.ts';
import { ClusterKeys } from '../../kernel/cluster/redis.ts';
import { parsePolicy, type LoadedPolicy } from '../../kernel/policy/load.ts';
import { POLICY_1, POLICY_2 } from '../cluster/policies.ts';
import { redisForTests } from '../redis.ts';
import { until } from '../until.ts';

const env = await redisForTests('zz-review-behind-flush');
afterAll(() => env?.cleanup());

describe.skipIf(env === undefined)('a stale heard epoch after Redis lost its data', () => {
  it('does not keep the node behind for good once Redis holds (again) the policy in force here', async () => {
    const redis = await env!.client();
    const health = new RedisHealth([redis], 'test', 1000);
    try {
      await until(() => health.ready, 'Redis');
      const keys = new ClusterKeys(`${env!.prefix}-flush`);
      let current: LoadedPolicy = parsePolicy(POLICY_1, 'p1.yaml');
      let refuseRecord = true;
      const hostA: PolicyHost = {
        current: () => current,
        install: async (policy) => {
          // The node's log refuses the record once (disk full, say): a KernelError, so Redis is not blamed.
          if (refuseRecord) {
            refuseRecord = false;
            throw new KernelError('EIO', 'the decision log cannot be written');
          }
          if (policy !== undefined) current = policy;
        },
        refused: () => {},
      };
      const a = new PolicySync(redis, keys, health, 'a', hostA);
      const b = new PolicySync(redis, keys, health, 'b', { current: () => undefined, install: async () => {}, refused: () => {} });
      await a.sync();
      expect(a.epoch).toBe(1);
      const { epoch } = await b.publish(parsePolicy(POLICY_2, 'p2.yaml'));
      await a.seen(epoch);
      // The install failed: the node is behind, as it should be.
      expect(a.behind()).toMatch(/not in force on this node yet/);
      // Redis loses its data (FLUSHDB, a restart without persistence) before the next beat.
      await redis.del(keys.policy);
      // The next beat reads epoch 0 (the key is gone): seen(0) -> sync(), which re-seeds this node's epoch 1.
      await a.seen(0);
      const stored = await redis.hgetall(keys.policy);
      expect(Number(stored.epoch)).toBe(1);
      expect(stored.version).toBe(current.version);
      // Later beats read epoch 1 with this node's version.
      await a.seen(1, current.version);
      await a.seen(1, current.version);
      // The policy in force here is exactly what Redis holds: the node is not behind.
      expect(a.behind()).toBeUndefined();
    } finally {
      health.close();
    }
  });
});
