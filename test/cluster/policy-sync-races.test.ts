/**
 * A node's install of the cluster's policy waits for its record to be
 * written (policy-hosts.ts); what happens meanwhile, on a real Redis. Found by
 * a review of that change:
 * - this node's operator puts a policy in force again (the same version, a
 *   newer epoch) while an older epoch's record is being written: the older
 *   one must not then be installed over it (decided by epoch, not version);
 * - an epoch published while a fetch waits is fetched after it, not dropped,
 *   and sync() (a reconnect) that joins a waiting fetch returns only once
 *   the newest epoch is in force;
 * - a shadow install whose record the log refused is tried again: each beat
 *   reads the shadow's epoch as well as the policy's (it read only the
 *   policy's, and the node kept the wrong shadow until the next change);
 * - after Redis lost its data, a node that comes back after another has
 *   seeded it adopts what is stored, though its epoch is lower than the one
 *   the node had applied (found by the same review: the node kept its own
 *   policy, and ignored every epoch up to its old one); a fetch that was
 *   waiting on its record then installs nothing of the Redis that was lost;
 *   and when the data goes without a reconnect (a FLUSHDB, an eviction), the
 *   next publish still reaches every node, is numbered past what the nodes
 *   had, and a node at the same epoch with another policy adopts the stored
 *   one; a node seeds with the epoch of the policy it runs, not one it
 *   refused (found by a third and a fourth review).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { KernelError } from '../../abi/errno.ts';
import { ProcessDirectory } from '../../kernel/cluster/directory.ts';
import { RedisHealth } from '../../kernel/cluster/health.ts';
import { policyHost, shadowHost, type NodeLog, type Parse } from '../../kernel/cluster/policy-hosts.ts';
import { PolicyParser } from '../../kernel/policy/parse-off-loop.ts';
import { PolicySync, type PolicyHost } from '../../kernel/cluster/policy-sync.ts';
import { ClusterKeys, type RedisClient } from '../../kernel/cluster/redis.ts';
import { Kernel } from '../../kernel/kernel.ts';
import { parsePolicy, type LoadedPolicy } from '../../kernel/policy/load.ts';
import { redisForTests } from '../redis.ts';
import { until } from '../until.ts';
import { POLICY_1, POLICY_2 } from './policies.ts';

const env = await redisForTests('policy-sync-races');
/** A third policy: POLICY_1 with one more rule. */
const POLICY_3 = POLICY_1.replace('rules:\n', 'rules:\n  - id: extra-allowed\n    effect: allow\n    tools: [extra.send]\n');
afterAll(() => env?.cleanup());

/** writing is a node's log whose writes the test settles, one at a time (`fail`: the write fails with it). */
function writing(): NodeLog & { details: string[]; write: (fail?: Error) => void } {
  const details: string[] = [];
  const waiting: ((fail?: Error) => void)[] = [];
  return {
    details,
    record: (e) => details.push('detail' in e ? (e.detail ?? '') : ''),
    beforeAction: () => new Promise<void>((resolve, reject) => waiting.push((fail) => (fail === undefined ? resolve() : reject(fail)))),
    write: (fail) => waiting.shift()?.(fail),
  };
}

/** another is a second node that only publishes. */
const another = (current: LoadedPolicy | undefined): PolicyHost => ({ current: () => current, install: async () => {}, refused: () => {} });

interface Nodes {
  readonly kernel: Kernel;
  readonly keys: ClusterKeys;
  readonly health: RedisHealth;
  readonly redis: RedisClient;
  /** This node's log, whose writes the test settles. */
  readonly log: ReturnType<typeof writing>;
  /** This node (its kernel's policy, or its shadow), and another that only publishes. */
  readonly a: PolicySync;
  readonly b: PolicySync;
}

