/**
 * A node installing the cluster's policy (or shadow) records it first and
 * waits for the record to be written, as agentd's own acts do (recordAct).
 * Found by a review: the node replaced its policy and then recorded it, so a
 * log that refused the record (a full disk) left the node enforcing a policy
 * its log never named; and later, that it recorded the install but put the
 * policy in force before the record was written.
 */
import { describe, expect, it } from 'vitest';
import { KernelError } from '../../abi/errno.ts';
import { policyHost, shadowHost, type NodeLog } from '../../kernel/cluster/policy-hosts.ts';
import { Kernel } from '../../kernel/kernel.ts';
import { parsePolicy, type LoadedPolicy } from '../../kernel/policy/load.ts';
import { POLICY_2 } from './policies.ts';

/** writing is a log whose writes the test settles: each record's detail, and the write that `beforeAction` waits for. */
function writing(): NodeLog & { details: string[]; write: (err?: Error) => void } {
  const details: string[] = [];
  let settle: ((err?: Error) => void) | undefined;
  return {
    details,
    record: (entry) => details.push('detail' in entry ? (entry.detail ?? '') : ''),
    beforeAction: () => new Promise<void>((resolve, reject) => (settle = (err) => (err === undefined ? resolve() : reject(err)))),
    write: (err) => settle?.(err),
  };
}

const settled = () => new Promise((r) => setTimeout(r, 20));

/** onKernel runs `test` with a fresh kernel and the policy the cluster installs. */
async function onKernel(test: (kernel: Kernel, policy: LoadedPolicy) => Promise<void>): Promise<void> {
  const kernel = new Kernel({ stdout: () => {}, stderr: () => {} });
  try {
    await test(kernel, parsePolicy(POLICY_2, 'p2.yaml'));
  } finally {
    await kernel.shutdown();
  }
}

describe("a node's install of the cluster policy", () => {
  it('puts the policy in force only once its record is written', async () => {
    await onKernel(async (kernel, policy) => {
      const before = kernel.engine.version;
      const log = writing();
      const installing = policyHost(kernel, log).install(policy, 'node-b', 7, () => true);
      await settled();
      expect(log.details).toEqual([expect.stringMatching(/^policy replaced through node node-b \(cluster epoch 7\)/)]);
      expect(kernel.engine.version).toBe(before);
      log.write();
      await installing;
      expect(kernel.engine.version).toBe(policy.version);
      const shadowLog = writing();
      const shadowing = shadowHost(kernel, shadowLog).install(policy, 'node-b', 3, () => true);
      await settled();
      expect(kernel.shadow).toBeUndefined();
      shadowLog.write();
      await shadowing;
      expect(kernel.shadow?.version).toBe(policy.version);
    });
  });

  it('changes nothing when its record cannot be written, and says so after any record the log may have taken', async () => {
    await onKernel(async (kernel, policy) => {
      const before = kernel.engine.version;
      const log = writing();
      const installing = policyHost(kernel, log).install(policy, 'node-b', 7, () => true);
      log.write(new KernelError('ENOSPC', 'the decision log cannot be written'));
      await expect(installing).rejects.toThrow(/cannot be written/);
      expect(kernel.engine.version).toBe(before);
      expect(log.details).toEqual([expect.stringMatching(/^policy replaced through node node-b/), expect.stringMatching(/^not applied: policy replaced through node node-b/)]);
      const refusing: NodeLog = {
        record: () => {
          throw new KernelError('EIO', 'the decision log cannot be written');
        },
        beforeAction: () => undefined,
      };
      await expect(shadowHost(kernel, refusing).install(policy, 'node-b', 3, () => true)).rejects.toThrow(/cannot be written/);
      expect(kernel.shadow).toBeUndefined();
    });
  });

  it('is not applied when a newer epoch was put in force while its record was being written', async () => {
    await onKernel(async (kernel) => {
      const stale = parsePolicy(POLICY_2, 'p2.yaml');
      let newest = true;
      const log = writing();
      const installing = policyHost(kernel, log).install(stale, 'node-b', 7, () => newest);
      await settled();
      const newer = parsePolicy(POLICY_2.replace('version: 1', 'version: 1\n# newer'), 'p3.yaml');
      kernel.replacePolicy(newer);
      newest = false;
      log.write();
      await installing;
      expect(kernel.engine.version).toBe(newer.version);
      expect(log.details.at(-1)).toMatch(/^not applied: policy replaced through node node-b .*\(a newer epoch was put in force meanwhile/);
    });
  });
});
