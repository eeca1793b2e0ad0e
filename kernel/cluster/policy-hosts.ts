/**
 * The kernel's side of the cluster's policies: the PolicyHost through which
 * PolicySync puts the cluster policy, and the one through which it sets or
 * clears the shadow policy, in a node's kernel. Each records what it does
 * (before it does it), or a stored policy it refused, in the node's decision
 * log.
 */
import type { DecisionInput } from '../../syscalls/records.ts';
import { recordFirst } from '../recorder/record-act.ts';
import type { Kernel } from '../kernel.ts';
import type { PolicyHost } from './policy-sync.ts';

/** policyHost installs the cluster policy in `kernel`; `record` writes the node's own records. */
export function policyHost(kernel: Kernel, record: (entry: DecisionInput) => void): PolicyHost {
  return {
    current: () => kernel.engine.policy,
    install: (policy, from, epoch) => {
      if (policy === undefined) return;
      const previous = kernel.engine.version;
      recordFirst(record, { type: 'policy', pid: 0, agentId: 'agentd', detail: `policy replaced through node ${from} (cluster epoch ${epoch}): ${previous} -> ${policy.version}`, policyVersion: policy.version });
      kernel.replacePolicy(policy);
    },
    refused: (epoch, error) => {
      record({ type: 'policy', pid: 0, agentId: 'agentd', detail: `cluster policy epoch ${epoch} refused, ${kernel.engine.version} stays in force: ${error}`, policyVersion: kernel.engine.version });
    },
  };
}

/** shadowHost sets (or clears) the cluster's shadow policy in `kernel`; `record` writes the node's own records. */
export function shadowHost(kernel: Kernel, record: (entry: DecisionInput) => void): PolicyHost {
  return {
    current: () => kernel.shadow?.engine.policy,
    install: (policy, from, epoch) => {
      const previous = kernel.shadow?.version;
      recordFirst(record, { type: 'policy', pid: 0, agentId: 'agentd', detail: policy === undefined ? `shadow policy ${previous ?? '(none)'} cleared through node ${from} (cluster shadow epoch ${epoch})` : `shadow policy set through node ${from} (cluster shadow epoch ${epoch}): ${policy.version}`, policyVersion: kernel.engine.version });
      kernel.setShadow(policy);
    },
    refused: (epoch, error) => {
      record({ type: 'policy', pid: 0, agentId: 'agentd', detail: `cluster shadow policy epoch ${epoch} refused here: ${error}`, policyVersion: kernel.engine.version });
    },
  };
}
