/**
 * http.fetch against a real HTTP server on loopback: hosts allowlisted by a
 * policy glob on `url`, canonical URLs only, schemes other than http(s)
 * refused, redirects returned not followed, size and time limits. Loopback
 * is refused unless allowed, so these kernels allow 127.0.0.0/8
 * (http-fetch-addresses.test.ts tests the address check itself).
 */
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkUrl, httpFetchTool } from '../../kernel/tools/http-fetch.ts';
import { ToolRegistry } from '../../kernel/tools/registry.ts';
import { syscallRecords } from '../syscalls/harness.ts';
import { execReport, localServer, policy, STACKED, stackedGzipBomb, toolKernel, TRY, type LocalServer } from './helpers.ts';

let server: LocalServer;
const bomb = stackedGzipBomb(64);

beforeAll(async () => {
  server = await localServer((req, body, res) => {
    if (req.url === '/hello') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('hello, agent');
    } else if (req.url === '/echo') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ method: req.method, body, header: req.headers['x-agent'] ?? null }));
    } else if (req.url === '/big') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('x'.repeat(200_000));
    } else if (req.url === '/slow') {
      setTimeout(() => res.end('late'), 3000);
    } else if (req.url === '/redirect') {
      res.writeHead(302, { location: 'http://localhost:1/elsewhere' });
      res.end();
    } else if (req.url === '/gzip') {
      const gz = gzipSync('hello, compressed agent');
      res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'gzip', 'content-length': gz.length });
      res.end(gz);
    } else if (req.url === '/stacked-bomb') {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': STACKED });
      res.end(bomb);
    } else if (req.url?.startsWith('/headers')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ url: req.url, headers: req.headers }));
    } else if (req.url === '/cookies') {
      res.writeHead(200, [['content-type', 'text/plain'], ['set-cookie', 'a=1'], ['set-cookie', 'b=2']]);
      res.end(`type ${req.headers['content-type'] ?? 'none'}`);
    } else if (req.url === '/bytes') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.end(Buffer.from([0, 1, 2, 255]));
    } else {
      res.writeHead(404);
      res.end('not found');
    }
  });
});

afterAll(() => server.close());

const LOOPBACK = ['127.0.0.0/8'];

function kernel(limits: { maxOutputBytes?: number; timeoutMs?: number } = {}) {
  const registry = new ToolRegistry();
  registry.register(httpFetchTool({ ...limits, allowAddresses: LOOPBACK }));
  return toolKernel({ policy: policy(`{ id: loopback-only, effect: allow, syscalls: [SYS_EXEC], tools: [http.fetch], args: [{ arg: url, glob: '${server.url}/**' }] }`), registry });
}

