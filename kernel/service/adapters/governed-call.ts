/**
 * governed-call is the core the framework adapters share (ai-sdk.ts,
 * openai-agents.ts, langchain.ts): a Governor asks agentd before a tool call
 * runs — `POST /v1/evaluate` with action `tool.call`, the tool's name and its
 * input as arguments — and, when the policy says require_approval, waits for
 * an operator's answer (`GET /v1/approvals/:id?wait=`, answered with
 * `agentctl approve/deny`), then redeems the approval — the same request
 * with its `approval_id`, allowed once, for that call only
 * (kernel/service/grants.ts). It returns a Verdict: allowed, or denied with a
 * message for the model. The adapters turn a denial into the framework's own
 * terms; none of them imports a framework at run time except langchain.ts.
 *
 * agentd has no route to record what a call did after it ran, so nothing is
 * reported after the tool; the decision and the approval are in agentd's
 * log. Errors from agentd (down, 401, 403, a body it refuses) are thrown, never
 * turned into an allow: the tool does not run.
 */
import type { ApprovalStatus } from '../../approvals.ts';
import type { ClaimedAgent } from '../access.ts';
import { AgentdError, type AgentdClient, type EvaluateRequest, type EvaluateResponse } from '../client.ts';

/** TOOL_CALL_ACTION is the action a tool call is evaluated as unless GovernorOptions.action says otherwise. */
export const TOOL_CALL_ACTION = 'tool.call';

/** The longest single wait agentd accepts on GET /v1/approvals/:id (?wait=). */
const MAX_POLL_MS = 60_000;
const DEFAULT_POLL_MS = 30_000;

/** ToolCallRequest is one tool call a framework is about to run. */
export interface ToolCallRequest {
  /** The framework asking (recorded in the request's context): `ai-sdk`, `openai-agents`, `langchain` … */
  readonly framework: string;
  readonly tool: string;
  /** The call's input as the model gave it; anything but a plain object is sent as `{ input }`. */
  readonly input: unknown;
  /** The framework's id for the call, when it has one (recorded in the context). */
  readonly callId?: string;
}

/** Allowed: agentd allowed the call, or an operator approved it. */
export interface Allowed {
  readonly allowed: true;
  readonly decision: EvaluateResponse;
  readonly approval?: ApprovalStatus;
}

/** Denied: the policy denied the call, or the operator (or agentd's timeout) refused it. `message` is what the model is told. */
export interface Denied {
  readonly allowed: false;
  readonly decision: EvaluateResponse;
  readonly approval?: ApprovalStatus;
  readonly message: string;
}

export type Verdict = Allowed | Denied;

/** GovernorEvent is what a Governor reports as it goes: agentd's answer, and later the operator's. */
export type GovernorEvent =
  | { readonly kind: 'decided'; readonly call: ToolCallRequest; readonly decision: EvaluateResponse }
  | { readonly kind: 'answered'; readonly call: ToolCallRequest; readonly decision: EvaluateResponse; readonly approval: ApprovalStatus };

/** GovernorClient is the part of AgentdClient a Governor uses. */
export type GovernorClient = Pick<AgentdClient, 'evaluate' | 'approval'>;

export interface GovernorOptions {
  /** The agent to decide for: required with the operator's token, left out with an agent credential (it names its agent). */
  readonly agent?: ClaimedAgent;
  /** The evaluate action: `tool.call` by default, or one computed per call (e.g. the tool's name). */
  readonly action?: string | ((call: ToolCallRequest) => string);
  /** Extra context sent with every request (recorded in the argument digest). */
  readonly context?: Readonly<Record<string, unknown>>;
  /** How long one approval poll waits in agentd (ms, at most 60 000); polls repeat until the question is answered. */
  readonly approvalPollMs?: number;
  /** onEvent observes decisions and answers (printing, metrics); it must not throw. */
  readonly onEvent?: (event: GovernorEvent) => void;
  /** denialMessage words what the model is told about a denial; by default it names the rule and the record. */
  readonly denialMessage?: (call: ToolCallRequest, verdict: Omit<Denied, 'message'>) => string;
}

