/**
 * A node's install of the cluster's policy waits for its record to be
 * written (policy-hosts.ts); what happens meanwhile, on a real Redis. Found by
 * a review of that change:
 * - this node's operator puts a policy in force again (the same version, a
 *   newer epoch) while an older epoch's record is being written: the older
 *   one must not then be installed over it (decided by epoch, not version);
 * - an epoch published while a fetch waits is fetched after it, not dropped
 *   (the shadow has no heartbeat to catch up with).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { RedisHealth } from '../../kernel/cluster/health.ts';
import { policyHost, shadowHost, type NodeLog } from '../../kernel/cluster/policy-hosts.ts';
import { PolicySync, type PolicyHost } from '../../kernel/cluster/policy-sync.ts';
import { ClusterKeys } from '../../kernel/cluster/redis.ts';
import { Kernel } from '../../kernel/kernel.ts';
import { parsePolicy, type LoadedPolicy } from '../../kernel/policy/load.ts';
import { redisForTests } from '../redis.ts';
import { until } from '../until.ts';
import { POLICY_1, POLICY_2 } from './policies.ts';

const env = await redisForTests('policy-sync-races');
afterAll(() => env?.cleanup());

/** writing is a node's log whose writes the test settles, one at a time. */
function writing(): NodeLog & { details: string[]; write: () => void } {
  const details: string[] = [];
  const waiting: (() => void)[] = [];
  return {
    details,
    record: (e) => details.push('detail' in e ? (e.detail ?? '') : ''),
    beforeAction: () => new Promise<void>((r) => waiting.push(r)),
    write: () => waiting.shift()?.(),
  };
}

/** another is a second node that only publishes. */
const another = (current: LoadedPolicy | undefined): PolicyHost => ({ current: () => current, install: async () => {}, refused: () => {} });

describe.skipIf(env === undefined)('a node installing the cluster policy while its record is written', () => {
  it('does not install an older epoch over a newer one that this node put in force meanwhile, though both have the same version', async () => {
    const redis = await env!.client();
    const health = new RedisHealth([redis], 'test', 1000);
    const kernel = new Kernel({ stdout: () => {}, stderr: () => {} });
    try {
      await until(() => health.ready, 'Redis');
      const keys = new ClusterKeys(`${env!.prefix}-policy`);
      const p1 = kernel.engine.policy;
      const p2 = parsePolicy(POLICY_2, 'p2.yaml');
      const log = writing();
      const a = new PolicySync(redis, keys, health, 'a', policyHost(kernel, log));
      const b = new PolicySync(redis, keys, health, 'b', another(p1));
      await a.sync();
      await b.sync();
      a.seen(await b.publish(p2));
      await until(() => log.details.length === 1, 'the install of epoch 2 to be recorded');
      // This node's operator puts P1 in force again (as routes/policy.ts does: publish, then replace): epoch 3.
      expect(await a.publish(p1)).toBe(3);
      kernel.replacePolicy(p1);
      log.write();
      await until(() => log.details.length === 2, 'the install to end');
      expect(log.details[1]).toMatch(/^not applied: policy replaced through node b \(cluster epoch 2\).*a newer epoch was put in force meanwhile/);
      expect(kernel.engine.version).toBe(p1.version);
      expect(a.epoch).toBe(3);
    } finally {
      health.close();
      await kernel.shutdown();
    }
  });

  it('fetches a shadow epoch published while it waited, after the one it was installing', async () => {
    const redis = await env!.client();
    const health = new RedisHealth([redis], 'test', 1000);
    const kernel = new Kernel({ stdout: () => {}, stderr: () => {} });
    try {
      await until(() => health.ready, 'Redis');
      const keys = new ClusterKeys(`${env!.prefix}-shadow`);
      const slot = { key: keys.shadow, channel: keys.shadowChannel, what: 'the cluster shadow policy' };
      const log = writing();
      const a = new PolicySync(redis, keys, health, 'a', shadowHost(kernel, log), slot);
      const b = new PolicySync(redis, keys, health, 'b', another(undefined), slot);
      await a.sync();
      await b.sync();
      const s1 = parsePolicy(POLICY_1, 's1.yaml');
      const s2 = parsePolicy(POLICY_2, 's2.yaml');
      a.seen(await b.publish(s1));
      await until(() => log.details.length === 1, 'the install of s1 to be recorded');
      a.seen(await b.publish(s2));
      log.write();
      await until(() => log.details.length === 2, 'the install of s2 to be recorded');
      log.write();
      await until(() => kernel.shadow?.version === s2.version, 'the node to have s2');
      expect(log.details).toEqual([expect.stringMatching(/^shadow policy set through node b \(cluster shadow epoch 2\)/), expect.stringMatching(/^shadow policy set through node b \(cluster shadow epoch 3\)/)]);
    } finally {
      health.close();
      await kernel.shutdown();
    }
  });
});
