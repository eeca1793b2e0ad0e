// fetch(input, init) over kernel.transport. A stream request body is read
// fully first (an abort cancels it); the response body streams chunk by chunk. Failures reject
// with TypeError('fetch failed', { cause }) like undici; aborts reject (or
// error the body stream) with the signal's reason.
import { Request, requestParts } from './request.js';
import { createFetchedResponse } from './response.js';
import { onAbort } from './abort.js';
import { NativePromise, NativeTypeError, NativeUint8Array, readStreamBytes } from './intrinsics.js';

const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

/** withoutFragment is a URL text without its `#…`. */
function withoutFragment(url) {
  const hash = url.indexOf('#');
  return hash < 0 ? url : url.slice(0, hash);
}
const nothing = () => {};

// readUpload reads a stream request body whole; an abort meanwhile cancels the stream with the reason, as the platform does.
async function readUpload(stream, signal) {
  const reader = stream.getReader();
  const stop = signal === null ? nothing : onAbort(signal, (reason) => void reader.cancel(reason).catch(nothing));
  try {
    return await abortable(readStreamBytes(reader), signal);
  } finally {
    stop();
  }
}

// abortable settles like `promise`, or rejects with the reason once `signal` (null: none) aborts.
function abortable(promise, signal) {
  if (signal === null) return promise;
  if (signal.aborted) return NativePromise.reject(signal.reason);
  return new NativePromise((resolve, reject) => {
    const cancel = onAbort(signal, reject);
    promise.then(
      (value) => {
        cancel();
        resolve(value);
      },
      (error) => {
        cancel();
        reject(error);
      },
    );
  });
}

/** createFetch builds `fetch` over `transport(request) -> Promise<{ status, statusText, url, headers, body }>`. */
export function createFetch(transport) {
  return async function fetch(input, init = undefined) {
    const request = new Request(input, init);
    const parts = requestParts(request);
    // The signal that aborts this fetch, or null when nothing can.
    const signal = parts.signal;
    if (signal !== null && signal.aborted) throw signal.reason;
    let body = parts.body;
    if (body !== null && !(body instanceof NativeUint8Array)) body = await readUpload(body, signal);
    let reply;
    try {
      reply = await abortable(transport({ url: parts.url, method: parts.method, headers: parts.headers, body, signal, redirect: parts.redirect }), signal);
    } catch (error) {
      if (signal !== null && signal.aborted) throw signal.reason;
      throw new NativeTypeError('fetch failed', { cause: error });
    }
    // Aborted after the transport answered, before this resumed: the abort wins, as it would a moment later.
    if (signal !== null && signal.aborted) {
      if (reply.body && typeof reply.body.cancel === 'function') reply.body.cancel(signal.reason).catch(() => {});
      throw signal.reason;
    }
    const status = Number(reply.status);
    const noBody = parts.method === 'HEAD' || NULL_BODY_STATUSES.has(status);
    // A body is a stream, or bytes that came whole with the headers (no stream to cancel or error then).
    if (noBody && reply.body && typeof reply.body.cancel === 'function') reply.body.cancel().catch(() => {});
    let cancel = nothing;
    // A response's URL is without the request's fragment, as the platform's (found by a review).
    const answered = withoutFragment(`${reply.url ?? parts.url}`);
    const { response, errorBody } = createFetchedResponse({
      status,
      statusText: `${reply.statusText ?? ''}`,
      url: answered,
      redirected: reply.redirected ?? answered !== withoutFragment(parts.url),
      headers: reply.headers ?? [],
      // No body but its text: the bytes are the text's, made on first need.
      body: noBody ? null : reply.body === undefined && typeof reply.bodyText === 'string' ? undefined : reply.body ?? null,
      bodyText: noBody ? undefined : reply.bodyText,
    }, () => cancel(), signal);
    if (!noBody && signal !== null && reply.body && typeof reply.body.cancel === 'function') cancel = onAbort(signal, errorBody);
    return response;
  };
}
