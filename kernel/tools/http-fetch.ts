/**
 * The `http.fetch` built-in: one HTTP(S) request, GET or POST. Which hosts an
 * agent may reach is policy: rules match the `url` argument with args
 * patterns (a glob such as `https://api.example.com/**`). So that a pattern
 * on the text means what it says, the tool only accepts a URL already in its
 * canonical WHATWG form (`new URL(url).href === url`) and without user info:
 * `HTTPS://Example.com`, `https://a.com@b.com/` or `https://a.com\@b.com`
 * are refused (EINVAL) rather than reinterpreted after the policy decided;
 * so are canonical texts that another spelling reaches too (`/%61dmin`,
 * `localhost.`, `[::ffff:7f00:1]`: url-spelling.ts).
 * Redirects are not followed (the 3xx answer and its `location` come back;
 * following it is another, separately decided call). The body is read up to
 * the output limit (EFBIG past it); the timeout aborts the request.
 *
 * With `stream: true`, for a process, the call returns once the headers are
 * in, with `bodyFd`: an fd of the caller's that the kernel fills as the body
 * arrives (SYS_READ pulls it a chunk at a time; the kernel reads on only as
 * the agent does, the pipe holding at most 64 KiB). The output limit and the
 * timeout hold for the whole body: past either the fd reads EFBIG or
 * ETIMEDOUT; closing the fd (or exiting) stops the request.
 *
 * A response from a declared model endpoint (`modelEndpoints`, URL prefixes)
 * has its token `usage` counted against the caller's token budgets, as
 * llm.chat's are (model-usage.ts). Secrets granted to the caller go only to
 * the hosts `secrets` binds them to (secrets.ts).
 *
 * Whatever the policy says about names, the tool connects only to public
 * unicast addresses (address-ranges.ts has the list: loopback, private,
 * link-local, CGNAT, multicast, reserved, and IPv6 forms carrying such an
 * IPv4 address), plus the ranges in `allowAddresses`; the check is made on
 * the address each connection goes to (address-guard.ts). A refused address
 * is EACCES naming the host, the address and `allow_addresses`.
 */
import type { Readable } from 'node:stream';
import { type Dispatcher, errors, interceptors } from 'undici';
import type { StreamWriter } from '../fd-entries.ts';
import { tokensInBody, UsageScanner } from './model-usage.ts';
import { askingForUsage } from './usage-request.ts';
import { bindingOf, redact, redactBytes, Redactor, substitute, type SecretBinding } from './secrets.ts';
import { type Errno, KernelError } from '../../abi/errno.ts';
import { guardedAgent } from './address-guard.ts';
import { ChunkCounter, CHUNKS, chunkCount, type WithChunks } from './chunk-count.ts';
import { type EncodingHeaders, SENT_ENCODING, sentEncoding, type WithSentEncoding } from './encoding-headers.ts';
import { AddressPolicy } from './address-ranges.ts';
import { checkSpelling } from './url-spelling.ts';
import type { JsonObject, ToolSpec } from './registry.ts';
import { CONNECTIONS_PER_AGENT_ORIGIN, OriginShares } from './origin-shares.ts';

export interface HttpFetchOptions {
  /** Default 10 s. */
  readonly timeoutMs?: number;
  /** Largest response (output) size, bytes. Default 1 MiB. */
  readonly maxOutputBytes?: number;
  /** Largest request body, bytes. Default 256 KiB. */
  readonly maxRequestBytes?: number;
  /** Address ranges (CIDR, or single addresses) the tool may connect to besides public unicast ones. Default none. */
  readonly allowAddresses?: readonly string[];
  /** URL prefixes of model endpoints: their responses' token usage counts against the agent's budgets. Default none. */
  readonly modelEndpoints?: readonly string[];
  /** Secret name → the hosts (host or host:port) a request carrying it may go to. Default none. */
  readonly secrets?: Readonly<Record<string, readonly string[] | { readonly hosts: readonly string[]; readonly body?: boolean; readonly http?: boolean }>>;
  /** Let paths with an empty segment or an encoded '/' or '\\' through (url-spelling.ts). Default false: refused. */
  readonly ambiguousPaths?: boolean;
}

/** ALLOW_SETTING is where an operator allows more address ranges. */
export const ALLOW_SETTING = 'tools.builtin.http.fetch.allow_addresses';

