/**
 * ConfinementAuthorizer is the built-in rule until the policy engine lands:
 * an agent may touch paths only inside its own tree `/agent/<id>`; fd, self
 * and not-yet-implemented rows are allowed (they touch nothing outside the
 * caller). Anything else is denied.
 */
import type { AccessRequest, Authorizer, Decision } from '../syscalls/context.ts';
import { agentRoot } from '../vfs/agent-vfs.ts';
import { isWithin } from '../vfs/path.ts';

const ALLOW_OWN_TREE: Decision = { effect: 'allow', rule: 'builtin.confine', reason: 'inside the agent tree' };
const DENY_OUTSIDE: Decision = { effect: 'deny', rule: 'builtin.confine', reason: 'outside the agent tree' };
const ALLOW_NO_PATH: Decision = { effect: 'allow', rule: 'builtin.no-path', reason: 'touches only the caller' };

export class ConfinementAuthorizer implements Authorizer {
  authorize(request: AccessRequest): Decision {
    if (request.path === undefined) return ALLOW_NO_PATH;
    return isWithin(agentRoot(request.agentId), request.path) ? ALLOW_OWN_TREE : DENY_OUTSIDE;
  }
}

/** The text shown read-only at /agent/<id>/policy/README while this rule is in force. */
export const CONFINEMENT_POLICY_TEXT = `builtin.confine: this agent may read and write only below its own tree;
policy/ is read-only. The policy engine (issue #3) replaces this rule.
`;
