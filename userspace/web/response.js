// Response (WHATWG Fetch).
import { Headers, freezeHeaders, isFrozenHeaders } from './headers.js';
import { cloneBody, extractBody, initBody, mixBody } from './body.js';
import { encodeUtf8 } from './text-encoding.js';
import { URL } from './url.js';
import { inspectAs } from './inspect-as.js';
import { NativeRangeError, NativeTypeError, NativeUint8Array, defineProperty } from './intrinsics.js';

const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const REASON_PHRASE = /^[\t\x20-\x7e\x80-\xff]*$/;
const states = new WeakMap();
const internal = Symbol('internal');

function state(response) {
  const value = states.get(response);
  if (value === undefined) throw new NativeTypeError('Illegal invocation');
  return value;
}

/**
 * headersOf is a response's Headers; a fetched response's are made from the
 * pairs that came when first read (many programs only read the body), and the
 * pairs are let go. A pair Headers refuses (the kernel sends none; an edited
 * tape could) throws at that read, not at fetch().
 */
function headersOf(own) {
  if (own.headers === undefined) {
    own.headers = freezeHeaders(new Headers(own.pairs));
    own.pairs = undefined;
  }
  return own.headers;
}

/** Response(body, { status, statusText, headers }): RangeError for a status outside 200..599, TypeError for a body with a null-body status. */
export class Response {
  constructor(body = null, init = undefined) {
    if (body === internal) return;
    init ??= {};
    const status = init.status === undefined ? 200 : Number(init.status);
    if (!Number.isInteger(status) || status < 200 || status > 599) {
      throw new NativeRangeError(`init["status"] must be in the range of 200 to 599, inclusive.`);
    }
    const statusText = init.statusText === undefined ? '' : `${init.statusText}`;
    if (!REASON_PHRASE.test(statusText)) throw new NativeTypeError('Invalid statusText');
    const headers = new Headers(init.headers);
    const extracted = extractBody(body);
    if (extracted.source !== null && NULL_BODY_STATUSES.has(status)) {
      throw new NativeTypeError('Response constructor: Invalid response status code ' + status);
    }
    if (extracted.type !== null && !headers.has('content-type')) headers.append('content-type', extracted.type);
    states.set(this, { type: 'default', url: '', redirected: false, status, statusText, headers });
    initBody(this, extracted.source);
  }
  static error() {
    const response = new Response(internal);
    states.set(response, { type: 'error', url: '', redirected: false, status: 0, statusText: '', headers: freezeHeaders(new Headers()) });
    initBody(response, null);
    return response;
  }
  static json(data, init = undefined) {
    const text = JSON.stringify(data);
    if (text === undefined) throw new NativeTypeError('Value is not JSON serializable');
    const headers = new Headers(init?.headers);
    if (!headers.has('content-type')) headers.set('content-type', 'application/json');
    return new Response(encodeUtf8(text), { status: init?.status, statusText: init?.statusText, headers });
  }
  static redirect(url, status = 302) {
    const target = new URL(`${url}`).href;
    if (!REDIRECT_STATUSES.has(Number(status))) throw new NativeRangeError(`Invalid status code ${status}`);
    const response = new Response(null, { status: 200, headers: { location: target } });
    state(response).status = Number(status);
    freezeHeaders(state(response).headers);
    return response;
  }
  get type() {
    return state(this).type;
  }
  get url() {
    return state(this).url;
  }
  get redirected() {
    return state(this).redirected;
  }
  get status() {
    return state(this).status;
  }
  get ok() {
    const { status } = state(this);
    return status >= 200 && status <= 299;
  }
  get statusText() {
    return state(this).statusText;
  }
  get headers() {
    return headersOf(state(this));
  }
  clone() {
    const own = state(this);
    const copy = new Response(internal);
    const original = headersOf(own);
    const headers = new Headers(original);
    states.set(copy, { ...own, headers: isFrozenHeaders(original) ? freezeHeaders(headers) : headers });
    cloneBody(this, copy);
    return copy;
  }
}
mixBody(Response);
defineProperty(Response.prototype, Symbol.toStringTag, { value: 'Response', configurable: true });

/**
 * createFetchedResponse builds the Response fetch resolves with; it returns it with a function that errors its body
 * stream; `onEnd` runs once the body stream ends; `signal` (or null) aborts reading a body that came whole.
 */
export function createFetchedResponse({ status, statusText, url, headers, body, bodyText, redirected }, onEnd, signal = null) {
  const response = new Response(internal);
  states.set(response, {
    type: 'basic',
    url,
    redirected,
    status,
    statusText,
    headers: undefined,
    pairs: headers,
  });
  // Bytes, or (body undefined) the bytes of bodyText: a body that came whole.
  const whole = body instanceof NativeUint8Array || (body === undefined && typeof bodyText === 'string');
  const errorBody = initBody(response, whole ? body : body ?? null, onEnd, typeof bodyText === 'string' && whole ? bodyText : undefined, whole ? signal : null);
  return { response, errorBody };
}

inspectAs(Response, 'Response', ['status', 'statusText', 'headers', 'body', 'bodyUsed', 'ok', 'redirected', 'type', 'url']);
