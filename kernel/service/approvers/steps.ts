/** chainSteps builds the chain's approvers from their settings (settings.ts checked their form). */
import { KernelError } from '../../../abi/errno.ts';
import type { ToolRegistry } from '../../tools/registry.ts';
import type { ChainStep } from './chain.ts';
import { commandStep } from './command.ts';
import { reviewerStep } from './reviewer.ts';
import type { ChainSettings } from './settings.ts';

/** chainSteps makes each step; a reviewer needs agentd's llm.chat tool (EINVAL naming the step if there is none). */
export function chainSteps(chain: readonly ChainSettings[], tools: ToolRegistry): ChainStep[] {
  return chain.map((step, i) => {
    if ('command' in step) return commandStep(step.command);
    if (!tools.has('llm.chat')) throw new KernelError('EINVAL', `approvals.chain[${i}].reviewer asks a model through llm.chat, and the tools configuration has none (tools: { builtin: { llm.chat: … } })`);
    return reviewerStep(step.reviewer, tools);
  });
}
