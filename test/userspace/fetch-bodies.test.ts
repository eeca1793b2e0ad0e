/**
 * fetch's bodies both ways, byte for byte: a binary request body goes as
 * base64 (valid UTF-8 as text, what policy, the log and secrets read; one
 * without a content-type marked untyped, so that the tool types nothing), a binary
 * response comes back exact, inline or streamed; and the runtime's own UTF-8
 * decoding (sys.readFile) turns malformed bytes into U+FFFD.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpFetchTool } from '../../kernel/tools/http-fetch.ts';
import { ToolRegistry } from '../../kernel/tools/registry.ts';
import { report } from '../syscalls/harness.ts';
import { ALL_TOOLS, policy, toolKernel } from '../tools/helpers.ts';

const TEXT = 'héllo wörld ✓ 😀';
// A server that keeps bytes as bytes: it echoes the request body and two more bytes, or (/slow) sends two chunks 30 ms apart,
// or (/form) echoes the body as it came, with the request's Content-Type.
let server: { url: string; http: Server };
beforeAll(async () => {
  const http = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/text') {
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(TEXT);
        return;
      }
      if (req.url === '/form') {
        res.writeHead(200, { 'content-type': req.headers['content-type'] ?? '' });
        res.end(Buffer.concat(chunks));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      if (req.url === '/slow') {
        res.write(Buffer.from([0xff, 0x00]));
        setTimeout(() => res.end(Buffer.from([0xfe, 0x80])), 30);
        return;
      }
      res.end(Buffer.concat([...chunks, Buffer.from([0xff, 0xfe])]));
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  server = { url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`, http };
});
afterAll(() => server.http.close());

/** echoHeaders answers with the method and the request headers a redirect test looks at. */
function echoHeaders(req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ method: req.method, authorization: req.headers.authorization ?? null, cookie: req.headers.cookie ?? null, language: req.headers['content-language'] ?? null, type: req.headers['content-type'] ?? null, other: req.headers['x-other'] ?? null }));
}

function kernel() {
  const registry = new ToolRegistry();
  registry.register(httpFetchTool({ allowAddresses: ['127.0.0.0/8'] }));
  return toolKernel({ policy: policy('{ id: fetch, effect: allow, syscalls: [SYS_EXEC, SYS_TIMER, SYS_CANCEL, SYS_RANDOM], tools: [http.fetch] }', '{ id: loop, effect: allow, syscalls: [SYS_TIMER, SYS_CANCEL, SYS_RANDOM] }'), registry });
}