describe('http.fetch', () => {
  it('GET and POST to an allowlisted host: status, headers, body', async () => {
    const value = await execReport<{ status: number; body: string; headers: Record<string, string> }[]>(
      kernel(),
      `${TRY}report([
        tryExec('http.fetch', { url: '${server.url}/hello' }),
        tryExec('http.fetch', { url: '${server.url}/echo', method: 'POST', body: 'ping', headers: { 'x-agent': 'a1' } }),
        tryExec('http.fetch', { url: '${server.url}/bytes' }),
        tryExec('http.fetch', { url: '${server.url}/missing' }),
      ]);`,
    );
    expect(value[0]).toMatchObject({ status: 200, url: `${server.url}/hello`, body: 'hello, agent', headers: { 'content-type': 'text/plain' } });
    expect(JSON.parse(value[1]!.body)).toEqual({ method: 'POST', body: 'ping', header: 'a1' });
    expect(value[2]).toMatchObject({ status: 200, bodyBase64: 'AAEC/w==' });
    expect(value[3]).toMatchObject({ status: 404, body: 'not found' });
  });

  it('as the platform\'s fetch: a compressed answer decoded, repeated fields joined, a text body typed text/plain; a header value with a line break is EINVAL', async () => {
    const value = await execReport<{ status: number; body: string; headers: Record<string, string> }[]>(
      kernel(),
      `${TRY}report([
        tryExec('http.fetch', { url: '${server.url}/gzip' }),
        tryExec('http.fetch', { url: '${server.url}/cookies', method: 'POST', body: 'x' }),
        tryExec('http.fetch', { url: '${server.url}/cookies', method: 'POST', body: 'x', headers: { 'content-type': 'application/json' } }),
        tryExec('http.fetch', { url: '${server.url}/hello', headers: { 'x-agent': 'a\\r\\nx-forged: 1' } }),
      ]);`,
    );
    // The compression headers as the server sent them (fetch keeps them; undici's decoder takes them off).
    expect(value[0]).toMatchObject({ status: 200, body: 'hello, compressed agent', headers: { 'content-encoding': 'gzip', 'content-length': String(gzipSync('hello, compressed agent').length) } });
    expect(value[1]).toMatchObject({ body: 'type text/plain;charset=UTF-8', headers: { 'set-cookie': 'a=1, b=2' } });
    expect(value[2]).toMatchObject({ body: 'type application/json' });
    expect(value[3]).toMatchObject({ errno: 'EINVAL', message: expect.stringMatching(/header/) });
  });

  it('sends the platform fetch\'s default headers unless the agent sets its own, the path as given (an empty query kept), and refuses expect', async () => {
    const value = await execReport<{ body: string; errno?: string }[]>(
      kernel(),
      `${TRY}report([
        tryExec('http.fetch', { url: '${server.url}/headers?' }),
        tryExec('http.fetch', { url: '${server.url}/headers?a=1#frag', headers: { 'User-Agent': 'my-agent/1', accept: 'application/json' } }),
        tryExec('http.fetch', { url: '${server.url}/hello', headers: { expect: '100-continue' } }),
      ]);`,
    );
    const [plain, own] = value.slice(0, 2).map((r) => JSON.parse(r.body) as { url: string; headers: Record<string, string> });
    expect(plain).toMatchObject({ url: '/headers?', headers: { accept: '*/*', 'accept-language': '*', 'user-agent': 'undici', 'accept-encoding': 'gzip, deflate' } });
    expect(own).toMatchObject({ url: '/headers?a=1', headers: { accept: 'application/json', 'user-agent': 'my-agent/1' } });
    expect(value[2]).toMatchObject({ errno: 'EINVAL' });
  });

  it('a host the policy does not name is EACCES, and nothing is sent', async () => {
    const before = server.requests.length;
    const k = kernel();
    const port = new URL(server.url).port;
    const value = await execReport(k, `${TRY}report([
      tryExec('http.fetch', { url: 'http://localhost:${port}/hello' }),
      tryExec('http.fetch', { url: 'http://127.0.0.2:${port}/hello' }),
      tryExec('http.fetch', { url: '${server.url}.evil.example/x' }),
    ].map((r) => r.errno));`);
    expect(value).toEqual(['EACCES', 'EACCES', 'EACCES']);
    expect(server.requests.length).toBe(before);
    expect(syscallRecords(k, 'SYS_EXEC').map((r) => r.rule)).toEqual(['default-deny', 'default-deny', 'default-deny']);
  });

  it('refuses other schemes, user info and non-canonical URLs with EINVAL, even when policy allows', async () => {
    const registry = new ToolRegistry();
    registry.register(httpFetchTool());
    const k = toolKernel({ policy: policy('{ id: any-url, effect: allow, syscalls: [SYS_EXEC], tools: [http.fetch] }'), registry });
    const value = await execReport<{ errno: string; message: string }[]>(k, `${TRY}report([
      tryExec('http.fetch', { url: 'file:///etc/passwd' }),
      tryExec('http.fetch', { url: 'ftp://example.com/' }),
      tryExec('http.fetch', { url: 'http://user:pw@127.0.0.1/' }),
      tryExec('http.fetch', { url: 'HTTP://127.0.0.1/' }),
      tryExec('http.fetch', { url: 'http://127.0.0.1' }),
      tryExec('http.fetch', { url: 'http://127.0.0.1\\\\@evil.example/' }),
      tryExec('http.fetch', { url: 'http://127.0.0.1/', body: 'x' }),
      tryExec('http.fetch', { url: 'http://127.0.0.1/', headers: { Host: 'evil.example' } }),
    ]);`);
    expect(value.map((r) => r.errno)).toEqual(Array.from({ length: 8 }, () => 'EINVAL'));
    expect(value[0]!.message).toMatch(/must match pattern/);
    expect(value[4]!.message).toBe("http.fetch: use the URL's canonical form 'http://127.0.0.1/' (policy matches the text as given)");
    expect(value[6]!.message).toBe('http.fetch: a GET request has no body');
    expect(() => checkUrl('https://a.example/x?y#z')).not.toThrow();
    expect(() => checkUrl('javascript:alert(1)')).toThrow(/scheme javascript: is not allowed/);
  });

  it('refuses other spellings of a denied URL (encoded unreserved characters, encoded separators, empty segments, a trailing dot, IPv6 carrying IPv4), naming the canonical form; nothing is sent', async () => {
    const port = new URL(server.url).port;
    const registry = new ToolRegistry();
    registry.register(httpFetchTool({ allowAddresses: LOOPBACK }));
    const k = toolKernel({
      policy: policy(
        `{ id: no-admin, effect: deny, syscalls: [SYS_EXEC], tools: [http.fetch], args: [{ arg: url, glob: '${server.url}/admin/**' }] }`,
        `{ id: any-url, effect: allow, syscalls: [SYS_EXEC], tools: [http.fetch] }`,
      ),
      registry,
    });
    const before = server.requests.length;
    const spellings = [
      `${server.url}/%61dmin/x`,
      `${server.url}/admin%2fx`,
      `${server.url}/admin%5Cx`,
      `${server.url}//admin/x`,
      `http://localhost.:${port}/admin/x`,
      `http://[::ffff:7f00:1]:${port}/admin/x`,
      `http://[::7f00:1]:${port}/admin/x`,
      `http://[64:ff9b::7f00:1]:${port}/admin/x`,
      `http://[2002:7f00:1::]:${port}/admin/x`,
      // A dot segment with parameters climbs on servlet containers (found by an attacker pass: it passed a glob on /public/**).
      `${server.url}/public/..;/admin/x`,
      `${server.url}/public/..%3Bjsessionid=1/admin/x`,
      `${server.url}/.;/admin/x`,
    ];
    const value = await execReport<{ errno: string; message: string }[]>(k, `${TRY}report([
      tryExec('http.fetch', { url: '${server.url}/admin/x' }),
      ...${JSON.stringify(spellings)}.map((url) => tryExec('http.fetch', { url })),
    ]);`);
    expect(value.map((r) => r.errno)).toEqual(['EACCES', ...spellings.map(() => 'EINVAL')]);
    expect(value[1]!.message).toBe(`http.fetch: use the URL's canonical form '${server.url}/admin/x' ('%61' is 'a'; policy matches the text as given)`);
    expect(value[2]!.message).toMatch(/an encoded '%2f' in a path segment is refused/);
    expect(value[4]!.message).toMatch(/empty segment/);
    expect(value[5]!.message).toMatch(`use the URL's canonical form 'http://localhost:${port}/admin/x'`);
    for (const r of value.slice(6, 10)) expect(r.message).toMatch(`use the URL's canonical form '${server.url}/admin/x' ([`);
    for (const r of value.slice(10)) expect(r.message).toMatch(/a path segment '\.' or '\.\.' with parameters \('\.\.;x'\) is refused/);
    expect(server.requests.length).toBe(before);
  });

  it('still sends URLs whose encodings mean something: a space, reserved characters in the path, anything in the query; IPv6 literals that carry no IPv4 address pass the check', async () => {
    const before = server.requests.length;
    const value = await execReport<{ status: number }[]>(kernel(), `${TRY}report([
      tryExec('http.fetch', { url: '${server.url}/a%20b?q=%2F%61' }),
      tryExec('http.fetch', { url: '${server.url}/a%3Ab%40c%25d/' }),
    ]);`);
    expect(value.map((r) => r.status)).toEqual([404, 404]);
    expect(server.requests.slice(before).map((r) => r.url)).toEqual(['/a%20b?q=%2F%61', '/a%3Ab%40c%25d/']);
    expect(() => checkUrl('http://[::1]:8080/x')).not.toThrow();
    expect(() => checkUrl('https://[2001:db8::7f00:1]/x')).not.toThrow();
    expect(() => checkUrl('http://a.example/x%3a')).toThrow("use the URL's canonical form 'http://a.example/x%3A'");
  });

  it("ambiguous_paths lets an encoded '/' and empty segments through, for services that need them (GitLab's group%2Fproject, an archive's /web/2020/https://…); a review found them refused with no way out", () => {
    const gitlab = 'https://gitlab.example/api/v4/projects/group%2Fproject/issues';
    const archive = 'https://web.archive.example/web/2020/https://example.com/';
    expect(() => checkUrl(gitlab)).toThrow(/tools\.builtin\.http\.fetch\.ambiguous_paths: true allows it/);
    expect(() => checkUrl(archive)).toThrow(/empty segment.*ambiguous_paths: true allows it/);
    expect(checkUrl(gitlab, true).href).toBe(gitlab);
    expect(checkUrl(archive, true).href).toBe(archive);
    expect(checkUrl('https://app.example/public/..;/x', true).href).toBe('https://app.example/public/..;/x');
    // A name that only starts with dots is no dot segment.
    expect(checkUrl('https://app.example/...;v=1/.x;y').href).toBe('https://app.example/...;v=1/.x;y');
    // Spellings that have a canonical form are still refused: only the ambiguous ones are let through.
    expect(() => checkUrl('https://gitlab.example/api/v4/projects/group%2fproject/%61', true)).toThrow("use the URL's canonical form 'https://gitlab.example/api/v4/projects/group%2Fproject/a'");
  });

  it('returns a redirect instead of following it', async () => {
    const value = await execReport(kernel(), `${TRY}report(tryExec('http.fetch', { url: '${server.url}/redirect' }));`);
    expect(value).toMatchObject({ status: 302, headers: { location: 'http://localhost:1/elsewhere' } });
  });

  it('EFBIG past the size limit, ETIMEDOUT past the time limit', async () => {
    const value = await execReport(kernel({ maxOutputBytes: 10_000, timeoutMs: 300 }), `${TRY}report([
      tryExec('http.fetch', { url: '${server.url}/big' }),
      tryExec('http.fetch', { url: '${server.url}/slow' }),
      tryExec('http.fetch', { url: '${server.url}/hello' }).body,
    ]);`);
    expect(value).toEqual([
      { errno: 'EFBIG', message: 'http.fetch: response body is over the limit of 10000 bytes' },
      { errno: 'ETIMEDOUT', message: "tool 'http.fetch' timed out after 300 ms" },
      'hello, agent',
    ]);
  });

  it('EFBIG for a stacked encoding whose inner stages inflate past the limit while the last yields nothing (64 MiB from a few KB)', async () => {
    const value = await execReport(kernel({ maxOutputBytes: 10_000, timeoutMs: 5000 }), `${TRY}report(tryExec('http.fetch', { url: '${server.url}/stacked-bomb' }));`);
    expect(bomb.length).toBeLessThan(10_000);
    expect(value).toMatchObject({ errno: 'EFBIG' });
  });

  it('ECONNREFUSED when nothing listens at the address (EIO before the network errnos)', async () => {
    const registry = new ToolRegistry();
    registry.register(httpFetchTool({ allowAddresses: LOOPBACK }));
    const k = toolKernel({ policy: policy('{ id: any-url, effect: allow, syscalls: [SYS_EXEC], tools: [http.fetch] }'), registry });
    const closed = await localServer(() => {});
    const url = closed.url;
    await closed.close();
    const value = await execReport<{ errno: string }>(k, `${TRY}report(tryExec('http.fetch', { url: '${url}/' }));`);
    expect(value.errno).toBe('ECONNREFUSED');
  });
});
