// fetch, Request, Response and Headers over a scripted kernel transport.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebIsolate, type WebIsolate } from './web-harness.ts';

let web: WebIsolate;
beforeAll(async () => {
  web = await createWebIsolate();
});
afterAll(() => web.dispose());

// Inside the isolate: `reply(chunks, extra)` scripts one transport reply
// whose body stream is controlled by the test through `__test.body`.
const PRELUDE = `
  const bytes = (s) => new TextEncoder().encode(s);
  const reply = (chunks = [], extra = {}) => __test.routes.push((request) => {
    const body = new ReadableStream({
      start(c) { __test.body = c; for (const chunk of chunks) c.enqueue(bytes(chunk)); if (extra.open !== true) c.close(); },
      cancel(reason) { __test.cancelled = reason; },
    });
    return Promise.resolve({ status: 200, statusText: 'OK', url: request.url, headers: [['content-type', 'text/plain'], ['set-cookie', 'a=1'], ['set-cookie', 'b=2']], body, ...extra });
  });
`;

describe('fetch', () => {
  it('sends method, headers and body and resolves a Response', async () => {
    const result = await web.run(`${PRELUDE}
      reply(['hel', 'lo']);
      const res = await fetch('https://example.com/a/../b?q', { method: 'post', body: 'abc', headers: { 'X-One': ' 1 ' } });
      const request = __test.requests.at(-1);
      return { sent: [request.url, request.method, request.headers, new TextDecoder().decode(request.body)],
        status: [res.status, res.ok, res.statusText, res.url, res.type, res.redirected],
        headers: [res.headers.get('content-type'), res.headers.getSetCookie(), [...res.headers.keys()]],
        text: await res.text(), used: res.bodyUsed };
    `);
    expect(result).toEqual({
      sent: ['https://example.com/b?q', 'POST', [['x-one', '1'], ['content-type', 'text/plain;charset=UTF-8']], 'abc'],
      status: [200, true, 'OK', 'https://example.com/b?q', 'basic', false],
      headers: ['text/plain', ['a=1', 'b=2'], ['content-type', 'set-cookie', 'set-cookie']],
      text: 'hello',
      used: true,
    });
  });

  it('streams the response body chunk by chunk, before the transport stream ends', async () => {
    const result = await web.run(`${PRELUDE}
      reply(['first'], { open: true });
      const res = await fetch('https://example.com/');
      const reader = res.body.getReader();
      const first = new TextDecoder().decode((await reader.read()).value);
      const usedWhileOpen = res.bodyUsed;
      __test.body.enqueue(bytes('second'));
      __test.body.close();
      const second = new TextDecoder().decode((await reader.read()).value);
      return [first, usedWhileOpen, second, (await reader.read()).done];
    `);
    expect(result).toEqual(['first', true, 'second', true]);
  });

  it('reads a stream request body fully first, and needs duplex for it', async () => {
    const result = await web.run(`${PRELUDE}
      reply([]);
      const body = new ReadableStream({ start(c) { c.enqueue(bytes('a')); c.enqueue(bytes('b')); c.close(); } });
      await fetch('https://example.com/', { method: 'PUT', body, duplex: 'half' });
      const sent = new TextDecoder().decode(__test.requests.at(-1).body);
      let missing;
      try { await fetch('https://example.com/', { method: 'PUT', body: new ReadableStream() }); } catch (e) { missing = e.constructor.name; }
      const form = new URLSearchParams({ a: 'b c' });
      reply([]);
      await fetch('https://example.com/', { method: 'POST', body: form });
      const last = __test.requests.at(-1);
      return [sent, missing, new TextDecoder().decode(last.body), last.headers];
    `);
    expect(result).toEqual(['ab', 'TypeError', 'a=b+c', [['content-type', 'application/x-www-form-urlencoded;charset=UTF-8']]]);
  });

  it('a Request made from another, or fetched, takes its body: the source is used, and a second use is a TypeError (the body could be sent twice; found by a review)', async () => {
    const result = await web.run(`${PRELUDE}
      const first = new Request('https://example.com/', { method: 'POST', body: 'once' });
      const second = new Request(first);
      let again;
      try { new Request(first); } catch (e) { again = [e.constructor.name, e.message]; }
      const withOwn = new Request(second, { body: 'own' });
      reply([]);
      const toFetch = new Request('https://example.com/', { method: 'POST', body: 'sent' });
      await fetch(toFetch);
      let refetch;
      try { await fetch(toFetch); } catch (e) { refetch = e.constructor.name; }
      return [first.bodyUsed, second.bodyUsed, await second.text(), await withOwn.text(), again, toFetch.bodyUsed, new TextDecoder().decode(__test.requests.at(-1).body), refetch];
    `);
    expect(result).toEqual([true, false, 'once', 'own', ['TypeError', 'Cannot construct a Request with a Request object that has already been used.'], true, 'sent', 'TypeError']);
  });

  it("a response's URL is without the fragment; a header value past Latin-1 is a TypeError at once (found by a review)", async () => {
    const result = await web.run(`${PRELUDE}
      reply(['x']);
      const res = await fetch('https://example.com/x#frag');
      const h = new Headers();
      h.set('x-latin', 'é');
      let wide;
      try { h.set('x-wide', 'é€'); } catch (e) { wide = [e.constructor.name, e.message]; }
      return [res.url, res.redirected, h.get('x-latin'), wide];
    `);
    expect(result).toEqual(['https://example.com/x', false, 'é', ['TypeError', 'Cannot convert argument to a ByteString because the character at index 1 has a value of 8364 which is greater than 255.']]);
  });

  it('an abort while a stream request body is being read cancels the stream with the reason (it was left pulled)', async () => {
    const result = await web.run(`${PRELUDE}
      const sentBefore = __test.requests.length;
      let cancelled = 'not cancelled';
      let pulls = 0;
      const body = new ReadableStream({ pull(c) { pulls++; return new Promise(() => {}); }, cancel(reason) { cancelled = reason; } });
      const c = new AbortController();
      const pending = fetch('https://example.com/', { method: 'PUT', body, duplex: 'half', signal: c.signal });
      await new Promise((r) => setTimeout(r, 0));
      c.abort('enough');
      let rejected;
      try { await pending; } catch (e) { rejected = e; }
      await new Promise((r) => setTimeout(r, 0));
      return [rejected, cancelled, pulls, body.locked, __test.requests.length - sentBefore];
    `);
    expect(result).toEqual(['enough', 'enough', 1, true, 0]);
  });

  it("turns a transport failure into TypeError('fetch failed') keeping the cause's errno", async () => {
    const result = await web.run(`${PRELUDE}
      const failures = [];
      try { await fetch('https://down.example/'); } catch (e) { failures.push([e.constructor.name, e.message, e.cause.errno, e.cause.message]); }
      __test.routes.push(() => Promise.reject(Object.assign(new Error('denied by policy'), { errno: 'EACCES' })));
      try { await fetch('https://denied.example/'); } catch (e) { failures.push([e.constructor.name, e.message, e.cause.errno, e.cause.message]); }
      try { await fetch('/relative'); } catch (e) { failures.push([e.constructor.name]); }
      return failures;
    `);
    expect(result).toEqual([
      ['TypeError', 'fetch failed', 'ECONNREFUSED', 'connect ECONNREFUSED'],
      ['TypeError', 'fetch failed', 'EACCES', 'denied by policy'],
      ['TypeError'],
    ]);
  });

  it('rejects with the abort reason before, during the request and while the body streams', async () => {
    const result = await web.run(`${PRELUDE}
      const outcomes = [];
      const calls = __test.requests.length;
      try { await fetch('https://example.com/', { signal: AbortSignal.abort() }); } catch (e) { outcomes.push([e.name, __test.requests.length === calls]); }

      __test.routes.push(() => new Promise(() => {}));
      const pending = new AbortController();
      const request = fetch('https://example.com/', { signal: pending.signal });
      await Promise.resolve();
      pending.abort(new Error('stop'));
      try { await request; } catch (e) { outcomes.push([e.message, __test.requests.at(-1).signal.aborted]); }

      reply(['part'], { open: true });
      const streaming = new AbortController();
      const res = await fetch('https://example.com/', { signal: streaming.signal });
      const reader = res.body.getReader();
      const first = new TextDecoder().decode((await reader.read()).value);
      streaming.abort();
      try { await reader.read(); } catch (e) { outcomes.push([first, e.name, __test.cancelled?.name]); }

      reply(['whole'], { open: true });
      const late = new AbortController();
      const unread = await fetch('https://example.com/', { signal: late.signal });
      const text = unread.text();
      late.abort('late');
      try { await text; } catch (e) { outcomes.push([e]); }
      return outcomes;
    `);
    expect(result).toEqual([['AbortError', true], ['stop', true], ['part', 'AbortError', 'AbortError'], ['late']]);
  });

  it("an abort after fetch answered errors a body that came whole, as it does one still streaming, and a redirect's clone keeps its headers immutable (found by a review)", async () => {
    const result = await web.run(`
      const whole = (request) => Promise.resolve({ status: 200, statusText: 'OK', url: request.url, headers: [], body: new TextEncoder().encode('ok'), bodyText: 'ok' });
      const outcomes = [];
      __test.routes.push(whole);
      const late = new AbortController();
      const res = await fetch('https://example.com/', { signal: late.signal });
      const copy = res.clone();
      late.abort('late');
      try { outcomes.push(await res.text()); } catch (e) { outcomes.push(['text', e]); }
      try { outcomes.push(await copy.body.getReader().read()); } catch (e) { outcomes.push(['stream', e]); }
      const redirect = Response.redirect('https://example.com/next');
      let refused = '';
      try { redirect.clone().headers.set('x', '1'); } catch (e) { refused = e.message; }
      outcomes.push(refused);
      return outcomes;
    `);
    expect(result).toEqual([['text', 'late'], ['stream', 'late'], 'Headers are immutable']);
  });

  it('gives HEAD and 204 replies a null body', async () => {
    const result = await web.run(`${PRELUDE}
      reply(['ignored'], { status: 204 });
      const res = await fetch('https://example.com/');
      reply(['ignored']);
      const head = await fetch('https://example.com/', { method: 'HEAD' });
      return [res.status, res.body, await res.text(), head.body];
    `);
    expect(result).toEqual([204, null, '', null]);
  });
});

