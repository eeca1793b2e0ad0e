// transport: the network under `fetch`, as governed syscalls. Each request
// (and each redirect it follows) is one SYS_EXEC of the `http.fetch` tool,
// so capabilities, policy, approvals, canonical URLs and the decision log
// apply to it; the response body streams through an fd the kernel fills as
// the bytes arrive, pulled a chunk (one SYS_READ) at a time, unless all of it
// had arrived with the headers: then it comes back inline, in the same reply.

const MAX_REDIRECTS = 20;
const CHUNK = 65536;
/** Request headers the kernel sets itself (the platform drops them too). */
const FORBIDDEN = new Set(['host', 'content-length', 'connection', 'transfer-encoding', 'upgrade', 'proxy-authorization', 'te', 'trailer', 'keep-alive']);
/** Headers a redirect to another origin drops, as the platform does: credentials meant for the first one. */
const CREDENTIALS = ['authorization', 'cookie', 'proxy-authorization'];
/** Headers that describe a request body, dropped when a redirect turns the request into a GET without one. */
const BODY_HEADERS = ['content-type', 'content-encoding', 'content-language', 'content-location'];

/** dropHeaders deletes `names` from a header record whatever their case. */
function dropHeaders(headers, names) {
  for (const key of Object.keys(headers)) if (names.includes(key.toLowerCase())) delete headers[key];
}

/** base64 and fromBase64 convert bytes through the platform's btoa/atob (fetch runs with the web globals loaded), a chunk of characters at a time. */
function base64(bytes) {
  let binary = '';
  for (let at = 0; at < bytes.length; at += 8192) binary += String.fromCharCode.apply(null, bytes.subarray(at, at + 8192));
  return btoa(binary);
}

function fromBase64(text) {
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

/** bodyStream reads fd `fd` a chunk at a time as a ReadableStream; cancelling it closes the fd (the kernel then stops the request). */
function bodyStream(sys, fd, signal) {
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    sys.async.close(fd).catch(() => undefined);
  };
  return new ReadableStream({
    async pull(controller) {
      let chunk;
      try {
        chunk = await sys.async.read(fd, CHUNK, { signal });
      } catch (err) {
        close();
        // As Node's: the cause has a `code` (ECONNRESET for a connection cut mid-body).
        if (err !== null && typeof err === 'object' && err.code === undefined && typeof err.errno === 'string') err.code = err.errno;
        controller.error(signal && signal.aborted ? signal.reason : new TypeError('terminated', { cause: err }));
        return;
      }
      if (chunk.length === 0) {
        close();
        controller.close();
        return;
      }
      controller.enqueue(chunk);
    },
    cancel: close,
  });
}

/** inlineBytes is a body that came back whole with the headers: its bytes (the Response reads them without a stream). */
function inlineBytes(out, encode) {
  return out.body !== undefined ? encode(out.body) : out.bodyBase64 !== undefined ? fromBase64(out.bodyBase64) : new Uint8Array(0);
}

const applyFn = Reflect.apply;
const isWellFormed = String.prototype.isWellFormed;

/** exactText is an inline text body when decoding its UTF-8 bytes gives it back (no lone surrogate, no leading BOM): Response.text() then skips the decoding. */
function exactText(out) {
  const text = out.body;
  return typeof text === 'string' && applyFn(isWellFormed, text, []) && text.charCodeAt(0) !== 0xfeff ? text : undefined;
}

/** utf8Text is `bytes` as text if they are valid UTF-8 (the platform's TextDecoder, fatal), else undefined. */
function utf8Text(bytes) {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

/** responseHeaders is the answer's header list, each Set-Cookie value its own entry when the kernel kept them apart (tapes made before that join them). */
function responseHeaders(out) {
  const list = Object.entries(out.headers);
  if (!Array.isArray(out.setCookie)) return list;
  return list.filter(([name]) => name !== 'set-cookie').concat(out.setCookie.map((value) => ['set-cookie', value]));
}

/** makeTransport builds kernel.transport over `sys` (the async syscalls) and the decoder for text bodies. */
export function makeTransport(sys, encodeUtf8) {
  return async function transport(request) {
    let url = request.url;
    let method = request.method;
    let body = request.body;
    const headers = {};
    let typed = false;
    for (const [name, value] of request.headers) {
      const lower = name.toLowerCase();
      if (FORBIDDEN.has(lower)) continue;
      headers[name] = value;
      if (lower === 'content-type') typed = true;
    }
    for (let hops = 0; ; hops++) {
      const args = { url, method, headers, stream: true };
      if (body !== null && body !== undefined) {
        // Valid UTF-8 goes as text (what policy, the log and secrets read); other bytes as base64. A body the Request
        // gave no content-type (bytes, say) goes `untyped`: the tool adds no text/plain to it, as fetch sends none.
        const text = utf8Text(body);
        if (text !== undefined) args.body = text;
        else args.bodyBase64 = base64(body);
        if (!typed) args.untyped = true;
      }
      let result;
      try {
        result = await sys.async.exec('http.fetch', args, { signal: request.signal });
      } catch (err) {
        if (request.signal && request.signal.aborted) throw request.signal.reason;
        const cause = new Error(err.message);
        cause.code = err.errno;
        cause.errno = err.errno;
        cause.syscall = err.syscall;
        throw cause;
      }
      const out = result.output;
      const location = out.headers.location;
      if (out.status >= 300 && out.status < 400 && out.status !== 304 && location !== undefined && request.redirect !== 'manual') {
        if (out.bodyFd !== undefined) sys.async.close(out.bodyFd).catch(() => undefined);
        if (request.redirect === 'error') throw new Error(`redirect to ${location} refused (redirect: 'error')`);
        if (hops >= MAX_REDIRECTS) throw new Error('too many redirects');
        const next = new URL(location, url);
        // Credentials go to the origin they were given for only (found by a review: an API key followed a redirect to another host).
        if (next.origin !== new URL(url).origin) dropHeaders(headers, CREDENTIALS);
        url = next.href;
        // 303, and 301/302 after a POST, become a GET without a body (as the platform does).
        if (out.status === 303 || ((out.status === 301 || out.status === 302) && method === 'POST')) {
          method = 'GET';
          body = null;
          dropHeaders(headers, BODY_HEADERS);
        }
        continue;
      }
      // A text answer that came whole stays text (its bytes are made only if the program asks for bytes).
      const text = out.bodyFd !== undefined ? undefined : exactText(out);
      return {
        status: out.status,
        statusText: out.statusText ?? '',
        url: out.url,
        redirected: hops > 0,
        headers: responseHeaders(out),
        body: out.bodyFd !== undefined ? bodyStream(sys, out.bodyFd, request.signal) : text !== undefined ? undefined : inlineBytes(out, encodeUtf8),
        bodyText: text,
      };
    }
  };
}
