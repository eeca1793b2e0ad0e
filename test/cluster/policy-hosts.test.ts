/**
 * A node installing the cluster's policy (or shadow) records it first. Found
 * by a review: the node replaced its policy and then recorded it, so a log
 * that refused the record (a full disk) left the node enforcing a policy its
 * log never named, and the epoch counted as applied.
 */
import { describe, expect, it } from 'vitest';
import { KernelError } from '../../abi/errno.ts';
import { policyHost, shadowHost } from '../../kernel/cluster/policy-hosts.ts';
import { Kernel } from '../../kernel/kernel.ts';
import { parsePolicy } from '../../kernel/policy/load.ts';
import type { DecisionInput } from '../../syscalls/records.ts';
import { POLICY_2 } from './policies.ts';

describe("a node's install of the cluster policy", () => {
  it('changes nothing when its record is refused, and says so after any record the log may have taken', async () => {
    const kernel = new Kernel({ stdout: () => {}, stderr: () => {} });
    try {
      const tried: string[] = [];
      const refusing = (entry: DecisionInput) => {
        tried.push('detail' in entry ? (entry.detail ?? '') : '');
        throw new KernelError('EIO', 'the decision log cannot be written');
      };
      const before = kernel.engine.version;
      const policy = parsePolicy(POLICY_2, 'p2.yaml');
      expect(() => policyHost(kernel, refusing).install(policy, 'node-b', 7)).toThrow(/cannot be written/);
      expect(kernel.engine.version).toBe(before);
      expect(tried).toEqual([expect.stringMatching(/^policy replaced through node node-b/), expect.stringMatching(/^not applied: policy replaced through node node-b/)]);
      expect(() => shadowHost(kernel, refusing).install(policy, 'node-b', 3)).toThrow(/cannot be written/);
      expect(kernel.shadow).toBeUndefined();
    } finally {
      await kernel.shutdown();
    }
  });
});