describe('Request, Response and Headers', () => {
  it('validates and combines headers, and keeps fetched headers immutable', async () => {
    const result = await web.run(`${PRELUDE}
      const headers = new Headers([['A', '1'], ['a', '2'], ['B', 'x']]);
      headers.set('b', 'y');
      headers.delete('c');
      const errors = [];
      for (const bad of [() => headers.append('bad name', 'x'), () => headers.append('x', 'a\\nb')]) { try { bad(); } catch (e) { errors.push(e.constructor.name); } }
      reply([]);
      const res = await fetch('https://example.com/');
      try { res.headers.append('x', '1'); } catch (e) { errors.push(e.constructor.name); }
      return [headers.get('a'), headers.get('b'), headers.has('A'), [...headers], errors];
    `);
    expect(result).toEqual(['1, 2', 'y', true, [['a', '1, 2'], ['b', 'y']], ['TypeError', 'TypeError', 'TypeError']]);
  });

  it('builds Responses: json, error, redirect, clone, and refuses a second read', async () => {
    const result = await web.run(`
      const json = Response.json({ a: 1 }, { status: 201 });
      const error = Response.error();
      const redirect = Response.redirect('https://example.com/x', 301);
      const original = new Response(new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode('twice')); c.close(); } }));
      const copy = original.clone();
      const texts = [await original.text(), await copy.text()];
      let reread;
      try { await original.text(); } catch (e) { reread = e.constructor.name; }
      let range;
      try { new Response('', { status: 99 }); } catch (e) { range = e.constructor.name; }
      const bytes = await new Response(new Uint8Array([1, 2])).arrayBuffer();
      return [json.status, json.headers.get('content-type'), await json.json(), error.type, error.status, redirect.status,
        redirect.headers.get('location'), texts, reread, range, [...new Uint8Array(bytes)], await new Response(null).text()];
    `);
    expect(result).toEqual([201, 'application/json', { a: 1 }, 'error', 0, 301, 'https://example.com/x', ['twice', 'twice'], 'TypeError', 'RangeError', [1, 2], '']);
  });

  it('builds Requests from strings, URLs and other Requests', async () => {
    const result = await web.run(`
      const base = new Request(new URL('https://example.com/p'), { method: 'delete', headers: { a: '1' } });
      const derived = new Request(base, { headers: { b: '2' } });
      const posted = new Request('https://example.com/', { method: 'POST', body: 'x' });
      const errors = [];
      for (const bad of [() => new Request('https://example.com/', { body: 'x' }), () => new Request('https://u:p@example.com/'), () => new Request('https://example.com/', { method: 'TRACE' })]) {
        try { bad(); } catch (e) { errors.push(e.constructor.name); }
      }
      return [base.method, base.url, derived.method, [...derived.headers], await posted.clone().text(), posted.bodyUsed, posted.signal.aborted, errors];
    `);
    expect(result).toEqual(['DELETE', 'https://example.com/p', 'DELETE', [['b', '2']], 'x', false, false, ['TypeError', 'TypeError', 'TypeError']]);
  });

  it('refuses a RequestInit member outside its enum, navigate mode, only-if-cached outside same-origin and no-cors with another method than GET, HEAD or POST, as Node does (a bad value was kept before)', async () => {
    const result = await web.run(`
      const url = 'https://example.com/';
      const outcome = (init) => { try { const r = new Request(url, init); return [r.mode, r.cache, r.credentials, r.redirect, r.referrerPolicy].join(' '); } catch (e) { return e.constructor.name + ': ' + e.message; } };
      const result = [
        { mode: 'bogus' }, { mode: 'navigate' }, { credentials: 'x' }, { cache: 'x' }, { redirect: 'x' }, { referrerPolicy: 'x' }, { duplex: 'full' }, { priority: 'x' },
        { cache: 'only-if-cached' }, { mode: 'no-cors', method: 'PUT' },
        { mode: 'same-origin', cache: 'only-if-cached', credentials: 'omit', redirect: 'manual', referrerPolicy: 'no-referrer', priority: 'low' }, { mode: 'no-cors', method: 'POST' }, {},
      ].map(outcome).concat(outcome.call(null, { mode: { toString: () => 'cors' } }), outcome({ window: {} }), outcome({ window: null }));
      const inherited = new Request(new Request(url, { mode: 'no-cors' }), { method: 'PUT' }).method;
      let first; try { new Request('::bad', { mode: 'bogus' }); } catch (e) { first = e.message; }
      result.push(inherited, first);
      return result;
    `);
    expect(result).toEqual([
      "TypeError: Failed to construct 'Request': The provided value 'bogus' is not a valid enum value of type RequestMode.",
      "TypeError: Failed to construct 'Request': Cannot construct a Request with a RequestInit whose mode member is set as 'navigate'.",
      "TypeError: Failed to construct 'Request': The provided value 'x' is not a valid enum value of type RequestCredentials.",
      "TypeError: Failed to construct 'Request': The provided value 'x' is not a valid enum value of type RequestCache.",
      "TypeError: Failed to construct 'Request': The provided value 'x' is not a valid enum value of type RequestRedirect.",
      "TypeError: Failed to construct 'Request': The provided value 'x' is not a valid enum value of type ReferrerPolicy.",
      "TypeError: Failed to construct 'Request': The provided value 'full' is not a valid enum value of type RequestDuplex.",
      "TypeError: Failed to construct 'Request': The provided value 'x' is not a valid enum value of type RequestPriority.",
      "TypeError: Failed to construct 'Request': 'only-if-cached' can be set only with 'same-origin' mode",
      "TypeError: Failed to construct 'Request': 'PUT' is unsupported in no-cors mode.",
      'same-origin only-if-cached omit manual no-referrer',
      'no-cors default same-origin follow ',
      'cors default same-origin follow ',
      'cors default same-origin follow ',
      "TypeError: Failed to construct 'Request': 'window' option 'client' must be null.",
      'cors default same-origin follow ',
      // As in Node: only a no-cors mode given with the method stops it; the enumerated members are checked before the URL.
      'PUT',
      "Failed to construct 'Request': The provided value 'bogus' is not a valid enum value of type RequestMode.",
    ]);
  });
});
