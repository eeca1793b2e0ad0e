/**
 * The `http.fetch` built-in: one HTTP(S) request, GET or POST. Which hosts an
 * agent may reach is policy: rules match the `url` argument with args
 * patterns (a glob such as `https://api.example.com/**`). So that a pattern
 * on the text means what it says, the tool only accepts a URL already in its
 * canonical WHATWG form (`new URL(url).href === url`) and without user info:
 * `HTTPS://Example.com`, `https://a.com@b.com/` or `https://a.com\@b.com`
 * are refused (EINVAL) rather than reinterpreted after the policy decided.
 * Redirects are not followed (the 3xx answer and its `location` come back;
 * following it is another, separately decided call). The body is read up to
 * the output limit (EFBIG past it); the timeout aborts the request.
 *
 * Whatever the policy says about names, the tool connects only to public
 * unicast addresses (address-ranges.ts has the list: loopback, private,
 * link-local, CGNAT, multicast, reserved, and IPv6 forms carrying such an
 * IPv4 address), plus the ranges in `allowAddresses`; the check is made on
 * the address each connection goes to (address-guard.ts). A refused address
 * is EACCES naming the host, the address and `allow_addresses`.
 */
import { fetch, Headers, type Agent, type Response } from 'undici';
import { KernelError } from '../../syscalls/errno.ts';
import { guardedAgent } from './address-guard.ts';
import { AddressPolicy } from './address-ranges.ts';
import type { JsonObject, ToolSpec } from './registry.ts';

export interface HttpFetchOptions {
  /** Default 10 s. */
  readonly timeoutMs?: number;
  /** Largest response (output) size, bytes. Default 1 MiB. */
  readonly maxOutputBytes?: number;
  /** Largest request body, bytes. Default 256 KiB. */
  readonly maxRequestBytes?: number;
  /** Address ranges (CIDR, or single addresses) the tool may connect to besides public unicast ones. Default none. */
  readonly allowAddresses?: readonly string[];
}

/** ALLOW_SETTING is where an operator allows more address ranges. */
export const ALLOW_SETTING = 'tools.builtin.http.fetch.allow_addresses';

const TEXTUAL = /^(text\/|application\/([a-z0-9.+-]*\+)?(json|xml|javascript|x-www-form-urlencoded|yaml)\b)/i;
/** Headers an agent may not set: the transport's business, or credentials it should not forge for another origin. */
const FORBIDDEN_HEADERS = new Set(['host', 'content-length', 'connection', 'transfer-encoding', 'upgrade', 'proxy-authorization', 'te', 'trailer', 'keep-alive']);

/** checkUrl returns the URL if it is canonical http(s) without user info; EINVAL otherwise. */
export function checkUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new KernelError('EINVAL', `http.fetch: '${text.slice(0, 200)}' is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new KernelError('EINVAL', `http.fetch: scheme ${url.protocol} is not allowed (http and https only)`);
  if (url.username !== '' || url.password !== '') throw new KernelError('EINVAL', 'http.fetch: URLs with user info are not allowed');
  if (url.href !== text) throw new KernelError('EINVAL', `http.fetch: use the URL's canonical form '${url.href.slice(0, 500)}' (policy matches the text as given)`);
  return url;
}

async function readCapped(response: Response, limit: number, name: string): Promise<Uint8Array> {
  const reader = response.body?.getReader();
  if (reader === undefined) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => undefined);
      throw new KernelError('EFBIG', `${name}: response body is over the limit of ${limit} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

/**
 * httpFetchTool makes the tool. EINVAL if an entry of `allowAddresses` is not
 * an address or CIDR range.
 */
export function httpFetchTool(options: HttpFetchOptions = {}): ToolSpec {
  const maxRequestBytes = options.maxRequestBytes ?? 256 * 1024;
  let policy: AddressPolicy;
  try {
    policy = new AddressPolicy(options.allowAddresses);
  } catch (err) {
    throw new KernelError('EINVAL', `http.fetch: allowAddresses: ${(err as Error).message}`);
  }
  const dispatcher: Agent = guardedAgent({ policy, tool: 'http.fetch', setting: ALLOW_SETTING });
  return {
    name: 'http.fetch',
    description: 'One HTTP(S) request (GET or POST). Returns status, headers and body (text, or bodyBase64 for binary). Redirects are returned, not followed.',
    inputSchema: {
      type: 'object',
      additionalProperties: false,
      required: ['url'],
      properties: {
        url: { type: 'string', pattern: '^https?://', maxLength: 8192 },
        method: { enum: ['GET', 'POST'] },
        headers: { type: 'object', additionalProperties: { type: 'string', maxLength: 8192 }, maxProperties: 64 },
        body: { type: 'string', maxLength: maxRequestBytes },
      },
    },
    risk: 'medium',
    timeoutMs: options.timeoutMs ?? 10_000,
    maxOutputBytes: options.maxOutputBytes ?? 1024 * 1024,
    source: 'builtin',
    async run(args: JsonObject, call) {
      const url = checkUrl(args.url as string);
      const method = (args.method as string | undefined) ?? 'GET';
      if (method === 'GET' && args.body !== undefined) throw new KernelError('EINVAL', 'http.fetch: a GET request has no body');
      const headers = new Headers();
      for (const [key, value] of Object.entries((args.headers ?? {}) as Record<string, string>)) {
        if (FORBIDDEN_HEADERS.has(key.toLowerCase())) throw new KernelError('EINVAL', `http.fetch: header '${key}' cannot be set`);
        headers.set(key, value);
      }
      let response: Response;
      try {
        response = await fetch(url, { method, headers, body: (args.body as string | undefined) ?? null, redirect: 'manual', signal: call.signal, dispatcher });
      } catch (err) {
        if (call.signal.aborted) throw call.signal.reason;
        if (err instanceof Error && err.cause instanceof KernelError) throw err.cause;
        const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
        throw new KernelError('EIO', `http.fetch: ${method} ${url.origin} failed${cause}`);
      }
      const body = await readCapped(response, call.maxOutputBytes, 'http.fetch');
      const type = response.headers.get('content-type') ?? '';
      const out: Record<string, unknown> = { status: response.status, url: url.href, headers: Object.fromEntries(response.headers) };
      if (type === '' || TEXTUAL.test(type)) out.body = new TextDecoder().decode(body);
      else out.bodyBase64 = Buffer.from(body).toString('base64');
      return out as JsonObject;
    },
  };
}
