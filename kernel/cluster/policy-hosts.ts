/**
 * The kernel's side of the cluster's policies: the PolicyHost through which
 * PolicySync puts the cluster policy, and the one through which it sets or
 * clears the shadow policy, in a node's kernel. Each records what it does,
 * and waits for the record to be written before it does it (recordAct, as
 * agentd's own acts), or records a stored policy it refused, in the node's
 * decision log.
 */
import type { DecisionRecorder } from '../../syscalls/records.ts';
import { notApplied, recordAct, type ActRecord } from '../recorder/record-act.ts';
import type { Kernel } from '../kernel.ts';
import type { LoadedPolicy } from '../policy/load.ts';
import type { PolicyHost } from './policy-sync.ts';

/** Parse reads a stored policy (PolicyParser.parse, off the event loop); absent, PolicySync parses at once. */
export type Parse = (source: string, file: string) => Promise<LoadedPolicy>;

/** NodeLog is where a node writes its own records: the decision log, whose beforeAction says a record is written. */
export type NodeLog = Pick<DecisionRecorder, 'record' | 'beforeAction'>;

/**
 * superseded: a newer epoch than `act`'s was put in force while its record was being written (this node's operator
 * published one), so `act` is not applied, and a record says so. Decided by epoch, not by version: the same policy put
 * in force again has the same version (found by a review: an older epoch was installed over a newer one that way).
 */
function superseded(log: NodeLog, act: ActRecord, newest: () => boolean): boolean {
  if (newest()) return false;
  notApplied((e) => log.record(e), act, 'a newer epoch was put in force meanwhile');
  return true;
}

/** policyHost installs the cluster policy in `kernel`; `log` takes the node's own records; `parse` reads what is stored. */
export function policyHost(kernel: Kernel, log: NodeLog, parse?: Parse): PolicyHost {
  return {
    ...(parse !== undefined ? { parse } : {}),
    current: () => kernel.engine.policy,
    install: async (policy, from, epoch, newest) => {
      if (policy === undefined) return;
      const previous = kernel.engine.version;
      const act: ActRecord = { type: 'policy', pid: 0, agentId: 'agentd', detail: `policy replaced through node ${from} (cluster epoch ${epoch}): ${previous} -> ${policy.version}`, policyVersion: policy.version };
      await recordAct(log, act);
      if (superseded(log, act, newest)) return;
      kernel.replacePolicy(policy);
    },
    refused: (epoch, error) => {
      log.record({ type: 'policy', pid: 0, agentId: 'agentd', detail: `cluster policy epoch ${epoch} refused, so this node decides nothing until a policy it loads is the cluster's (${kernel.engine.version} stays installed): ${error}`, policyVersion: kernel.engine.version });
    },
  };
}

/** shadowHost sets (or clears) the cluster's shadow policy in `kernel`; `log` takes the node's own records; `parse` reads what is stored. */
export function shadowHost(kernel: Kernel, log: NodeLog, parse?: Parse): PolicyHost {
  return {
    ...(parse !== undefined ? { parse } : {}),
    current: () => kernel.shadow?.engine.policy,
    install: async (policy, from, epoch, newest) => {
      const previous = kernel.shadow?.version;
      const act: ActRecord = { type: 'policy', pid: 0, agentId: 'agentd', detail: policy === undefined ? `shadow policy ${previous ?? '(none)'} cleared through node ${from} (cluster shadow epoch ${epoch})` : `shadow policy set through node ${from} (cluster shadow epoch ${epoch}): ${policy.version}`, policyVersion: kernel.engine.version };
      await recordAct(log, act);
      if (superseded(log, act, newest)) return;
      kernel.setShadow(policy);
    },
    refused: (epoch, error) => {
      log.record({ type: 'policy', pid: 0, agentId: 'agentd', detail: `cluster shadow policy epoch ${epoch} refused here: ${error}`, policyVersion: kernel.engine.version });
    },
  };
}
