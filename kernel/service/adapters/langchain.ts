/**
 * langchain governs LangChain.js tools (`@langchain/core`) with agentd.
 * governLangChainTool returns a view of the tool — same name, description,
 * schema and type, the tool itself as its prototype — whose `invoke` and
 * `call` ask agentd before the tool runs (and wait for the operator when the
 * policy requires approval). Invoked with a tool call (an agent loop,
 * ToolNode), a denial is LangChain's own: a ToolMessage with status `error`
 * whose content tells the model why and whose artifact holds agentd's
 * verdict; invoked with plain arguments there is no model to tell, so it
 * throws GovernedCallDenied. A denied call fires no tool callbacks.
 *
 * This is the one adapter with a run-time import of its framework
 * (ToolMessage, from @langchain/core/messages); the others import types only.
 */
import { ToolMessage, type ToolCall } from '@langchain/core/messages';
import type { StructuredToolInterface, ToolRunnableConfig } from '@langchain/core/tools';
import { GovernedCallDenied, type Governor } from './governed-call.ts';

const FRAMEWORK = 'langchain';

type Method = (input: unknown, config?: ToolRunnableConfig, ...rest: unknown[]) => Promise<unknown>;

function isToolCall(value: unknown): value is ToolCall {
  return value !== null && typeof value === 'object' && (value as { type?: unknown }).type === 'tool_call';
}

/** governLangChainTool governs `tool` through `governor`; the original is left as it was. */
export function governLangChainTool<T extends StructuredToolInterface>(governor: Governor, tool: T): T {
  /** governed runs `method` of the original tool once agentd lets the call through. */
  const governed = (method: Method): Method =>
    async function (input, config, ...rest) {
      const toolCall = isToolCall(input) ? input : config?.toolCall;
      const args = isToolCall(input) ? input.args : input;
      const verdict = await governor.decide({ framework: FRAMEWORK, tool: tool.name, input: args, ...(toolCall?.id !== undefined ? { callId: toolCall.id } : {}) }, config?.signal);
      if (verdict.allowed) return method.call(tool, input, config, ...rest);
      if (toolCall?.id === undefined) throw new GovernedCallDenied(verdict);
      const { message, ...artifact } = verdict;
      return new ToolMessage({ status: 'error', content: message, tool_call_id: toolCall.id, name: tool.name, artifact });
    };
  const view = Object.create(tool) as T;
  Object.defineProperty(view, 'invoke', { value: governed(tool.invoke as Method), enumerable: false });
  Object.defineProperty(view, 'call', { value: governed(tool.call as Method), enumerable: false });
  return view;
}

/** governLangChainTools governs each tool of `tools`. */
export function governLangChainTools<T extends StructuredToolInterface>(governor: Governor, tools: readonly T[]): T[] {
  return tools.map((tool) => governLangChainTool(governor, tool));
}
