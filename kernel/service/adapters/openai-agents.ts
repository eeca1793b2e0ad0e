/**
 * openai-agents governs OpenAI Agents SDK (`@openai/agents`) function tools
 * with agentd through the SDK's tool input guardrails, which the runner
 * calls right before a function tool's `invoke`:
 *
 *   allow             → `allow`: the tool runs;
 *   deny              → `rejectContent`: the tool does not run and the model
 *                       gets the denial as the call's output;
 *   require_approval  → the guardrail waits for the operator (`agentctl
 *                       approve/deny`), then allow or rejectContent.
 *
 * The guardrail's `outputInfo` holds agentd's decision (and the approval),
 * so `result.toolInputGuardrailResults` shows it. Hosted, computer, shell and
 * apply-patch tools have no input guardrails and are not governed here.
 * Only types are imported from `@openai/agents`.
 */
import type { FunctionTool, ToolGuardrailFunctionOutput, ToolInputGuardrailData, ToolInputGuardrailDefinition, ToolInputParameters } from '@openai/agents';
import type { Governor, Verdict } from './governed-call.ts';

const FRAMEWORK = 'openai-agents';

/** AGENTD_GUARDRAIL is the name the guardrail carries in the SDK's guardrail results. */
export const AGENTD_GUARDRAIL = 'agentd';

/** GuardrailInfo is the guardrail's outputInfo: agentd's decision, and the operator's answer when there was one. */
export interface GuardrailInfo {
  readonly allowed: boolean;
  readonly decision: Verdict['decision'];
  readonly approval?: Verdict['approval'];
}

function parseArguments(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return { arguments: text };
  }
}

/** agentdToolGuardrail is a tool input guardrail that asks agentd about each call of the tool it guards. */
export function agentdToolGuardrail<TContext = unknown>(governor: Governor): ToolInputGuardrailDefinition<TContext> {
  return {
    type: 'tool_input',
    name: AGENTD_GUARDRAIL,
    async run({ toolCall }: ToolInputGuardrailData<TContext>): Promise<ToolGuardrailFunctionOutput> {
      const tool = toolCall.namespace ? `${toolCall.namespace}.${toolCall.name}` : toolCall.name;
      const verdict = await governor.decide({ framework: FRAMEWORK, tool, input: parseArguments(toolCall.arguments), callId: toolCall.callId });
      const { decision, approval } = verdict;
      const outputInfo: GuardrailInfo = { allowed: verdict.allowed, decision, ...(approval !== undefined ? { approval } : {}) };
      return verdict.allowed ? { behavior: { type: 'allow' }, outputInfo } : { behavior: { type: 'rejectContent', message: verdict.message }, outputInfo };
    },
  };
}

/** governAgentsTool returns `tool` with agentd's guardrail after its own input guardrails. */
export function governAgentsTool<TContext, TParameters extends ToolInputParameters, Result>(
  governor: Governor,
  tool: FunctionTool<TContext, TParameters, Result>,
): FunctionTool<TContext, TParameters, Result> {
  return { ...tool, inputGuardrails: [...(tool.inputGuardrails ?? []), agentdToolGuardrail<TContext>(governor)] };
}

/** governAgentsTools governs each function tool of `tools`. */
export function governAgentsTools<TContext, TParameters extends ToolInputParameters, Result>(
  governor: Governor,
  tools: readonly FunctionTool<TContext, TParameters, Result>[],
): FunctionTool<TContext, TParameters, Result>[] {
  return tools.map((tool) => governAgentsTool(governor, tool));
}
