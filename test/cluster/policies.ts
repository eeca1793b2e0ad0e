/** Policies the cluster tests install: the built-in default plus approval rules, and a second version that allows one more action. */
import { defaultPolicy } from '../../kernel/policy/default.ts';

const APPROVALS = `  - id: payments-need-approval
    effect: require_approval
    syscalls: [payment.send]
    reason: payments need an operator
  - id: deletes-need-approval
    effect: require_approval
    syscalls: [SYS_UNLINK]
    paths: ["/agent/\${agent}/mem/**"]
    reason: deleting memory needs an operator
`;

const REPORTS = `  - id: reports-allowed
    effect: allow
    syscalls: [report.send]
`;

/** POLICY_1: the default policy, payments and deletes of memory need approval; report.send is denied (no rule). */
export const POLICY_1 = defaultPolicy().source.replace('rules:\n', `rules:\n${APPROVALS}`);
/** POLICY_2: POLICY_1 plus report.send allowed. */
export const POLICY_2 = POLICY_1.replace('rules:\n', `rules:\n${REPORTS}`);
