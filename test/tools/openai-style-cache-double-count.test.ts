/**
 * Found by a review (fixed) of 037d418 (model-usage.ts). UsageTally now adds cache_creation_input_tokens and cache_read_input_tokens to
 * the parts whatever the usage object's style. That is right for Anthropic (input_tokens leaves the cache out) but
 * wrong for an OpenAI-style usage object that also carries them: LiteLLM's proxy (OpenAI format for Anthropic/Bedrock
 * models) reports `prompt_tokens` including cache hits and writes, `total_tokens` = prompt + completion, and adds
 * `cache_creation_input_tokens` / `cache_read_input_tokens`. max(total, parts) then counts the cache twice: 120 tokens
 * used count 200 (HEAD~1 counted 120).
 */
import { describe, expect, it } from 'vitest';
import { tokensInBody } from '../../kernel/tools/model-usage.ts';

describe('an OpenAI-style usage object that also names Anthropic cache fields', () => {
  it('counts its total_tokens, not the cache twice', () => {
    const usage = { prompt_tokens: 100, completion_tokens: 20, total_tokens: 120, prompt_tokens_details: { cached_tokens: 80 }, cache_creation_input_tokens: 0, cache_read_input_tokens: 80 };
    expect(tokensInBody(JSON.stringify({ id: 'c', object: 'chat.completion', choices: [], usage }))).toBe(120);
  });
});