/** withNodes runs `test` with nodes a and b, both synchronised, on the policy (or the shadow) under a key prefix of their own; node a talks to Redis through `through` (the client itself by default). */
async function withNodes(name: string, what: 'policy' | 'shadow', test: (nodes: Nodes) => Promise<void>, through: (redis: RedisClient) => RedisClient = (r) => r, parse?: Parse): Promise<void> {
  const redis = await env!.client();
  const health = new RedisHealth([redis], 'test', 1000);
  const kernel = new Kernel({ stdout: () => {}, stderr: () => {} });
  try {
    await until(() => health.ready, 'Redis');
    const keys = new ClusterKeys(`${env!.prefix}-${name}`);
    const log = writing();
    const slot = what === 'shadow' ? { key: keys.shadow, channel: keys.shadowChannel, what: 'the cluster shadow policy' } : undefined;
    const a = new PolicySync(through(redis), keys, health, 'a', (what === 'shadow' ? shadowHost : policyHost)(kernel, log, parse), slot);
    const b = new PolicySync(redis, keys, health, 'b', another(what === 'shadow' ? undefined : kernel.engine.policy), slot);
    await a.sync();
    await b.sync();
    await test({ kernel, keys, health, redis, log, a, b });
  } finally {
    health.close();
    await kernel.shutdown();
  }
}

/** gated is `redis` whose next EVAL answer (a publish's) waits, once the test sets `gate`, until that promise settles; later ones do not. */
function gated(redis: RedisClient): { client: RedisClient; gate: Promise<void> | undefined } {
  const state: { client: RedisClient; gate: Promise<void> | undefined } = { client: redis, gate: undefined };
  state.client = new Proxy(redis, {
    get(target, key) {
      const value: unknown = Reflect.get(target, key, target);
      if (key !== 'eval' || typeof value !== 'function') return typeof value === 'function' ? value.bind(target) : value;
      return async (...args: unknown[]) => {
        const gate = state.gate;
        state.gate = undefined;
        const answer: unknown = await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        await gate;
        return answer;
      };
    },
  });
  return state;
}

/** installed has node b publish `policy` (epoch 2) and node a install it, its record written. */
async function installed(policy: LoadedPolicy, { log, a, b }: Pick<Nodes, 'log' | 'a' | 'b'>): Promise<void> {
  a.seen((await b.publish(policy)).epoch);
  await until(() => log.details.length === 1, 'the install of epoch 2 to be recorded');
  log.write();
  await until(() => a.epoch === 2, 'node a to be at epoch 2');
}

/** adopts waits for node a's install of `policy` to be recorded (its log's `nth` record), writes it, and waits for `policy` to be in force. */
async function adopts(policy: LoadedPolicy, nth: number, { kernel, log }: Pick<Nodes, 'kernel' | 'log'>): Promise<void> {
  await until(() => log.details.length === nth, `the install of ${policy.version} to be recorded`);
  log.write();
  await until(() => kernel.engine.version === policy.version, `node a to have ${policy.version}`);
}

