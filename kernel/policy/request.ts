/**
 * PolicyRequest is what the engine decides on: who asks (agent id, labels,
 * capabilities), for what (syscall or action), on what (path, tool,
 * arguments). Syscalls from ring 3 and external evaluation requests both
 * become one of these.
 */
import type { LimitedRule } from './limits.ts';
import type { Effect, Risk, ViolationSignal } from './schema.ts';

export interface PolicyRequest {
  readonly agentId: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly capabilities?: ReadonlySet<string>;
  /** root: the process an agent was started as (and every agent outside the kernel); child: spawned by another process of its tree. */
  readonly lineage?: 'root' | 'child';
  readonly syscall: string;
  readonly access?: 'read' | 'write' | 'none';
  readonly path?: string;
  readonly tool?: string;
  readonly args?: Readonly<Record<string, unknown>>;
  /** Guarded data flows the call would make; only rules naming each in allow_flows can let it through. */
  readonly flows?: readonly string[];
  /** The agent's trust score (kernel/trust.ts); 1000 when absent. */
  readonly trust?: number;
  /** LLM tokens the agent had used when it asked, as the engine counts them: kept in the record for replay (the engine reads its own count). */
  readonly tokens?: number;
  /** The agent is at autonomy supervised and the call is a change, so an allow of it becomes a question (kernel/autonomy.ts): kept in the record for replay; the engine does not read it. */
  readonly supervised?: boolean;
}

export interface PolicyDecision {
  readonly effect: Effect;
  /** The rule that decided, or `default-deny`. */
  readonly rule: string;
  readonly reason: string;
  readonly policyVersion: string;
  readonly onViolation?: ViolationSignal;
  readonly risk?: Risk;
  /** For require_approval: how long to wait before denying. */
  readonly approvalTimeoutMs?: number;
  /** Rules whose limits the cluster counts: the decision stands only once PolicyEngine.settle agrees. */
  readonly shared?: readonly LimitedRule[];
  /** EIO: the decision could not be completed (the cluster's limits out of reach), so it is a deny. */
  readonly errno?: 'EIO';
}
