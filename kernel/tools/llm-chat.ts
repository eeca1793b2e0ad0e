/**
 * The `llm.chat` built-in: one request to an OpenAI-compatible
 * `/chat/completions` endpoint the operator configured. The API key lives in
 * this closure in ring 0: it is sent to the endpoint and appears in no
 * argument, result, error message or decision record an agent can see. The
 * tokens a response reports in `usage` are added to the calling agent's
 * count, which policy rules read through `limits.token_budget`: once an
 * agent's tokens reach a rule's budget, that rule denies its next call.
 * The endpoint is a network peer: its answer is read up to the output limit
 * (EFBIG past it), compressed or not, as http.fetch reads one.
 */
import { Agent, type Dispatcher, interceptors } from 'undici';
import { KernelError } from '../../abi/errno.ts';
import { ChunkCounter, CHUNKS, chunkCount, type WithChunks } from './chunk-count.ts';
import { ACCEPT_ENCODING, DEFAULT_HEADERS, readCapped } from './http-fetch.ts';
import type { JsonObject, JsonSchema, ToolSpec } from './registry.ts';

export interface LlmChatOptions {
  /** Base URL of the API, e.g. `https://api.openai.com/v1`; the tool posts to `<endpoint>/chat/completions`. */
  readonly endpoint: string;
  /** Default model; an agent may name another only if the configuration lists it in `models`. */
  readonly model: string;
  /** Other models agents may ask for. */
  readonly models?: readonly string[];
  /** The API key (sent as `Authorization: Bearer …`), if the endpoint needs one. */
  readonly apiKey?: string;
  /** Default 60 s. */
  readonly timeoutMs?: number;
  /** Largest output, bytes. Default 256 KiB. */
  readonly maxOutputBytes?: number;
  /** Upper bound on `max_tokens` an agent may ask for. Default 4096. */
  readonly maxTokens?: number;
}

const MESSAGE: JsonSchema = {
  type: 'object',
  required: ['role'],
  properties: {
    role: { enum: ['system', 'user', 'assistant', 'tool'] },
    content: { type: ['string', 'null'], maxLength: 1_000_000 },
    name: { type: 'string', maxLength: 64 },
    tool_call_id: { type: 'string', maxLength: 256 },
    tool_calls: { type: 'array', maxItems: 64 },
  },
  additionalProperties: false,
};

interface Completion {
  model?: string;
  choices?: { message?: { role?: string; content?: string | null; tool_calls?: unknown[] }; finish_reason?: string | null }[];
  usage?: { prompt_tokens?: number; completion_tokens?: number; total_tokens?: number };
  error?: { message?: string };
}

function tokensOf(usage: Completion['usage']): number {
  if (usage === undefined) return 0;
  const total = usage.total_tokens ?? (usage.prompt_tokens ?? 0) + (usage.completion_tokens ?? 0);
  return Number.isFinite(total) && total > 0 ? Math.floor(total) : 0;
}

/** redact removes the API key from text that came back from the endpoint, should it echo it. */
function redact(text: string, key: string | undefined): string {
  return key ? text.replaceAll(key, '[redacted]') : text;
}

/** redacted is redactAll's answer; EIO for one nested past the stack (a review: the endpoint's JSON may be deep). */
function redacted(value: unknown, key: string | undefined): unknown {
  try {
    return redactAll(value, key);
  } catch (err) {
    if (err instanceof RangeError) throw new KernelError('EIO', 'llm.chat: the answer is nested too deeply');
    throw err;
  }
}

/**
 * redactAll removes the API key from every string (and key) of what the
 * endpoint answered: an attacker pass found the content redacted but not
 * the tool calls' arguments, the model's name or a redirect's location,
 * any of which an endpoint may echo the key in.
 */
function redactAll(value: unknown, key: string | undefined): unknown {
  if (!key) return value;
  if (typeof value === 'string') return redact(value, key);
  if (Array.isArray(value)) return value.map((v) => redactAll(v, key));
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [redact(k, key), redactAll(v, key)]));
  return value;
}