describe.skipIf(env === undefined)('a node keeping to the cluster policy on a real Redis', () => {
  it('does not install an older epoch over a newer one that this node put in force meanwhile, though both have the same version', async () => {
    await withNodes('policy', 'policy', async ({ kernel, log, a, b }) => {
      const p1 = kernel.engine.policy;
      const p2 = parsePolicy(POLICY_2, 'p2.yaml');
      a.seen((await b.publish(p2)).epoch);
      await until(() => log.details.length === 1, 'the install of epoch 2 to be recorded');
      // This node's operator puts P1 in force again (as routes/policy.ts does: publish, putting it in force here): epoch 3.
      expect((await a.publish(p1, () => kernel.replacePolicy(p1))).epoch).toBe(3);
      log.write();
      await until(() => log.details.length === 2, 'the install to end');
      expect(log.details[1]).toMatch(/^not applied: policy replaced through node b \(cluster epoch 2\).*a newer epoch was put in force meanwhile/);
      expect(kernel.engine.version).toBe(p1.version);
      expect(a.epoch).toBe(3);
    });
  });

  it('fetches a shadow epoch published while it waited, after the one it was installing', async () => {
    await withNodes('shadow', 'shadow', async ({ kernel, log, a, b }) => {
      const s1 = parsePolicy(POLICY_1, 's1.yaml');
      const s2 = parsePolicy(POLICY_2, 's2.yaml');
      a.seen((await b.publish(s1)).epoch);
      await until(() => log.details.length === 1, 'the install of s1 to be recorded');
      a.seen((await b.publish(s2)).epoch);
      log.write();
      await until(() => log.details.length === 2, 'the install of s2 to be recorded');
      log.write();
      await until(() => kernel.shadow?.version === s2.version, 'the node to have s2');
      expect(log.details).toEqual([expect.stringMatching(/^shadow policy set through node b \(cluster shadow epoch 2\)/), expect.stringMatching(/^shadow policy set through node b \(cluster shadow epoch 3\)/)]);
    });
  });

  it('sync() (a reconnect) that joins a fetch waiting on its record returns with the newest epoch in force', async () => {
    await withNodes('sync', 'shadow', async ({ kernel, log, a, b }) => {
      const s1 = parsePolicy(POLICY_1, 's1.yaml');
      const s2 = parsePolicy(POLICY_2, 's2.yaml');
      a.seen((await b.publish(s1)).epoch);
      await until(() => log.details.length === 1, 'the install of s1 to be recorded');
      // s2's message is missed (a reconnect): the node's sync() finds its epoch.
      await b.publish(s2);
      const syncing = a.sync();
      let synced = false;
      void syncing.then(() => (synced = true));
      // sync() reads the stored epoch, then joins the fetch waiting on s1's record.
      await new Promise((r) => setTimeout(r, 100));
      log.write();
      await until(() => log.details.length === 2, 'the install of s2 to be recorded');
      // Not before s2 is in force (it returned with s1, epoch 2, and the node called itself synchronised).
      expect(synced).toBe(false);
      log.write();
      await syncing;
      expect({ epoch: a.epoch, shadow: kernel.shadow?.version }).toEqual({ epoch: 3, shadow: s2.version });
    });
  });

  it("a shadow install whose record the log refused is tried again at the next beat, which reads the shadow's epoch", async () => {
    await withNodes('beat', 'shadow', async ({ kernel, keys, health, redis, log, a, b }) => {
      const s1 = parsePolicy(POLICY_1, 's1.yaml');
      a.seen((await b.publish(s1)).epoch);
      await until(() => log.details.length === 1, 'the install of s1 to be recorded');
      log.write(new KernelError('EIO', 'the decision log cannot be written'));
      await until(() => log.details.length === 2, 'the refusal to be recorded');
      expect(kernel.shadow).toBeUndefined();
      // The log is back; no message comes. A beat of the node (as node.ts makes it) reads the shadow's epoch.
      const directory = new ProcessDirectory(redis, keys, health, { node: 'a', url: 'http://a', host: 'test', pid: 0, startedAt: Date.now() }, 5000);
      const beat = await directory.beat([], { mayBury: false, full: false });
      expect(beat.shadowEpoch).toBe(2);
      a.seen(beat.shadowEpoch);
      await until(() => log.details.length === 3, 'the install to be recorded again');
      log.write();
      await until(() => kernel.shadow?.version === s1.version, 'the node to have s1');
      expect(a.epoch).toBe(2);
    });
  });

  it('after Redis lost its data and another node seeded it first, a node adopts the stored policy though its epoch is lower', async () => {
    await withNodes('lost', 'policy', async ({ kernel, keys, redis, log, a, b }) => {
      const p1 = kernel.engine.policy;
      const p2 = parsePolicy(POLICY_2, 'p2.yaml');
      // Node a's operator puts P2 in force (epoch 2); node b, which misses it, still has P1 (epoch 1).
      expect((await a.publish(p2, () => kernel.replacePolicy(p2))).epoch).toBe(2);
      // Redis restarts empty; b comes back first and stores its own policy, P1, at its epoch, 1.
      await redis.del(keys.policy);
      await b.sync();
      expect((await redis.hgetall(keys.policy)).version).toBe(p1.version);
      const syncing = a.sync();
      await until(() => log.details.length === 1, 'the install of the stored policy to be recorded');
      log.write();
      await syncing;
      expect(kernel.engine.version).toBe(p1.version);
      // The cluster's next epoch, 2 again, reaches a too (no higher than the one a had before the loss).
      a.seen((await b.publish(p2)).epoch);
      await adopts(p2, 2, { kernel, log });
    });
  });

  it('a fetch waiting on its record when Redis turns out to have lost its data installs nothing of the Redis that was lost', async () => {
    await withNodes('inflight', 'policy', async ({ kernel, keys, health, redis, log, a, b }) => {
      const p2 = parsePolicy(POLICY_2, 'p2.yaml');
      const p3 = parsePolicy(POLICY_3, 'p3.yaml');
      await installed(p2, { log, a, b });
      // Epoch 3's record is being written when Redis loses its data, and a fresh node c seeds it with P2 at epoch 1.
      a.seen((await b.publish(p3)).epoch);
      await until(() => log.details.length === 2, 'the install of epoch 3 to be recorded');
      await redis.del(keys.policy);
      await new PolicySync(redis, keys, health, 'c', another(p2)).sync();
      expect(await redis.hgetall(keys.policy)).toMatchObject({ epoch: '1', version: p2.version });
      const syncing = a.sync();
      await new Promise((r) => setTimeout(r, 100));
      log.write();
      await syncing;
      expect({ version: kernel.engine.version, epoch: a.epoch }).toEqual({ version: p2.version, epoch: 1 });
    });
  });

  it('Redis losing the policy without a reconnect (a FLUSHDB, an eviction): the next publish is numbered past the epochs the nodes had, and reaches them', async () => {
    await withNodes('noreconnect', 'policy', async ({ kernel, keys, redis, log, a, b }) => {
      const p2 = parsePolicy(POLICY_2, 'p2.yaml');
      const p3 = parsePolicy(POLICY_3, 'p3.yaml');
      await installed(p2, { log, a, b });
      await redis.del(keys.policy);
      // The emptied Redis would number it 1, which node a would take for an epoch it is past.
      const epoch = (await b.publish(p3)).epoch;
      expect(epoch).toBe(3);
      a.seen(epoch);
      await adopts(p3, 2, { kernel, log });
    });
  });

  it('Redis losing the policy, then a node that knew no epoch publishing twice: a node at the same epoch with another policy adopts the stored one', async () => {
    await withNodes('twopub', 'policy', async ({ kernel, keys, health, redis, log, a, b }) => {
      const p2 = parsePolicy(POLICY_2, 'p2.yaml');
      const p3 = parsePolicy(POLICY_3, 'p3.yaml');
      await installed(p2, { log, a, b });
      await redis.del(keys.policy);
      const fresh = new PolicySync(redis, keys, health, 'c', another(p3));
      const [{ epoch: e1 }, { epoch: e2 }] = await Promise.all([fresh.publish(p3), fresh.publish(p3)]);
      expect([e1, e2]).toEqual([1, 2]);
      // Both messages reach node a after both publishes: epoch 2, as its own, but another policy.
      a.seen(e1);
      a.seen(e2);
      await adopts(p3, 2, { kernel, log });
      expect((await redis.hgetall(keys.policy)).version).toBe(p3.version);
    });
  });

  it('a node that refused an epoch (it does not load there) seeds a lost Redis with the epoch of the policy it runs, and the cluster converges on one policy', async () => {
    await withNodes('refused', 'policy', async ({ kernel, keys, health, redis, log, a, b }) => {
      const p1 = kernel.engine.policy;
      const p2 = parsePolicy(POLICY_2, 'p2.yaml');
      await installed(p2, { log, a, b });
      // Node c cannot load epoch 2 (here: a stored source that does not parse) and stays on P1.
      const c = new PolicySync(redis, keys, health, 'c', another(p1));
      await redis.hset(keys.policy, 'source', 'rules: [');
      await c.sync();
      expect(c.epoch).toBe(2);
      await redis.hset(keys.policy, 'source', p2.source);
      await redis.del(keys.policy);
      // c beats first (the key is gone: 0) and seeds P1 at the epoch P1 had, 1; then node a beats.
      c.seen(0);
      await until(async () => (await redis.hget(keys.policy, 'epoch')) !== null, 'Redis to be seeded');
      expect(await redis.hgetall(keys.policy)).toMatchObject({ epoch: '1', version: p1.version });
      a.seen(1);
      await adopts(p1, 2, { kernel, log });
    });
  });

  it("a node that lagged behind publishes after a flush at another node's epoch: that node sees another version at its own epoch and adopts the stored policy", async () => {
    await withNodes('equal', 'policy', async ({ kernel, keys, health, redis, log, a, b }) => {
      const p1 = kernel.engine.policy;
      const p2 = parsePolicy(POLICY_2, 'p2.yaml');
      const p3 = parsePolicy(POLICY_3, 'p3.yaml');
      const c = new PolicySync(redis, keys, health, 'c', another(p1));
      await c.sync();
      await installed(p2, { log, a, b });
      // c lags at epoch 1; Redis is flushed without a reconnect; c's publish is numbered 2, node a's own epoch.
      await redis.del(keys.policy);
      expect((await c.publish(p3)).epoch).toBe(2);
      // The message (and every beat) says epoch 2 with P3's version.
      const stored = await redis.hgetall(keys.policy);
      a.seen(Number(stored.epoch), stored.version);
      await adopts(p3, 2, { kernel, log });
    });
  });

  it("an operator's publish through a node puts its policy in force there only while no newer epoch came in force meanwhile", async () => {
    let slow: ReturnType<typeof gated> | undefined;
    const through = (redis: RedisClient) => (slow = gated(redis)).client;
    await withNodes(
      'superseded',
      'policy',
      async ({ kernel, keys, redis, log, a, b }) => {
        const p2 = parsePolicy(POLICY_2, 'p2.yaml');
        const p3 = parsePolicy(POLICY_3, 'p3.yaml');
        const installs: string[] = [];
        const here = (p: LoadedPolicy) => () => {
          kernel.replacePolicy(p);
          installs.push(p.version);
        };
        // Node a's operator publishes P2: Redis numbers it 2, and its answer is slow to reach the node.
        const { promise: held, resolve: open } = Promise.withResolvers<void>();
        slow!.gate = held;
        const publishing = a.publish(p2, here(p2));
        await until(async () => (await redis.hget(keys.policy, 'epoch')) === '2', 'Redis to number P2');
        // Meanwhile node b publishes P3 (epoch 3), and node a fetches and installs it.
        a.seen((await b.publish(p3)).epoch);
        await adopts(p3, 1, { kernel, log });
        open();
        // P2's answer arrives: it is older than what is in force here, and is not put in force over P3.
        expect(await publishing).toEqual({ epoch: 2, here: 'superseded', applied: 3 });
        expect({ installs, version: kernel.engine.version, epoch: a.epoch }).toEqual({ installs: [], version: p3.version, epoch: 3 });
        // A publish that nothing overtook is put in force here at once.
        expect(await a.publish(p2, here(p2))).toEqual({ epoch: 4, here: 'installed', applied: 4 });
        expect({ installs, version: kernel.engine.version, epoch: a.epoch }).toEqual({ installs: [p2.version], version: p2.version, epoch: 4 });
      },
      through,
    );
  });

  it('a publish whose answer comes after Redis turned out to have lost its data installs nothing itself: the node adopts what Redis holds', async () => {
    let slow: ReturnType<typeof gated> | undefined;
    await withNodes(
      'publishlost',
      'policy',
      async ({ kernel, keys, health, redis, log, a, b }) => {
        const p1 = kernel.engine.policy;
        const p2 = parsePolicy(POLICY_2, 'p2.yaml');
        const p3 = parsePolicy(POLICY_3, 'p3.yaml');
        await installed(p2, { log, a, b });
        const { promise: held, resolve: open } = Promise.withResolvers<void>();
        slow!.gate = held;
        let installs = 0;
        const publishing = a.publish(p3, () => void installs++);
        await until(async () => (await redis.hget(keys.policy, 'epoch')) === '3', 'Redis to number P3');
        // Redis loses its data; node c comes back first and seeds it with P1 at epoch 1; node a reconnects.
        await redis.del(keys.policy);
        await new PolicySync(redis, keys, health, 'c', another(p1)).sync();
        const syncing = a.sync();
        await adopts(p1, 2, { kernel, log });
        await syncing;
        open();
        expect(await publishing).toMatchObject({ epoch: 3, here: 'lost' });
        expect({ installs, version: kernel.engine.version, epoch: a.epoch }).toEqual({ installs: 0, version: p1.version, epoch: 1 });
      },
      (redis) => (slow = gated(redis)).client,
    );
  });

  it("a stored policy too large to parse at once is read by the node's parser (a worker thread), then installed; one that does not load is refused", async () => {
    const parser = new PolicyParser();
    const rules = Array.from({ length: 400 }, (_, i) => `  - id: area-${i}\n    effect: allow\n    syscalls: [file.read]\n    paths: ["/areas/${i}/**"]\n`).join('');
    try {
      await withNodes(
        'large',
        'policy',
        async ({ kernel, log, a, b }) => {
          const big = parsePolicy(POLICY_1.replace('rules:\n', `rules:\n${rules}`), 'big.yaml');
          expect(big.source.length).toBeGreaterThan(20 * 1024);
          a.seen((await b.publish(big)).epoch);
          await adopts(big, 1, { kernel, log });
          expect(kernel.engine.policy.document.rules.length).toBe(big.document.rules.length);
          // Stored by a node whose check this one does not share (here: published as it is): refused, recorded, and the epoch counts as applied.
          const wrong = { ...big, source: `${big.source}  - id: last\n    effect: perhaps\n`, version: 'sha256:wrong' };
          a.seen((await b.publish(wrong)).epoch);
          await until(() => a.epoch === 3, 'node a to take epoch 3');
          expect(log.details.at(-1)).toMatch(/^cluster policy epoch 3 refused, so this node decides nothing until a policy it loads is the cluster's \(sha256:\w+ stays installed\): big\.yaml:\d+:\d+: rules\[\d+\]\.effect: /);
          expect(kernel.engine.version).toBe(big.version);
        },
        undefined,
        (source, file) => parser.parse(source, file),
      );
    } finally {
      await parser.close();
    }
  });

  it('a publish whose install here throws leaves its epoch unapplied, and the next beat installs it', async () => {
    await withNodes('throws', 'policy', async ({ kernel, log, a }) => {
      const p2 = parsePolicy(POLICY_2, 'p2.yaml');
      await expect(
        a.publish(p2, () => {
          throw new Error('the install failed');
        }),
      ).rejects.toThrow('the install failed');
      expect({ version: kernel.engine.version === p2.version, epoch: a.epoch }).toEqual({ version: false, epoch: 1 });
      // The beat reads epoch 2 (a review: the epoch counted as applied, and nothing installed it again).
      a.seen(2);
      await adopts(p2, 1, { kernel, log });
      expect(a.epoch).toBe(2);
    });
  });
});