/** Governor decides tool calls; `signal` ends a wait for an operator early (the call is then not made). */
export interface Governor {
  decide(call: ToolCallRequest, signal?: AbortSignal): Promise<Verdict>;
}

/**
 * GovernedCallDenied is thrown where a framework has no channel for a
 * denial (a tool called outside an agent loop): the call did not run.
 */
export class GovernedCallDenied extends Error {
  readonly verdict: Denied;
  constructor(verdict: Denied) {
    super(verdict.message);
    this.name = 'GovernedCallDenied';
    this.verdict = verdict;
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** defaultDenialMessage names the tool, the reason, and where to look: the rule and record, or the approval. */
export function defaultDenialMessage(call: ToolCallRequest, verdict: Omit<Denied, 'message'>): string {
  const { decision, approval } = verdict;
  if (approval?.answer !== undefined) {
    return `agentd: ${approval.answer.approver} denied ${call.tool}: ${approval.answer.reason} (approval ${approval.approval.id}, rule ${decision.rule})`;
  }
  return `agentd denied ${call.tool}: ${decision.reason} (rule ${decision.rule}, record #${decision.seq})`;
}

/**
 * createGovernor makes a Governor on `client` (an AgentdClient). decide()
 * throws AgentdError when agentd cannot be asked, and the signal's reason
 * when it aborts a wait for approval.
 */
export function createGovernor(client: GovernorClient, options: GovernorOptions = {}): Governor {
  const pollMs = Math.min(Math.max(1, options.approvalPollMs ?? DEFAULT_POLL_MS), MAX_POLL_MS);
  const word = options.denialMessage ?? defaultDenialMessage;
  const emit = (event: GovernorEvent) => options.onEvent?.(event);
  const deny = (call: ToolCallRequest, decision: EvaluateResponse, approval?: ApprovalStatus): Denied => {
    const verdict = { allowed: false as const, decision, ...(approval !== undefined ? { approval } : {}) };
    return { ...verdict, message: word(call, verdict) };
  };

  /** settle waits for the operator's answer to `id`, and redeems an approval with `request`; an approval agentd no longer knows is a denial. */
  async function settle(call: ToolCallRequest, request: EvaluateRequest, decision: EvaluateResponse, id: string, signal?: AbortSignal): Promise<Verdict> {
    for (;;) {
      signal?.throwIfAborted();
      let status: ApprovalStatus;
      try {
        status = await client.approval(id, pollMs);
      } catch (err) {
        if (!(err instanceof AgentdError) || err.kind !== 'not-found') throw err;
        const gone: Omit<Denied, 'message'> = { allowed: false, decision };
        return { ...gone, message: `agentd no longer knows approval ${id} for ${call.tool} (was it restarted?); the call was not made` };
      }
      if (status.status === 'pending') continue;
      emit({ kind: 'answered', call, decision, approval: status });
      if (status.status !== 'approved') return deny(call, decision, status);
      // The grant covers this call only: agentd allows the same request with the approval's id once.
      const redeemed = await client.evaluate({ ...request, approval_id: id });
      emit({ kind: 'decided', call, decision: redeemed });
      return redeemed.decision === 'allow' ? { allowed: true, decision: redeemed, approval: status } : deny(call, redeemed);
    }
  }

  return {
    async decide(call, signal) {
      const action = typeof options.action === 'function' ? options.action(call) : (options.action ?? TOOL_CALL_ACTION);
      const request: EvaluateRequest = {
        ...(options.agent !== undefined ? { agent: options.agent } : {}),
        action,
        tool: call.tool,
        arguments: isPlainObject(call.input) ? call.input : { input: call.input },
        context: { ...options.context, framework: call.framework, ...(call.callId !== undefined ? { call_id: call.callId } : {}) },
      };
      const decision = await client.evaluate(request);
      emit({ kind: 'decided', call, decision });
      if (decision.decision === 'allow') return { allowed: true, decision };
      if (decision.decision === 'deny') return deny(call, decision);
      if (decision.approval_id === undefined) throw new AgentdError('server', 0, `agentd asked for approval of ${call.tool} without an approval id (record #${decision.seq})`);
      return settle(call, request, decision, decision.approval_id, signal);
    },
  };
}
