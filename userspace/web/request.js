// Request (WHATWG Fetch), without a document: URLs must be absolute.
import { Headers, headerList } from './headers.js';
import { bodySource, cloneBody, extractBody, initBody, isReadableStream, mixBody, takeBody } from './body.js';
import { AbortSignal, isAbortSignal } from './abort.js';
import { NativeMap, NativeTypeError, defineProperty, mapClear, mapGet, mapHas, mapSet } from './intrinsics.js';
import { URL } from './url.js';
import { inspectAs } from './inspect-as.js';

/**
 * absoluteUrl parses `text` as an absolute URL: its href and whether it
 * carries credentials, or null. The answer depends on the text alone, so
 * answers are kept (up to PARSED_MAX, then the cache starts again): an agent
 * that fetches the same endpoints over and over (a model's, a tool's) parses
 * each once (~20 µs a parse in an isolate).
 */
const PARSED_MAX = 64;
const parsed = new NativeMap();
let parsedCount = 0;
function absoluteUrl(text) {
  let found = mapGet(parsed, text);
  if (found !== undefined) return found;
  try {
    const url = new URL(text);
    found = { href: url.href, credentials: url.username !== '' || url.password !== '' };
  } catch {
    found = null;
  }
  if (text.length > 2048) return found;
  if (parsedCount >= PARSED_MAX) {
    mapClear(parsed);
    parsedCount = 0;
  }
  mapSet(parsed, text, found);
  parsedCount++;
  return found;
}

/** The enumerated RequestInit members: each one's WebIDL type and the values it takes (any other is a TypeError). */
const ENUM_MEMBERS = [];
const ENUMS = new NativeMap();
for (const [member, type, values] of [
  ['mode', 'RequestMode', ['navigate', 'same-origin', 'no-cors', 'cors']],
  ['credentials', 'RequestCredentials', ['omit', 'same-origin', 'include']],
  ['cache', 'RequestCache', ['default', 'no-store', 'reload', 'no-cache', 'force-cache', 'only-if-cached']],
  ['redirect', 'RequestRedirect', ['follow', 'error', 'manual']],
  ['referrerPolicy', 'ReferrerPolicy', ['', 'no-referrer', 'no-referrer-when-downgrade', 'same-origin', 'origin', 'strict-origin', 'origin-when-cross-origin', 'strict-origin-when-cross-origin', 'unsafe-url']],
  ['duplex', 'RequestDuplex', ['half']],
  ['priority', 'RequestPriority', ['high', 'low', 'auto']],
]) {
  ENUM_MEMBERS.push(member);
  mapSet(ENUMS, member, { type, values: new NativeMap(values.map((v) => [v, true])) });
}

/** enumOf is init[member] as a string, or undefined when absent; TypeError for a value its enum does not have. */
function enumOf(init, member) {
  const value = init[member];
  if (value === undefined) return undefined;
  const text = `${value}`;
  const { type, values } = mapGet(ENUMS, member);
  if (!mapHas(values, text)) throw new NativeTypeError(`Failed to construct 'Request': The provided value '${text}' is not a valid enum value of type ${type}.`);
  return text;
}

const FORBIDDEN_METHODS = new Set(['CONNECT', 'TRACE', 'TRACK']);
const NORMALIZED_METHODS = new Set(['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT']);
const METHOD = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const states = new WeakMap();

function state(request) {
  const value = states.get(request);
  if (value === undefined) throw new NativeTypeError('Illegal invocation');
  return value;
}

