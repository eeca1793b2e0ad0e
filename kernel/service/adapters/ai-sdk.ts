/**
 * ai-sdk governs Vercel AI SDK (`ai` v7) tools with agentd. governAiSdkTools
 * returns the tools and a `toolApproval` function for generateText,
 * streamText or ToolLoopAgent; toolApproval is the SDK's per-call approval
 * hook (it replaces the tool-level `needsApproval`, deprecated in v7):
 *
 *   allow             → `approved`: the tool runs;
 *   deny              → `{ type: 'denied', reason }`: the SDK does not run the
 *                       tool and gives the model an `execution-denied` result
 *                       carrying the reason;
 *   require_approval  → waits for the operator (`agentctl approve/deny`), then
 *                       approved or denied as above.
 *
 * A tool's own `needsApproval` still applies after agentd allows (the SDK's
 * `user-approval`, answered by the application). Each tool's `execute` is
 * wrapped too, so a call that did not pass through toolApproval (it was not
 * passed, or the tool is called directly) asks agentd itself and throws
 * GovernedCallDenied on a denial, which the SDK reports to the model as a
 * tool error. Only types are imported from `ai`.
 */
import type { ModelMessage, ToolApprovalStatus, ToolExecutionOptions, ToolSet } from 'ai';
import { GovernedCallDenied, type Governor, type ToolCallRequest } from './governed-call.ts';

const FRAMEWORK = 'ai-sdk';
/** Calls allowed by toolApproval and not yet run, at most this many (oldest dropped: they ask again). */
const MAX_PENDING = 1000;

/** AiSdkToolCall is the part of the SDK's tool call that toolApproval reads. */
export interface AiSdkToolCall {
  readonly toolCallId: string;
  readonly toolName: string;
  readonly input: unknown;
}

/** AiSdkToolApproval is a generic `toolApproval` function (the SDK's GenericToolApprovalFunction, for any tool set). */
export type AiSdkToolApproval = (options: { readonly toolCall: AiSdkToolCall; readonly toolsContext?: unknown; readonly messages: ModelMessage[] }) => Promise<ToolApprovalStatus>;

export interface GovernedAiSdkTools<TOOLS extends ToolSet> {
  /** The same tools, each `execute` asking agentd unless toolApproval already did for that call. */
  readonly tools: TOOLS;
  /** Pass as generateText/streamText/ToolLoopAgent `toolApproval`. */
  readonly toolApproval: AiSdkToolApproval;
}

type NeedsApproval = boolean | ((input: unknown, options: { toolCallId: string; messages: ModelMessage[]; context: unknown }) => boolean | PromiseLike<boolean>);
type Execute = (input: unknown, options: ToolExecutionOptions<unknown>) => unknown;

const keyOf = (tool: string, callId: string) => `${tool}\u0000${callId}`;

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return value !== null && typeof value === 'object' && Symbol.asyncIterator in value;
}

/** governAiSdkTools governs every tool of `tools` through `governor`; tools without `execute` are governed by toolApproval alone. */
export function governAiSdkTools<TOOLS extends ToolSet>(governor: Governor, tools: TOOLS): GovernedAiSdkTools<TOOLS> {
  /** Calls toolApproval let through, by tool and call id, with the input agentd saw. */
  const allowed = new Map<string, string>();

  /** admit asks agentd unless toolApproval already allowed this very call; throws GovernedCallDenied. */
  async function admit(tool: string, input: unknown, options: ToolExecutionOptions<unknown>): Promise<void> {
    const key = keyOf(tool, options.toolCallId);
    const seen = allowed.get(key);
    if (seen !== undefined) {
      allowed.delete(key);
      if (seen === JSON.stringify(input)) return;
    }
    const verdict = await governor.decide({ framework: FRAMEWORK, tool, input, callId: options.toolCallId }, options.abortSignal);
    if (!verdict.allowed) throw new GovernedCallDenied(verdict);
  }

  function wrap(tool: string, execute: Execute): Execute {
    if (Object.prototype.toString.call(execute) === '[object AsyncGeneratorFunction]') {
      return async function* (input, options) {
        await admit(tool, input, options);
        return yield* execute(input, options) as AsyncIterable<unknown>;
      };
    }
    return async (input, options) => {
      await admit(tool, input, options);
      const result = await execute(input, options);
      // A plain function that returned a stream: the SDK sees its last value as the final output.
      if (!isAsyncIterable(result)) return result;
      let last: unknown;
      for await (const value of result) last = value;
      return last;
    };
  }

  const governed: Record<string, unknown> = {};
  for (const [name, tool] of Object.entries(tools)) {
    governed[name] = typeof tool.execute === 'function' ? { ...tool, execute: wrap(name, tool.execute as Execute) } : tool;
  }

  const toolApproval: AiSdkToolApproval = async ({ toolCall, toolsContext, messages }) => {
    const call: ToolCallRequest = { framework: FRAMEWORK, tool: toolCall.toolName, input: toolCall.input, callId: toolCall.toolCallId };
    const verdict = await governor.decide(call);
    if (!verdict.allowed) return { type: 'denied', reason: verdict.message };
    const key = keyOf(toolCall.toolName, toolCall.toolCallId);
    allowed.delete(key);
    allowed.set(key, JSON.stringify(toolCall.input));
    if (allowed.size > MAX_PENDING) allowed.delete(allowed.keys().next().value!);
    const needs = (Object.hasOwn(tools, toolCall.toolName) ? tools[toolCall.toolName]!.needsApproval : undefined) as NeedsApproval | undefined;
    const context = toolsContext !== null && typeof toolsContext === 'object' ? (toolsContext as Record<string, unknown>)[toolCall.toolName] : undefined;
    const ask = typeof needs === 'function' ? await needs(toolCall.input, { toolCallId: toolCall.toolCallId, messages, context }) : needs === true;
    return ask ? { type: 'user-approval', reason: `agentd allowed ${toolCall.toolName} (rule ${verdict.decision.rule}); the tool asks for approval too` } : { type: 'approved', reason: `agentd: rule ${verdict.decision.rule}, record #${verdict.decision.seq}` };
  };

  return { tools: governed as TOOLS, toolApproval };
}
