/**
 * A cluster node's lease as the kernel's standing (kernel/cluster/lease.ts),
 * with real agent programs: past the lease a decision waits while the node
 * renews it, but a question that counts nothing (/v1/evaluate's
 * redemption check, the hosts' steady answers for reads) is told the
 * reason at once and starts no renewal (a re-read: each such question
 * started a renewal of its own and a timer of four heartbeats).
 */
import { describe, expect, it } from 'vitest';
import { NodeLease } from '../../kernel/cluster/lease.ts';
import { Identity } from '../../kernel/capabilities.ts';
import { Kernel } from '../../kernel/kernel.ts';
import { PolicyAuthorizer } from '../../kernel/policy/authorizer.ts';
import { PolicyEngine } from '../../kernel/policy/engine.ts';
import type { AccessRequest } from '../../syscalls/context.ts';
import { ALLOW_ALL, report, run } from '../syscalls/harness.ts';

/** A lease of a node that synced, then went 10 s without a heartbeat; `renew` beats again if `back`. */
function lapsed(back: boolean): { lease: NodeLease; renewals: () => number } {
  let renewals = 0;
  const lease: NodeLease = new NodeLease(
    { nodeTtlMs: 2000, heartbeatMs: 100 },
    {
      problem: () => (back ? undefined : 'Redis at 127.0.0.1:1 is unreachable'),
      refusal: () => undefined,
      renew: async () => {
        renewals++;
        if (back) lease.beatSent(performance.now());
      },
      stopped: () => false,
      behind: () => undefined,
      caughtUp: () => Promise.resolve(),
    },
  );
  lease.synced();
  lease.beatSent(performance.now() - 10_000);
  return { lease, renewals: () => renewals };
}

const READ: AccessRequest = { pid: 7, agentId: 'a', identity: new Identity({ id: 'a', labels: {}, capabilities: ['vfs:/agent/a:ro'] }), syscall: 'SYS_STAT', access: 'read', path: '/agent/a/x', args: { path: '/agent/a/x' }, resource: 'path' };

describe('a cluster node past its lease', () => {
  it('a decision renews the lease once and is denied while Redis stays away; a check and a steady answer renew nothing', async () => {
    const { lease, renewals } = lapsed(false);
    const authorizer = new PolicyAuthorizer(new PolicyEngine(ALLOW_ALL), { standing: lease });
    const denied = await authorizer.authorize(READ);
    expect(denied).toMatchObject({ effect: 'deny', rule: 'kernel.fail-closed', reason: expect.stringContaining('Redis at 127.0.0.1:1 is unreachable') as unknown });
    expect(renewals()).toBe(1);
    for (let i = 0; i < 100; i++) {
      expect(authorizer.check(READ)).toMatchObject({ effect: 'deny', rule: 'kernel.fail-closed' });
      expect(authorizer.steady(READ)).toBeUndefined();
    }
    expect(renewals()).toBe(1);
  });

  it('an agent program: its syscall is denied with EIO, naming why', async () => {
    const { lease, renewals } = lapsed(false);
    const kernel = new Kernel({ policy: ALLOW_ALL, standing: lease });
    const result = await run('sys.getpid();', { kernel, agentId: 'a' });
    expect(result.exit.status).not.toBe(0);
    expect(JSON.stringify(result.exit.reason)).toContain('SYS_GETPID denied by kernel.fail-closed: this cluster node has not reached Redis');
    expect(renewals()).toBeGreaterThanOrEqual(1);
  });

  it('lets a decision through once its renewal beats again', async () => {
    const { lease, renewals } = lapsed(true);
    const kernel = new Kernel({ policy: ALLOW_ALL, standing: lease });
    const { value } = await report<{ pid: number; check: string }>(`report({ pid: sys.getpid(), check: sys.checkPolicy('SYS_GETPID').effect });`, { kernel, agentId: 'a' });
    expect(value).toEqual({ pid: expect.any(Number) as unknown, check: 'allow' });
    expect(renewals()).toBe(1);
  });
});

describe('a cluster node refused for its timing', () => {
  it('denies at once within its lease, renewing nothing (a review: each decision renewed it, a heartbeat script each, and waited)', async () => {
    let renewals = 0;
    const lease = new NodeLease(
      { nodeTtlMs: 4000, heartbeatMs: 500 },
      {
        problem: () => undefined,
        refusal: () => 'node n1, alive and in the cluster before this one, has node_ttl_ms 8000 and heartbeat_ms 1000',
        renew: async () => {
          renewals++;
          await new Promise((resolve) => setTimeout(resolve, 300));
        },
        stopped: () => false,
        behind: () => undefined,
        caughtUp: () => Promise.resolve(),
      },
    );
    lease.synced();
    lease.beatSent(performance.now());
    expect(lease.wait()).toMatch(/decides nothing: node n1/);
    expect(renewals).toBe(0);
  });
});