/** Request(input, init): TypeError for a relative or credentialed URL, a forbidden method, a body on GET/HEAD, or a stream body without `duplex: 'half'`. */
export class Request {
  constructor(input, init = undefined) {
    init ??= {};
    // The enumerated members are checked first, as Node does (an unknown mode is the error even with a bad URL).
    const given = {};
    for (let i = 0; i < ENUM_MEMBERS.length; i++) given[ENUM_MEMBERS[i]] = enumOf(init, ENUM_MEMBERS[i]);
    if (given.mode === 'navigate') throw new NativeTypeError("Failed to construct 'Request': Cannot construct a Request with a RequestInit whose mode member is set as 'navigate'.");
    if (init.window !== undefined && init.window !== null) throw new NativeTypeError("Failed to construct 'Request': 'window' option 'client' must be null.");
    const from = input instanceof Request ? state(input) : null;
    let url;
    if (from !== null) url = from.url;
    else {
      const text = `${input}`;
      const found = absoluteUrl(text);
      if (found === null) throw new NativeTypeError(`Failed to parse URL from ${text}`);
      if (found.credentials) throw new NativeTypeError(`Request cannot be constructed from a URL that includes credentials: ${text}`);
      url = found.href;
    }
    let method = from?.method ?? 'GET';
    if (init.method !== undefined) {
      method = `${init.method}`;
      if (!METHOD.test(method)) throw new NativeTypeError(`'${method}' is not a valid HTTP method.`);
      const upper = method.toUpperCase();
      if (FORBIDDEN_METHODS.has(upper)) throw new NativeTypeError(`'${method}' HTTP method is unsupported.`);
      if (NORMALIZED_METHODS.has(upper)) method = upper;
    }
    const mode = given.mode ?? from?.mode ?? 'cors';
    const cache = given.cache ?? from?.cache ?? 'default';
    if (cache === 'only-if-cached' && mode !== 'same-origin') throw new NativeTypeError("Failed to construct 'Request': 'only-if-cached' can be set only with 'same-origin' mode");
    // As Node checks it: a mode given here (a Request's own no-cors mode does not stop another method).
    if (given.mode === 'no-cors' && method !== 'GET' && method !== 'HEAD' && method !== 'POST') throw new NativeTypeError(`Failed to construct 'Request': '${method}' is unsupported in no-cors mode.`);
    // The request's own signal follows this one; it is made when first read (fetch itself watches this one).
    const signal = init.signal !== undefined ? init.signal : from !== null ? from.signalSource : null;
    if (signal !== null && !isAbortSignal(signal)) throw new NativeTypeError("Failed to construct 'Request': member signal is not of type AbortSignal.");
    const headers = new Headers(init.headers !== undefined ? init.headers : from !== null ? from.headers : undefined);
    const hasBody = init.body !== undefined && init.body !== null;
    if ((hasBody || (from !== null && from.hasBody)) && (method === 'GET' || method === 'HEAD')) {
      throw new NativeTypeError('Request with GET/HEAD method cannot have body.');
    }
    let source = null;
    if (hasBody) {
      const extracted = extractBody(init.body);
      if (isReadableStream(extracted.source) && given.duplex !== 'half') {
        throw new NativeTypeError('RequestInit: duplex option is required when sending a body.');
      }
      source = extracted.source;
      if (extracted.type !== null && !headers.has('content-type')) headers.append('content-type', extracted.type);
    } else if (from !== null && init.body === undefined) {
      source = takeBody(input);
    }
    states.set(this, {
      url,
      method,
      headers,
      signalSource: signal,
      signal: undefined,
      hasBody: source !== null,
      redirect: given.redirect ?? from?.redirect ?? 'follow',
      cache,
      credentials: given.credentials ?? from?.credentials ?? 'same-origin',
      mode,
      referrer: init.referrer !== undefined ? `${init.referrer}` : from?.referrer ?? 'about:client',
      referrerPolicy: given.referrerPolicy ?? from?.referrerPolicy ?? '',
      integrity: `${init.integrity ?? from?.integrity ?? ''}`,
      keepalive: Boolean(init.keepalive ?? from?.keepalive ?? false),
    });
    initBody(this, source);
  }
  get url() {
    return state(this).url;
  }
  get method() {
    return state(this).method;
  }
  get headers() {
    return state(this).headers;
  }
  get signal() {
    const own = state(this);
    own.signal ??= AbortSignal.any(own.signalSource === null ? [] : [own.signalSource]);
    return own.signal;
  }
  get redirect() {
    return state(this).redirect;
  }
  get cache() {
    return state(this).cache;
  }
  get credentials() {
    return state(this).credentials;
  }
  get mode() {
    return state(this).mode;
  }
  get referrer() {
    return state(this).referrer;
  }
  get referrerPolicy() {
    return state(this).referrerPolicy;
  }
  get integrity() {
    return state(this).integrity;
  }
  get keepalive() {
    return state(this).keepalive;
  }
  get destination() {
    return '';
  }
  get duplex() {
    return 'half';
  }
  clone() {
    const own = state(this);
    const copy = Object.create(Request.prototype);
    states.set(copy, { ...own, headers: new Headers(own.headers), signal: undefined });
    cloneBody(this, copy);
    return copy;
  }
}
mixBody(Request);
defineProperty(Request.prototype, Symbol.toStringTag, { value: 'Request', configurable: true });

/**
 * requestParts returns what fetch needs from `request`: url, method, header
 * pairs, body source, and the signal that aborts it (the one it was given, or
 * null: only that one can abort the request's own signal, so a fetch that
 * watches it makes no signal and holds no listener on a long-lived one).
 */
export function requestParts(request) {
  const own = state(request);
  return {
    url: own.url,
    method: own.method,
    headers: headerList(own.headers).map((entry) => [entry[0], entry[1]]),
    body: own.hasBody ? bodySource(request) : null,
    signal: own.signalSource,
    redirect: own.redirect,
  };
}

inspectAs(Request, 'Request', ['method', 'url', 'headers', 'destination', 'referrer', 'referrerPolicy', 'mode', 'credentials', 'cache', 'redirect', 'integrity', 'keepalive', 'signal']);
