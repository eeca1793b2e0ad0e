/**
 * PolicyDecision is what the engine answers a PolicyRequest
 * (abi/policy-request.ts) with.
 */
import type { LimitedRule } from './limits.ts';
import type { Risk, ViolationSignal } from './schema.ts';
import type { Effect } from '../../abi/kinds.ts';

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