describe('fetch bodies', () => {
  it('a binary request and response round-trip byte for byte, inline and streamed (found late: a binary body threw in the UTF-8 check)', async () => {
    const { value } = await report<number[][]>(
      `const sent = new Uint8Array([0, 255, 128, 10, 13, 0xed, 0xa0, 0x80]);
      const echoed = new Uint8Array(await (await fetch('${server.url}/echo', { method: 'POST', body: sent })).arrayBuffer());
      const slow = new Uint8Array(await (await fetch('${server.url}/slow')).arrayBuffer());
      report([Array.from(echoed), Array.from(slow)]);`,
      { kernel: kernel(), manifest: ALL_TOOLS },
    );
    expect(value).toEqual([[0, 255, 128, 10, 13, 0xed, 0xa0, 0x80, 0xff, 0xfe], [0xff, 0x00, 0xfe, 0x80]]);
  });

  it('a text answer that came whole reads the same as text, as bytes, as a stream and through a clone (its bytes are made only when asked for)', async () => {
    const { value } = await report<unknown[]>(
      `const url = '${server.url}/text';
      const asText = await (await fetch(url)).text();
      const asBytes = Array.from(new Uint8Array(await (await fetch(url)).arrayBuffer()));
      const streamed = await (await fetch(url)).body.getReader().read();
      const original = await fetch(url);
      const copy = original.clone();
      const both = [await copy.text(), Array.from(await original.bytes())];
      const used = await fetch(url);
      await used.text();
      let again;
      try { await used.text(); } catch (e) { again = e.constructor.name; }
      report([asText, asBytes, Array.from(streamed.value), both, used.bodyUsed, again, await (await fetch(url)).blob().then((b) => b.size)]);`,
      { kernel: kernel(), manifest: ALL_TOOLS },
    );
    const utf8 = [...new TextEncoder().encode(TEXT)];
    expect(value).toEqual([TEXT, utf8, utf8, [TEXT, utf8], true, 'TypeError', utf8.length]);
  });

  it('a FormData sent by fetch comes back from a real server as a FormData, its binary File byte for byte; a urlencoded answer too', async () => {
    const { value } = await report<unknown[]>(
      `const form = new FormData();
      form.append('note', 'héllo');
      form.append('file', new File([new Uint8Array([0, 0xff, 0xfe, 0x80, 13, 10, 45, 45])], 'raw.bin', { type: 'application/octet-stream' }));
      const back = await (await fetch('${server.url}/form', { method: 'POST', body: form })).formData();
      const file = back.get('file');
      const params = await (await fetch('${server.url}/form', { method: 'POST', body: new URLSearchParams({ q: 'a b', r: 'é' }) })).formData();
      report([back.get('note'), file.name, file.type, Array.from(await file.bytes()), [...params]]);`,
      { kernel: kernel(), manifest: ALL_TOOLS },
    );
    expect(value).toEqual(['héllo', 'raw.bin', 'application/octet-stream', [0, 0xff, 0xfe, 0x80, 13, 10, 45, 45], [['q', 'a b'], ['r', 'é']]]);
  });

  it('a request body of 200 KB (a long prompt) goes whole, as text (found by a review: past 64 KiB one string of the arguments was refused, and fetch failed)', async () => {
    const { value } = await report<number[]>(
      `const echoed = new Uint8Array(await (await fetch('${server.url}/echo', { method: 'POST', body: 'p'.repeat(200_000) })).arrayBuffer());
      report([echoed.length, echoed[0], echoed[199_999]]);`,
      { kernel: kernel(), manifest: ALL_TOOLS },
    );
    expect(value).toEqual([200_002, 0x70, 0x70]);
  });

  it("each Set-Cookie of a real answer is its own value in getSetCookie(), inline and streamed (they came joined with ', ')", async () => {
    const cookies = ['a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT', 'b=2; Path=/'];
    const http = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'set-cookie': cookies });
      if (req.url === '/slow') {
        res.write('x');
        setTimeout(() => res.end('y'), 30);
      } else res.end('xy');
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    try {
      const { value } = await report<unknown[]>(
        `const out = [];
        for (const path of ['/inline', '/slow']) {
          const res = await fetch('${url}' + path);
          out.push([res.headers.getSetCookie(), res.headers.get('set-cookie'), [...res.headers].filter(([k]) => k === 'set-cookie').length, await res.text()]);
        }
        const direct = await sys.async.exec('http.fetch', { url: '${url}/inline' });
        out.push([direct.output.setCookie, direct.output.headers['set-cookie']]);
        report(out);`,
        { kernel: kernel(), manifest: ALL_TOOLS },
      );
      const joined = cookies.join(', ');
      expect(value).toEqual([[cookies, joined, 2, 'xy'], [cookies, joined, 2, 'xy'], [cookies, joined]]);
    } finally {
      http.close();
    }
  });

  it('a redirect to another origin drops Authorization, Cookie and Proxy-Authorization; one to the same origin keeps them; a 303 drops the body headers (found by a review: an API key followed a redirect to another host)', async () => {
    const other = createServer(echoHeaders);
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    const otherUrl = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
    const first = createServer((req, res) => {
      if (req.url === '/away') return void res.writeHead(302, { location: `${otherUrl}/echo` }).end();
      if (req.url === '/here') return void res.writeHead(302, { location: '/echo' }).end();
      if (req.url === '/see-other') return void req.resume().on('end', () => res.writeHead(303, { location: '/echo' }).end());
      echoHeaders(req, res);
    });
    await new Promise<void>((resolve) => first.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(first.address() as AddressInfo).port}`;
    try {
      const { value } = await report<unknown[]>(
        `const headers = { authorization: 'Bearer SECRET', cookie: 'c=1', 'x-other': 'kept' };
        const away = await (await fetch('${url}/away', { headers })).json();
        const here = await (await fetch('${url}/here', { headers })).json();
        const seeOther = await (await fetch('${url}/see-other', { method: 'POST', body: 'x', headers: { 'content-language': 'en', 'x-other': 'kept' } })).json();
        report([away, here, seeOther]);`,
        { kernel: kernel(), manifest: ALL_TOOLS },
      );
      expect(value).toEqual([
        { method: 'GET', authorization: null, cookie: null, language: null, type: null, other: 'kept' },
        { method: 'GET', authorization: 'Bearer SECRET', cookie: 'c=1', language: null, type: null, other: 'kept' },
        { method: 'GET', authorization: null, cookie: null, language: null, type: null, other: 'kept' },
      ]);
    } finally {
      first.close();
      other.close();
    }
  });

  it("a body of bytes goes without a content-type, as Node's fetch sends it; a string gets text/plain, a given type stays (found: valid UTF-8 bytes went as text and the tool typed them text/plain)", async () => {
    const echo = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ type: req.headers['content-type'] ?? null, body: Buffer.concat(chunks).toString('utf8') }));
      });
    });
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(echo.address() as AddressInfo).port}/`;
    try {
      const program = `const post = async (body, headers) => (await fetch('${url}', { method: 'POST', body, headers })).json();
        report([await post(new TextEncoder().encode('{"a":1}')), await post('{"a":2}'), await post(new TextEncoder().encode('{"a":3}'), { 'content-type': 'application/json' }), await post(new Uint8Array([0xff]).buffer)]);`;
      const { value } = await report<unknown[]>(program, { kernel: kernel(), manifest: ALL_TOOLS });
      const node = await Promise.all([new TextEncoder().encode('{"a":1}'), '{"a":2}'].map(async (body) => (await fetch(url, { method: 'POST', body })).json()));
      expect(value).toEqual([
        { type: null, body: '{"a":1}' },
        { type: 'text/plain;charset=UTF-8', body: '{"a":2}' },
        { type: 'application/json', body: '{"a":3}' },
        { type: null, body: '\ufffd' },
      ]);
      expect(node).toEqual(value.slice(0, 2));
      // Still text to policy and to secrets (found by a review: sent as base64 instead, a rule on the body missed it, and the placeholder went out).
      const registry = new ToolRegistry();
      registry.register(httpFetchTool({ allowAddresses: ['127.0.0.0/8'], secrets: { API_KEY: { hosts: [new URL(url).host], body: true } } }));
      const guarded = toolKernel({ policy: policy('{ id: no-ssn, effect: deny, tools: [http.fetch], args: [{ arg: body, contains: ssn }] }', '{ id: fetch, effect: allow, syscalls: [SYS_EXEC, SYS_TIMER, SYS_CANCEL, SYS_RANDOM], tools: [http.fetch] }'), registry });
      const bytes = `const post = async (text) => { try { return await (await fetch('${url}', { method: 'POST', body: new TextEncoder().encode(text) })).json(); } catch (e) { return e.cause.code; } };
        report([await post('{"ssn":"1"}'), await post(JSON.stringify({ key: process.env.API_KEY }))]);`;
      const { value: guardedValue } = await report<unknown[]>(bytes, { kernel: guarded, manifest: ALL_TOOLS, secrets: { API_KEY: 'sk-live-1' } });
      // The server got the value: it echoed it back, and the kernel redacts it on the way in (a placeholder would come back as it is).
      expect(guardedValue).toEqual(['EACCES', { type: null, body: '{"key":"[secret API_KEY]"}' }]);
    } finally {
      echo.close();
    }
  });

  it("a refused connection is fetch failed with cause.code ECONNREFUSED, and a body cut off mid-stream is terminated with cause.code ECONNRESET, as on Node, read whole by the tool too (both were EIO, or no code)", async () => {
    const refused = createServer();
    await new Promise<void>((resolve) => refused.listen(0, '127.0.0.1', resolve));
    const closedPort = (refused.address() as AddressInfo).port;
    await new Promise<void>((resolve) => refused.close(() => resolve()));
    const cut = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '100000' });
      res.write('x'.repeat(70_000));
      setTimeout(() => res.socket?.destroy(), 30);
    });
    await new Promise<void>((resolve) => cut.listen(0, '127.0.0.1', resolve));
    const cutUrl = `http://127.0.0.1:${(cut.address() as AddressInfo).port}/cut`;
    try {
      const { value } = await report<unknown[]>(
        `const out = [];
        try { await fetch('http://127.0.0.1:${closedPort}/'); } catch (e) { out.push([e.constructor.name, e.message, e.cause.code, e.cause.errno]); }
        try { await (await fetch('${cutUrl}')).text(); } catch (e) { out.push([e.constructor.name, e.message, e.cause.code]); }
        try { await sys.async.exec('http.fetch', { url: '${cutUrl}' }); } catch (e) { out.push([e.errno]); }
        report(out);`,
        { kernel: kernel(), manifest: ALL_TOOLS },
      );
      expect(value).toEqual([['TypeError', 'fetch failed', 'ECONNREFUSED', 'ECONNREFUSED'], ['TypeError', 'terminated', 'ECONNRESET'], ['ECONNRESET']]);
    } finally {
      cut.close();
    }
  });

  it('sys.readFile decodes malformed UTF-8 as U+FFFD, one per bad byte, as the platform does', async () => {
    const { value } = await report<string>('sys.writeFile("mem/b", new Uint8Array([0xff, 0x41, 0xed, 0xa0, 0x80, 0xf0, 0x9f, 0x98, 0x80, 0xc0, 0xaf])); report(sys.readFile("mem/b"));');
    expect(value).toBe('\uFFFDA\uFFFD\uFFFD\uFFFD\u{1F600}\uFFFD\uFFFD');
    expect(value).toBe(new TextDecoder().decode(new Uint8Array([0xff, 0x41, 0xed, 0xa0, 0x80, 0xf0, 0x9f, 0x98, 0x80, 0xc0, 0xaf])));
  });
});

