/** ServiceContext is what every route module of agentd shares. */
import type { ClusterNode } from '../cluster/node.ts';
import { KernelError } from '../../abi/errno.ts';
import type { Kernel } from '../kernel.ts';
import type { FileDecisionLog } from '../recorder/file-log.ts';
import type { PolicyParser } from '../policy/parse-off-loop.ts';
import type { PolicyState } from './policy-state.ts';
import type { AgentdConfig } from './config.ts';
import type { Metrics } from './metrics.ts';
import type { OutputBuffers } from './output.ts';
import type { PrincipalStore } from './principals.ts';
import type { AgentLoad } from './agent-load.ts';
import type { EvaluateRate } from './evaluate-rate.ts';
import type { RefusalLog } from './refusals.ts';
import type { ToolPins } from '../tools/tool-pins.ts';
import type { ApprovalGrants } from './grants.ts';

export interface ServiceContext {
  readonly kernel: Kernel;
  readonly log: FileDecisionLog;
  /** Parses the policies agentd is sent off the event loop (kernel/policy/parse-off-loop.ts). */
  readonly policies: PolicyParser;
  /** Where a single agentd keeps the policy an operator put in force, for its next start (kernel/service/policy-state.ts); absent on a cluster node. */
  readonly policyState?: PolicyState;
  readonly metrics: Metrics;
  readonly outputs: OutputBuffers;
  readonly config: AgentdConfig;
  /** The operator token and the agent credentials: who a request comes from (kernel/service/access.ts). */
  readonly principals: PrincipalStore;
  /** Counts 401s and 403s and samples them into the decision log. */
  readonly refusals: RefusalLog;
  /** How many evaluations one agent may ask a second. */
  readonly evaluateRate: EvaluateRate;
  /** What each agent credential holds at once: requests under way and their bodies' bytes (kernel/service/agent-load.ts). */
  readonly agentLoad: AgentLoad;
  /** This node's decision stream in Redis, when it has one: a stream that records nothing more (another writer, a damaged tail) makes agentd not ready. */
  readonly stream?: { readonly problem: string | undefined };
  /** Set when this agentd is a node of a cluster: the directory, relays and shared policy (kernel/cluster). */
  readonly cluster?: ClusterNode;
  /** The approvals agents outside the kernel may redeem, each bound to its request (kernel/service/grants.ts). */
  readonly grants: ApprovalGrants;
  /** What each upstream MCP tool was approved to say about itself (kernel/tools/tool-pins.ts). */
  readonly pins: ToolPins;
  /** False once shutdown has begun: /readyz fails and no new work is taken. */
  accepting: boolean;
}

/** Problem is the JSON body of every error answer. */
export const PROBLEM = {
  type: 'object',
  properties: { error: { type: 'string' }, errno: { type: 'string' } },
  required: ['error'],
} as const;

export const PID_PARAMS = {
  type: 'object',
  required: ['pid'],
  properties: { pid: { type: 'integer', minimum: 1 } },
} as const;

/**
 * noProcess is the ESRCH for a pid this node does not hold: never spawned, or
 * exited and reaped once `retention.exited_ms` had passed (its output with it).
 */
export function noProcess(pid: number, config: Pick<AgentdConfig, 'retention'>): KernelError {
  return new KernelError('ESRCH', `no process ${pid} (agentd keeps an exited process and its output ${config.retention.exitedMs} ms: retention.exited_ms)`);
}