const TEXTUAL = /^(text\/|application\/([a-z0-9.+-]*\+)?(json|xml|javascript|x-www-form-urlencoded|yaml)\b)/i;
/** Headers an agent may not set: the transport's business, or credentials it should not forge for another origin. */
const FORBIDDEN_HEADERS = new Set(['host', 'content-length', 'connection', 'transfer-encoding', 'upgrade', 'proxy-authorization', 'te', 'trailer', 'keep-alive', 'expect']);

/** The headers undici's fetch sends unless the caller sets them (some servers refuse a request without a user-agent); compression as it asks for it. */
export const DEFAULT_HEADERS: Readonly<Record<string, string>> = { accept: '*/*', 'accept-language': '*', 'user-agent': 'undici' };
export const ACCEPT_ENCODING = { 'http:': 'gzip, deflate', 'https:': 'br, gzip, deflate' } as const;

/** headerText is one header's value as fetch's Headers.get gives it: repeated fields joined with ', '. */
function headerText(value: string | string[] | undefined): string {
  return value === undefined ? '' : typeof value === 'string' ? value : value.join(', ');
}

/**
 * NETWORK_ERRNOS: the errno a failed request reports for its transport's
 * error code, so that a program can tell a refused connection from a reset
 * one as it does on Node (fetch's `cause.code`); anything else is EIO.
 */
const NETWORK_ERRNOS: Readonly<Record<string, Errno>> = {
  ECONNREFUSED: 'ECONNREFUSED',
  ECONNRESET: 'ECONNRESET',
  EHOSTUNREACH: 'EHOSTUNREACH',
  ENETUNREACH: 'ENETUNREACH',
  ETIMEDOUT: 'ETIMEDOUT',
  EPIPE: 'ECONNRESET',
  UND_ERR_SOCKET: 'ECONNRESET',
  UND_ERR_CONNECT_TIMEOUT: 'ETIMEDOUT',
  UND_ERR_HEADERS_TIMEOUT: 'ETIMEDOUT',
  UND_ERR_BODY_TIMEOUT: 'ETIMEDOUT',
  // A compressed body decoded past the output limit (the decompress interceptor's maxSize, at every stage of a stacked encoding).
  UND_ERR_RES_EXCEEDED_MAX_SIZE: 'EFBIG',
};

/** networkErrno is the errno for a transport error (its code, or its cause's). */
function networkErrno(err: unknown): Errno {
  for (let at: unknown = err, depth = 0; at instanceof Error && depth < 3; at = at.cause, depth++) {
    const code = (at as { code?: unknown }).code;
    if (typeof code === 'string' && Object.hasOwn(NETWORK_ERRNOS, code)) return NETWORK_ERRNOS[code]!;
  }
  return 'EIO';
}

/** bodyError is what a failure while a body arrives is to the agent: its own KernelError, or a transport error by its errno (ECONNRESET for a connection cut). */
function bodyError(err: unknown): KernelError {
  return err instanceof KernelError ? err : new KernelError(networkErrno(err), `http.fetch: the response body failed: ${err instanceof Error ? err.message : String(err)}`);
}

/** bodyFailure is `reading`, failing with bodyError, in the inline paths as in the streamed one. */
async function bodyFailure<T>(reading: Promise<T>): Promise<T> {
  try {
    return await reading;
  } catch (err) {
    throw bodyError(err);
  }
}

/** checkUrl returns the URL if it is canonical http(s) without user info, and no other spelling reaches it (url-spelling.ts); EINVAL otherwise. */
export function checkUrl(text: string, ambiguousPaths = false): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new KernelError('EINVAL', `http.fetch: '${text.slice(0, 200)}' is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new KernelError('EINVAL', `http.fetch: scheme ${url.protocol} is not allowed (http and https only)`);
  if (url.username !== '' || url.password !== '') throw new KernelError('EINVAL', 'http.fetch: URLs with user info are not allowed');
  if (url.href !== text) throw new KernelError('EINVAL', `http.fetch: use the URL's canonical form '${url.href.slice(0, 500)}' (policy matches the text as given)`);
  checkSpelling(url, ambiguousPaths);
  return url;
}

/** BodyReader pulls a response body a chunk at a time (a read may be left pending and awaited later); cancel stops the request. */
interface BodyReader {
  read(): Promise<Read>;
  cancel(): Promise<void>;
}

function bodyReader(body: Readable): BodyReader {
  const chunks = body[Symbol.asyncIterator]() as AsyncIterator<Uint8Array, undefined>;
  return {
    read: () => chunks.next(),
    cancel: async () => void body.destroy(),
  };
}

