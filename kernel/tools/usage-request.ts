/**
 * The request side of counting a model's token usage (model-usage.ts reads
 * the answers): an OpenAI-style completion streamed to an agent reports its
 * usage only when the request asks for it, and the agent writes the request,
 * so http.fetch makes a request to a model endpoint ask (askingForUsage).
 */
import { KernelError } from '../../abi/errno.ts';

/** The paths of OpenAI-style completions, which report a stream's usage only when asked (`…/chat/completions`, `…/completions`). */
const COMPLETIONS = /\/completions\/?$/;

/** The strings pydantic's lax bool, which OpenAI-compatible servers (vLLM, LiteLLM, SGLang) use for `stream`, reads as true (lowercased). */
const TRUE_WORDS: ReadonlySet<string> = new Set(['1', 'on', 't', 'y', 'yes', 'true']);

/** A stream asked for, as lenient servers read it (reviews: 1, "true", "True", "yes" streamed without usage). */
const streamed = (value: unknown): boolean => value === true || value === 1 || (typeof value === 'string' && TRUE_WORDS.has(value.toLowerCase()));

/**
 * askingForUsage is the body of a request to a model endpoint, made to ask for
 * its token usage where an OpenAI-style completion would leave it out: a
 * streamed one reports usage only when the request sets
 * `stream_options.include_usage`, and the agent writes the request, so
 * without it token_budget counted nothing (reviews). The body is read as
 * JSON whatever its spelling (text or bytes, escaped keys); a body to such a
 * path that is not JSON is refused (EINVAL), as a server might read it
 * otherwise (Python's json reads NaN), and so is one that sets
 * stream_options without include_usage. The option is added at the end of
 * the body's text, which is otherwise sent as written (its numbers
 * untouched).
 */
export function askingForUsage(url: URL, body: string | Buffer | null): string | Buffer | null {
  if (body === null || !COMPLETIONS.test(url.pathname)) return body;
  let text: string;
  let request: unknown;
  try {
    text = typeof body === 'string' ? body : new TextDecoder('utf-8', { fatal: true }).decode(body);
    request = JSON.parse(text);
  } catch {
    throw new KernelError('EINVAL', `http.fetch: a request to the model endpoint ${url.origin}${url.pathname} must be JSON, so that its token usage can be asked for and counted`);
  }
  if (request === null || typeof request !== 'object' || Array.isArray(request)) return body;
  const r = request as { stream?: unknown; stream_options?: unknown };
  if (!streamed(r.stream)) return body;
  if (Object.hasOwn(r, 'stream_options')) {
    const options = r.stream_options;
    if (options !== null && typeof options === 'object' && (options as Record<string, unknown>).include_usage === true) return body;
    // Added beside the agent's own, the key would be there twice, which some servers refuse (serde: a review).
    throw new KernelError('EINVAL', `http.fetch: a streamed request to the model endpoint ${url.origin}${url.pathname} that sets stream_options must set include_usage: true in it, so that its token usage is counted`);
  }
  // The last '}' closes the object: JSON.parse allows only whitespace after it. A streamed request has a key before.
  const close = text.lastIndexOf('}');
  const asking = `${text.slice(0, close)},"stream_options":{"include_usage":true}${text.slice(close)}`;
  return typeof body === 'string' ? asking : Buffer.from(asking);
}