export function llmChatTool(options: LlmChatOptions): ToolSpec {
  const url = `${options.endpoint.replace(/\/+$/, '')}/chat/completions`;
  const models = [options.model, ...(options.models ?? [])];
  const maxTokens = options.maxTokens ?? 4096;
  const key = options.apiKey;
  const maxOutputBytes = options.maxOutputBytes ?? 256 * 1024;
  // A compressed answer is decoded up to the output limit at every stage of its encodings (see http.fetch).
  // The chunks of an answer are counted as they come and charged to the caller (chunk-count.ts), as http.fetch does.
  const dispatcher = new Agent().compose(chunkCount(), interceptors.decompress({ skipErrorResponses: false, maxSize: maxOutputBytes }));
  const target = new URL(url);
  return {
    name: 'llm.chat',
    description: `Chat completion from the configured model (${options.model}). Returns content, tool_calls, finish_reason and token usage; tokens count against the agent's budget.`,
    inputSchema: {
      type: 'object',
      additionalProperties: false,
      required: ['messages'],
      properties: {
        messages: { type: 'array', minItems: 1, maxItems: 1000, items: MESSAGE },
        model: { enum: models },
        temperature: { type: 'number', minimum: 0, maximum: 2 },
        max_tokens: { type: 'integer', minimum: 1, maximum: maxTokens },
        tools: { type: 'array', maxItems: 128, items: { type: 'object' } },
        tool_choice: {},
        response_format: { type: 'object' },
      },
    },
    risk: 'medium',
    timeoutMs: options.timeoutMs ?? 60_000,
    maxOutputBytes,
    source: 'builtin',
    async run(args: JsonObject, call) {
      const body = { ...args, model: (args.model as string | undefined) ?? options.model };
      let response: Dispatcher.ResponseData;
      const chunks = new ChunkCounter();
      try {
        response = await dispatcher.request({
          origin: target.origin,
          path: `${target.pathname}${target.search}`,
          method: 'POST',
          // What fetch sent (some gateways refuse a request without a user-agent), compression as it asks for it.
          headers: { ...DEFAULT_HEADERS, 'accept-encoding': ACCEPT_ENCODING[target.protocol === 'https:' ? 'https:' : 'http:'], 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
          body: JSON.stringify(body),
          signal: call.signal,
          [CHUNKS]: chunks,
        } as Dispatcher.RequestOptions & WithChunks);
      } catch {
        if (call.signal.aborted) throw call.signal.reason;
        throw new KernelError('EIO', `llm.chat: the model endpoint cannot be reached`);
      }
      const status = response.statusCode;
      // A redirect is not followed (the key would go where it points): the configured endpoint should be the final URL.
      const location = response.headers.location;
      if (status >= 300 && status < 400 && location !== undefined) {
        // Destroyed unread, the body reports an AbortError: nobody reads it.
        response.body.on('error', () => undefined).destroy();
        throw new KernelError('EIO', `llm.chat: the endpoint answered ${status}, a redirect to ${redact(String(location), key).slice(0, 200)}, which is not followed: configure that URL as the endpoint`);
      }
      let text: string;
      try {
        text = new TextDecoder().decode(await readCapped(response.body, call.maxOutputBytes, 'llm.chat'));
      } catch (err) {
        if (call.signal.aborted) throw call.signal.reason;
        if (err instanceof KernelError) throw err;
        const code = (err as { code?: unknown }).code;
        if (code === 'UND_ERR_RES_EXCEEDED_MAX_SIZE') throw new KernelError('EFBIG', `llm.chat: response body is over the limit of ${call.maxOutputBytes} bytes`);
        throw new KernelError('EIO', `llm.chat: the endpoint's answer failed: ${err instanceof Error ? err.message : String(err)}`);
      } finally {
        chunks.chargeNew(call.caller.charge?.bind(call.caller));
      }
      let data: Completion;
      try {
        data = JSON.parse(text) as Completion;
      } catch {
        throw new KernelError('EIO', `llm.chat: the endpoint answered ${status} with a body that is not JSON`);
      }
      const tokens = tokensOf(data.usage);
      if (tokens > 0) call.caller.addTokens(tokens);
      if (status < 200 || status > 299) {
        throw new KernelError(status === 429 ? 'EAGAIN' : 'EIO', `llm.chat: the endpoint answered ${status}: ${redact(String(data.error?.message ?? '').slice(0, 500), key)}`);
      }
      const choice = data.choices?.[0];
      if (choice?.message === undefined) throw new KernelError('EIO', 'llm.chat: the response has no choices[0].message');
      return redacted(
        {
          model: data.model ?? body.model,
          role: choice.message.role ?? 'assistant',
          content: choice.message.content ?? '',
          ...(choice.message.tool_calls ? { tool_calls: choice.message.tool_calls as JsonObject[] } : {}),
          finish_reason: choice.finish_reason ?? null,
          usage: { prompt_tokens: data.usage?.prompt_tokens ?? 0, completion_tokens: data.usage?.completion_tokens ?? 0, total_tokens: tokens },
        },
        key,
      ) as JsonObject;
    },
  };
}