/** readCapped reads `body` whole, EFBIG (naming tool `name`) as soon as it passes `limit` bytes. */
export async function readCapped(body: Readable, limit: number, name: string): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of body as AsyncIterable<Uint8Array>) {
    total += chunk.byteLength;
    // Leaving the loop destroys the body, and with it the request.
    if (total > limit) throw new KernelError('EFBIG', `${name}: response body is over the limit of ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** The most a streamed response may hold and still come back inline, when all of it has arrived with its headers. */
const INLINE_MAX = 64 * 1024;
const NOT_YET = Symbol('not yet');
type Read = IteratorResult<Uint8Array, undefined>;

/** Ready is what readReady found: the chunks already there, whether the body ended, and a read still under way. */
interface Ready {
  readonly chunks: Uint8Array[];
  readonly total: number;
  readonly done: boolean;
  readonly pending?: Promise<Read>;
}

/** readReady reads what has arrived of a body, up to `max` bytes, without waiting for more than the current turn. */
async function readReady(reader: BodyReader, max: number): Promise<Ready> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const read = reader.read();
    const next = await Promise.race([read, new Promise<typeof NOT_YET>((resolve) => setImmediate(() => resolve(NOT_YET)))]);
    if (next === NOT_YET) return { chunks, total, done: false, pending: read };
    if (next.done) return { chunks, total, done: true };
    chunks.push(next.value);
    total += next.value.byteLength;
    if (total > max) return { chunks, total, done: false };
  }
}

/**
 * pump copies the rest of a body (`ready`, then `reader`) into `sink` as the
 * agent reads it, within `limit` bytes and until `deadline`; it stops the
 * request when the agent closes the fd.
 */
async function pump(reader: BodyReader, ready: Ready, sink: StreamWriter, limit: number, deadline: number, usage: UsageScanner | undefined, addTokens: (n: number) => void, redactor: Redactor | undefined, chargeChunks: () => void): Promise<void> {
  const timer = setTimeout(() => {
    sink.fail(new KernelError('ETIMEDOUT', 'http.fetch: the response body did not end in time'));
    void reader.cancel().catch(() => undefined);
  }, Math.max(0, deadline - Date.now()));
  // The agent closed the fd, or its process ended: the request stops now, even if the server has gone quiet.
  const stop = () => void reader.cancel().catch(() => undefined);
  if (sink.unread.aborted) stop();
  else sink.unread.addEventListener('abort', stop, { once: true });
  let total = 0;
  /** The tokens counted so far: an event stream's as its lines come, before the agent can read them. */
  let counted = 0;
  const count = (tokens: number) => {
    if (tokens <= counted) return;
    addTokens(tokens - counted);
    counted = tokens;
  };
  const queued: (Read | Promise<Read>)[] = [...ready.chunks.map((value): Read => ({ done: false, value })), ...(ready.pending ? [ready.pending] : [])];
  try {
    for (;;) {
      // Charged as it goes: the tree's kernel time holds while the body streams.
      chargeChunks();
      const { done, value } = await (queued.shift() ?? reader.read());
      if (done) {
        const rest = redactor?.end();
        if (rest !== undefined && rest.byteLength > 0) await sink.write(rest);
        sink.end();
        return;
      }
      total += value.byteLength;
      if (total > limit) {
        sink.fail(new KernelError('EFBIG', `http.fetch: response body is over the limit of ${limit} bytes`));
        await reader.cancel().catch(() => undefined);
        return;
      }
      if (usage !== undefined) {
        usage.push(value);
        // Counted before the agent can read the chunk: one that closes the body early (or asks again at once) has them counted.
        if (usage.events) count(usage.seen());
      }
      const out = redactor === undefined ? value : redactor.push(value);
      if (out.byteLength > 0) await sink.write(out);
    }
  } catch (err) {
    // The agent closed the fd (EPIPE), or the connection failed: either way the request stops.
    sink.fail(bodyError(err));
    await reader.cancel().catch(() => undefined);
  } finally {
    clearTimeout(timer);
    sink.unread.removeEventListener('abort', stop);
    chargeChunks();
    // What the model reported is counted however the body ends: closed early by the agent, cut at the limit, or
    // timed out (an attacker pass: a stream cancelled after its usage and first delta counted nothing, so
    // token_budget never ran out).
    if (usage !== undefined) count(usage.tokens());
  }
}

/**
 * httpFetchTool makes the tool. EINVAL if an entry of `allowAddresses` is not
 * an address or CIDR range.
 */
export function httpFetchTool(options: HttpFetchOptions = {}): ToolSpec {
  const maxRequestBytes = options.maxRequestBytes ?? 256 * 1024;
  const modelEndpoints = options.modelEndpoints ?? [];
  const bindings: ReadonlyMap<string, SecretBinding> = new Map(Object.entries(options.secrets ?? {}).map(([name, raw]) => [name, bindingOf(raw)]));
  let policy: AddressPolicy;
  try {
    policy = new AddressPolicy(options.allowAddresses);
  } catch (err) {
    throw new KernelError('EINVAL', `http.fetch: allowAddresses: ${(err as Error).message}`);
  }
  // undici's request API, not its fetch: the same connections at about a third of the CPU (no WHATWG streams or Headers
  // between the socket and the agent). fetch's decoding of compressed answers is kept: an interceptor does it.
  // The compression headers as sent are kept, as fetch keeps them (encoding-headers.ts). Decoding stops at the output
  // limit at every stage: in `Content-Encoding: gzip, gzip` the outer stage could inflate gigabytes into the inner one
  // (a gzip header's comment, say) while the body the limit counts stays empty, on the kernel's loop until the timeout.
  const maxOutputBytes = options.maxOutputBytes ?? 1024 * 1024;
  const shares = new OriginShares(CONNECTIONS_PER_AGENT_ORIGIN);
  const dispatcher = guardedAgent({ policy, tool: 'http.fetch', setting: ALLOW_SETTING }).compose(sentEncoding(), chunkCount(), interceptors.decompress({ skipErrorResponses: false, maxSize: maxOutputBytes }));
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
        bodyBase64: { type: 'string', maxLength: Math.ceil(maxRequestBytes / 3) * 4 },
        stream: { type: 'boolean' },
        /** The body has no content-type: none is added (a text body is sent as text/plain otherwise, as fetch sends a string). */
        untyped: { type: 'boolean' },
      },
    },
    risk: 'medium',
    timeoutMs: options.timeoutMs ?? 10_000,
    maxOutputBytes,
    source: 'builtin',
    async run(args: JsonObject, call) {
      const url = checkUrl(args.url as string, options.ambiguousPaths);
      const method = (args.method as string | undefined) ?? 'GET';
      if (args.body !== undefined && args.bodyBase64 !== undefined) throw new KernelError('EINVAL', 'http.fetch: give body or bodyBase64, not both');
      const secrets = call.caller.secrets ?? [];
      // Placeholders of the caller's secrets become their values here, for bound hosts only (EACCES otherwise).
      const given = Object.entries((args.headers ?? {}) as Record<string, string>);
      const { body: text, headers: values } = substitute(url, { body: (args.body as string | undefined) ?? '', headers: given.map(([, v]) => v) }, secrets, bindings);
      const metered = modelEndpoints.some((prefix) => url.href.startsWith(prefix));
      const sentBody = args.bodyBase64 !== undefined ? Buffer.from(args.bodyBase64 as string, 'base64') : args.body !== undefined ? text! : null;
      // Reading a model request's JSON (within maxRequestBytes) is the caller's work: its tree pays.
      const asking = performance.now();
      const body = metered ? askingForUsage(url, sentBody) : sentBody;
      if (metered) call.caller.charge?.((performance.now() - asking) * 1e6);
      if (method === 'GET' && body !== null) throw new KernelError('EINVAL', 'http.fetch: a GET request has no body');
      const started = Date.now();
      const headers: Record<string, string> = Object.create(null) as Record<string, string>;
      given.forEach(([key], i) => {
        if (FORBIDDEN_HEADERS.has(key.toLowerCase())) throw new KernelError('EINVAL', `http.fetch: header '${key}' cannot be set`);
        headers[key.toLowerCase()] = values[i]!;
      });
      // As the platform's fetch does: its default headers, and a text body without a type is text/plain (unless `untyped`: ring 3's fetch sends bytes it gave no type so).
      for (const [name, value] of Object.entries(DEFAULT_HEADERS)) headers[name] ??= value;
      headers['accept-encoding'] ??= ACCEPT_ENCODING[url.protocol as keyof typeof ACCEPT_ENCODING];
      if (typeof body === 'string' && headers['content-type'] === undefined && args.untyped !== true) headers['content-type'] = 'text/plain;charset=UTF-8';
      // A share of the connections to the origin (origin-shares.ts): EAGAIN past it; given back when the answer is read or its stream ends.
      const release = shares.take(call.caller.agentId, url.origin);
      let kept = false;
      try {
        let response: Dispatcher.ResponseData;
        let sent: EncodingHeaders | undefined;
        // The chunks the answer came in, charged to the caller's tree as they are read (chunk-count.ts).
        const chunks = new ChunkCounter();
        const chargeChunks = () => chunks.chargeNew(call.caller.charge?.bind(call.caller));
        try {
          // The path as the canonical URL has it (an empty query's `?` included), without the fragment.
          const hash = url.href.indexOf('#');
          const path = url.href.slice(url.origin.length, hash < 0 ? undefined : hash);
          const request: Dispatcher.RequestOptions & WithSentEncoding & WithChunks = { origin: url.origin, path, method, headers, body, signal: call.signal, [SENT_ENCODING]: (h) => (sent = h), [CHUNKS]: chunks };
          response = await dispatcher.request(request);
        } catch (err) {
          if (call.signal.aborted) throw call.signal.reason;
          if (err instanceof KernelError) throw err;
          if (err instanceof Error && err.cause instanceof KernelError) throw err.cause;
          if (err instanceof errors.InvalidArgumentError) throw new KernelError('EINVAL', `http.fetch: ${err.message}`);
          throw new KernelError(networkErrno(err), `http.fetch: ${method} ${url.origin} failed${err instanceof Error ? `: ${err.message}` : ''}`);
        }
        const type = headerText(response.headers['content-type']);
        const shown = Object.entries({ ...response.headers, ...sent }).flatMap(([k, v]) => (v === undefined ? [] : [[k, redact(headerText(v), secrets)]]));
        // Set-Cookie is the one field that cannot be joined with ', ' (cookies hold commas): its values are also kept apart, for Headers.getSetCookie().
        const cookies = response.headers['set-cookie'];
        const setCookie = cookies === undefined ? undefined : (typeof cookies === 'string' ? [cookies] : cookies).map((value) => redact(value, secrets));
        // Every text of the head is redacted (an attacker pass: the status text echoed a secret the headers had redacted).
        const head = { status: response.statusCode, statusText: redact(response.statusText, secrets), url: url.href, headers: Object.fromEntries(shown), ...(setCookie === undefined ? {} : { setCookie }) };
        let received: Uint8Array;
        let exact = false;
        if (args.stream === true && call.caller.openStream !== undefined) {
          // A body that has all arrived with the headers (a small answer) comes back inline, as without stream: no fd, no reads.
          const reader = bodyReader(response.body);
          const ready = await bodyFailure(readReady(reader, Math.min(INLINE_MAX, call.maxOutputBytes)));
          chargeChunks();
          if (ready.done) {
            received = Buffer.concat(ready.chunks);
            // fetch() needs the bytes as they came: text only when it decodes and encodes back to them.
            exact = true;
          } else {
            let sink: StreamWriter;
            try {
              sink = call.caller.openStream();
            } catch (err) {
              await reader.cancel();
              throw err;
            }
            const usage = metered ? new UsageScanner(type) : undefined;
            void pump(reader, ready, sink, call.maxOutputBytes, started + call.timeoutMs, usage, (n) => call.caller.addTokens(n), secrets.length > 0 ? new Redactor(secrets) : undefined, chargeChunks).finally(release);
            kept = true;
            return { ...head, bodyFd: sink.fd };
          }
        } else {
          try {
            received = await bodyFailure(readCapped(response.body, call.maxOutputBytes, 'http.fetch'));
          } finally {
            chargeChunks();
          }
        }
        // Decoding the answer (up to its output limit) is work for the caller, after its call was measured: its tree pays.
        const building = performance.now();
        try {
          const out: Record<string, unknown> = { ...head };
          if (metered) {
            const tokens = tokensInBody(new TextDecoder().decode(received));
            if (tokens > 0) call.caller.addTokens(tokens);
          }
          const decoded = type === '' || TEXTUAL.test(type) ? new TextDecoder().decode(received) : undefined;
          if (decoded !== undefined && (!exact || Buffer.from(decoded).equals(received))) out.body = redact(decoded, secrets);
          else out.bodyBase64 = Buffer.from(secrets.length > 0 ? redactBytes(received, secrets) : received).toString('base64');
          return out as JsonObject;
        } finally {
          call.caller.charge?.((performance.now() - building) * 1e6);
        }
      } finally {
        if (!kept) release();
      }
    },
  };
}
