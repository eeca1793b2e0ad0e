/**
 * Found by a review (fixed) of 037d418 (model-usage.ts). An event line past MAX_LINE (64 KiB) is read only in its last USAGE_TAIL (8 KiB),
 * on the claim that a Responses API `response.completed` event's usage is there. It is not when the request set
 * `metadata`: the Response object ends `…"usage":{…},"user":null,"metadata":{…}}` and metadata is the agent's own
 * (16 pairs, keys ≤ 64 chars, values ≤ 512 chars: ~9.3 KiB of JSON). A long answer, or just long `instructions`
 * (echoed in the event before usage), makes the line > 64 KiB; the usage is then > 8 KiB from its end and counts 0.
 * The scanner's result also depends on chunking: the same line fed in 1 KiB chunks counts 8,000.
 */
import { describe, expect, it } from 'vitest';
import { tokensInBody, UsageScanner } from '../../kernel/tools/model-usage.ts';

const metadata: Record<string, string> = {};
for (let i = 0; i < 16; i++) metadata[`k${String(i).padStart(63, '0')}`] = 'v'.repeat(512);
const usage = { input_tokens: 5000, input_tokens_details: { cached_tokens: 0 }, output_tokens: 3000, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 8000 };
const response = { id: 'resp_1', object: 'response', status: 'completed', instructions: 'Be brief. '.repeat(7000), model: 'm', output: [{ type: 'message', id: 'msg_1', role: 'assistant', content: [{ type: 'output_text', text: 'the answer' }] }], tools: [], top_p: 1, truncation: 'disabled', usage, user: null, metadata };
const body = [
  `event: response.created\ndata: ${JSON.stringify({ type: 'response.created', sequence_number: 0, response: { ...response, status: 'in_progress', output: [], usage: null } })}\n\n`,
  `event: response.output_text.delta\ndata: ${JSON.stringify({ type: 'response.output_text.delta', sequence_number: 1, item_id: 'msg_1', output_index: 0, content_index: 0, delta: 'the answer' })}\n\n`,
  `event: response.completed\ndata: ${JSON.stringify({ type: 'response.completed', sequence_number: 2, response })}\n\n`,
].join('');

function scanned(chunk: number): number {
  const scanner = new UsageScanner('text/event-stream');
  const bytes = new TextEncoder().encode(body);
  for (let i = 0; i < bytes.length; i += chunk) scanner.push(bytes.subarray(i, i + chunk));
  return scanner.tokens();
}

describe('a streamed Responses API answer whose response.completed line is long and carries metadata', () => {
  it('counts its usage read whole (inline path)', () => {
    expect(tokensInBody(body)).toBe(8000);
  });
  it('counts its usage streamed in 64 KiB chunks', () => {
    expect(scanned(64 * 1024)).toBe(8000);
  });
  it('counts the same whatever the chunking (1 KiB chunks: 8,000)', () => {
    expect(scanned(64 * 1024)).toBe(scanned(1024));
  });
});