describe('a text answer that came inline (text() takes it as the kernel decoded it, when that is exact)', () => {
  it('text(), bytes(), a clone and the body stream agree with Node\'s own fetch of the same answers', async () => {
    const texts: Record<string, Buffer> = {
      '/plain': Buffer.from('héllo \u{1F600} agent'),
      '/bom': Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('after a BOM')]),
      '/broken': Buffer.from([0x61, 0xed, 0xa0, 0x80, 0x62]),
    };
    const http = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(texts[req.url ?? ''] ?? Buffer.from('?'));
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    try {
      const { value } = await report<Record<string, unknown[]>>(
        `const out = {};
        for (const path of ['/plain', '/bom', '/broken']) {
          const a = await fetch('${url}' + path);
          const b = await fetch('${url}' + path);
          const c = (await fetch('${url}' + path)).clone();
          const d = await fetch('${url}' + path);
          const chunks = []; for await (const chunk of d.body) chunks.push(...chunk);
          out[path] = [await a.text(), Array.from(await b.bytes()), await c.text(), new TextDecoder().decode(new Uint8Array(chunks))];
        }
        report(out);`,
        { kernel: kernel(), manifest: ALL_TOOLS },
      );
      for (const path of Object.keys(texts)) {
        const expected = await (await fetch(`${url}${path}`)).text();
        expect(value[path], path).toEqual([expected, Array.from(texts[path]!), expected, expected]);
      }
    } finally {
      http.close();
    }
  });
});
