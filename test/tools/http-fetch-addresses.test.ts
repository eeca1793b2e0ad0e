/**
 * http.fetch checks the address it connects to, whatever the policy says
 * about names: every form of loopback (0.0.0.0, [::], a name that resolves
 * to loopback) is EACCES by default and never reaches the server (which
 * counts connections), and reaches it only once the range is allowed
 * (`allowAddresses`, `tools.builtin.http.fetch.allow_addresses`). Other
 * numeric forms of 127.0.0.1, IPv4-mapped IPv6 among them, are not canonical
 * URLs (EINVAL, kernel/tools/url-spelling.ts), so they never get as far as a
 * connection either.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRegistry, defaultRegistry, parseToolsConfig } from '../../kernel/tools/config.ts';
import { httpFetchTool } from '../../kernel/tools/http-fetch.ts';
import { ToolRegistry } from '../../kernel/tools/registry.ts';
import { execReport, policy, toolKernel, TRY } from './helpers.ts';

/** A loopback server on 127.0.0.1 and ::1 (one port) that counts the connections it accepts. */
let servers: Server[] = [];
let port = 0;
let connections = 0;

const counting = () => createServer((_req, res) => res.end('loopback')).on('connection', () => void connections++);

beforeAll(async () => {
  const v4 = counting();
  await new Promise<void>((resolve) => v4.listen(0, '127.0.0.1', resolve));
  port = (v4.address() as AddressInfo).port;
  const v6 = counting();
  await new Promise<void>((resolve, reject) => v6.once('error', reject).listen(port, '::1', resolve));
  servers = [v4, v6];
});

afterAll(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
});

const ANY_URL = '{ id: any-url, effect: allow, syscalls: [SYS_EXEC], tools: [http.fetch] }';
const SETTING = 'allow it with tools.builtin.http.fetch.allow_addresses';

function kernel(allowAddresses?: readonly string[]) {
  const registry = new ToolRegistry();
  registry.register(httpFetchTool(allowAddresses === undefined ? {} : { allowAddresses }));
  return toolKernel({ policy: policy(ANY_URL), registry });
}

type Outcome = { status?: number; body?: string; errno?: string; message?: string };

/** fetchAll runs an agent that fetches each URL (in order) and reports each outcome. */
function fetchAll(k: ReturnType<typeof kernel>, urls: readonly string[]): Promise<Outcome[]> {
  return execReport<Outcome[]>(k, `${TRY}report(${JSON.stringify(urls)}.map((url) => tryExec('http.fetch', { url })));`);
}

const url = (host: string) => `http://${host}:${port}/`;
const BYPASSES = ['0.0.0.0', '[::]', '127.0.0.1', '[::1]', 'localhost'];

describe('http.fetch: the address check', () => {
  it('refuses every form of loopback by default (EACCES naming host, address and setting), and nothing reaches the server', async () => {
    const before = connections;
    const outcomes = await fetchAll(kernel(), BYPASSES.map(url));
    expect(outcomes.map((o) => o.errno)).toEqual(BYPASSES.map(() => 'EACCES'));
    expect(outcomes[0]!.message).toBe(`http.fetch: refused to connect to 0.0.0.0: an unspecified ("this network") address (0.0.0.0/8); ${SETTING}`);
    expect(outcomes[1]!.message).toBe(`http.fetch: refused to connect to [::]: an unspecified address (::/128); ${SETTING}`);
    expect(outcomes[3]!.message).toBe(`http.fetch: refused to connect to [::1]: a loopback address (::1/128); ${SETTING}`);
    expect(outcomes[4]!.message).toMatch(/^http\.fetch: refused to connect to localhost \((127\.0\.0\.1|\[::1\])\): a loopback address \((127\.0\.0\.0\/8|::1\/128)\); allow it with tools\.builtin\.http\.fetch\.allow_addresses$/);
    expect(connections).toBe(before);
  });

  it('other spellings of 127.0.0.1 are not canonical URLs: EINVAL, naming the canonical form (which the check then refuses)', async () => {
    const before = connections;
    const spellings = ['[::ffff:127.0.0.1]', '127.1', '2130706433', '0x7f000001', '0177.0.0.1', '[::ffff:7f00:1]'];
    const outcomes = await fetchAll(kernel(['127.0.0.0/8', '::ffff:0:0/96']), spellings.map(url));
    expect(outcomes.map((o) => o.errno)).toEqual(spellings.map(() => 'EINVAL'));
    // WHATWG's own canonical form first; an IPv4-mapped literal, once canonical, names the dotted IPv4 (url-spelling.ts).
    expect(outcomes.slice(0, 5).map((o) => o.message)).toEqual(['[::ffff:7f00:1]', ...spellings.slice(1, 5).map(() => '127.0.0.1')].map((h) => `http.fetch: use the URL's canonical form '${url(h)}' (policy matches the text as given)`));
    expect(outcomes[5]!.message).toMatch(new RegExp(`^http\\.fetch: use the URL's canonical form '${url('127.0.0.1').replaceAll('.', '\\.')}' \\(`));
    expect(connections).toBe(before);
  });

  it('each form reaches the server once its range is allowed', async () => {
    const before = connections;
    const outcomes = await fetchAll(kernel(['127.0.0.0/8', '::1/128', '0.0.0.0/32', '::/128']), BYPASSES.map(url));
    expect(outcomes).toEqual(BYPASSES.map(() => expect.objectContaining({ status: 200, body: 'loopback' })));
    expect(connections).toBeGreaterThan(before);
  });

  it('allowing 127.0.0.0/8 allows localhost, not 0.0.0.0, [::] or [::1]', async () => {
    const outcomes = await fetchAll(kernel(['127.0.0.0/8']), BYPASSES.map(url));
    expect(outcomes.map((o) => o.status ?? o.errno)).toEqual(['EACCES', 'EACCES', 200, 'EACCES', 200]);
  });

  it('the configuration carries allow_addresses to the tool; without it (or from defaultRegistry) loopback is refused', async () => {
    const configured = await buildRegistry(parseToolsConfig({ tools: { builtin: { 'http.fetch': { allow_addresses: ['127.0.0.1'] } } } }, 'allow.yaml', process.cwd()));
    const plain = await buildRegistry(parseToolsConfig({}, 'plain.yaml', process.cwd()));
    const outcomes = await Promise.all(
      [configured, plain].map((registry) => execReport<Outcome>(toolKernel({ policy: policy(ANY_URL), registry }), `${TRY}report(tryExec('http.fetch', { url: '${url('127.0.0.1')}' }));`)),
    );
    expect(outcomes[0]).toMatchObject({ status: 200, body: 'loopback' });
    expect(outcomes[1]).toMatchObject({ errno: 'EACCES' });
    const byDefault = await execReport<Outcome>(toolKernel({ policy: policy(ANY_URL), registry: defaultRegistry() }), `${TRY}report(tryExec('http.fetch', { url: '${url('127.0.0.1')}' }));`);
    expect(byDefault).toMatchObject({ errno: 'EACCES' });
  });

  it('a bad range is EINVAL when the tool is made', () => {
    expect(() => httpFetchTool({ allowAddresses: ['127.0.0.1/8'] })).toThrow("http.fetch: allowAddresses: '127.0.0.1/8' has host bits set; the range is 127.0.0.0/8");
  });
});
