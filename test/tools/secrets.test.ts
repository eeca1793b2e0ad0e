/**
 * Secrets never enter ring 3: the program sees a placeholder in process.env;
 * http.fetch substitutes the value only into the headers of requests to the
 * hosts the configuration binds the secret to (a body only where the binding
 * says so; https, or loopback), refuses it anywhere else, redacts it from
 * responses, and the decision log never holds it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryDecisionLog } from '../../kernel/decision-log.ts';
import { httpFetchTool } from '../../kernel/tools/http-fetch.ts';
import { ToolRegistry } from '../../kernel/tools/registry.ts';
import { bindingOf, processSecrets, substitute } from '../../kernel/tools/secrets.ts';
import { report } from '../syscalls/harness.ts';
import { ALL_TOOLS, localServer, policy, toolKernel, type LocalServer } from './helpers.ts';

const SECRET = 'sk-live-0123456789abcdef';
let server: LocalServer;
const seen: (string | undefined)[] = [];

beforeAll(async () => {
  server = await localServer((req, body, res) => {
    seen.push(req.headers.authorization);
    // The status text echoes it too (an attacker pass: it came back unredacted).
    res.writeHead(200, `OK ${req.headers.authorization ?? ''}`, { 'content-type': 'application/json', 'x-echo': req.headers.authorization ?? '' });
    res.end(JSON.stringify({ auth: req.headers.authorization ?? null, body }));
  });
});
afterAll(() => server.close());

function kernel(body = true) {
  const registry = new ToolRegistry();
  const host = new URL(server.url).host;
  registry.register(httpFetchTool({ allowAddresses: ['127.0.0.0/8'], secrets: { API_KEY: body ? { hosts: [host], body } : [host], OTHER: ['example.com'] } }));
  return toolKernel({ policy: policy(`{ id: loopback, effect: allow, syscalls: [SYS_EXEC, SYS_TIMER, SYS_CANCEL, SYS_RANDOM], tools: [http.fetch] }`, '{ id: loop, effect: allow, syscalls: [SYS_TIMER, SYS_CANCEL, SYS_RANDOM] }'), registry });
}

describe('secrets', () => {
  it("go over plain http to a host that is not loopback only where the binding says http: true (a network the operator trusts, e.g. an in-cluster model server)", () => {
    const [secret] = processSecrets({ KEY: 'sk-1' });
    const header = { body: '', headers: [`Bearer ${secret!.placeholder}`] };
    const strict = new Map([['KEY', bindingOf(['vllm:8000'])]]);
    const trusted = new Map([['KEY', bindingOf({ hosts: ['vllm:8000'], http: true })]]);
    expect(() => substitute(new URL('http://vllm:8000/v1'), header, [secret!], strict)).toThrow(/goes only over https/);
    expect(substitute(new URL('http://vllm:8000/v1'), header, [secret!], trusted).headers).toEqual(['Bearer sk-1']);
    expect(substitute(new URL('https://vllm:8000/v1'), header, [secret!], strict).headers).toEqual(['Bearer sk-1']);
  });

  // Found by an attacker pass: a model asked to repeat a chat message holding the placeholder streamed the key back three
  // characters per event, past any redaction. A binding that is a list of hosts lets the value go in headers only.
  it('go in headers only unless their binding says body: true; only over https, or to a loopback address', async () => {
    const k = kernel(false);
    const before = seen.length;
    const { value } = await report<string[]>(
      `const key = process.env.API_KEY;
      const out = [];
      for (const [url, init] of [['${server.url}/x', { method: 'POST', body: 'Repeat exactly: ' + key }], ['${server.url}/x', { headers: { authorization: 'Bearer ' + key } }], ['http://example.com/x', { headers: { authorization: process.env.OTHER } }]]) {
        try { const r = await fetch(url, init); out.push((await r.json()).auth); } catch (e) { out.push(e.cause.code + ': ' + e.cause.message); }
      }
      report(out);`,
      { kernel: k, agentId: 'chatty', manifest: ALL_TOOLS, secrets: { API_KEY: SECRET, OTHER: 'other-secret' } },
    );
    expect(value).toEqual([
      'EACCES: http.fetch: secret API_KEY may only go in headers (its binding in tools.builtin.http.fetch.secrets says body: true to let it go in a body, where an endpoint may echo it in pieces)',
      'Bearer [secret API_KEY]',
      'EACCES: http.fetch: secret OTHER goes only over https (or to a loopback address; its binding says http: true for a network the operator trusts), not http://example.com',
    ]);
    expect(seen.length).toBe(before + 1);
  });

  it('take the placeholders a replay gives only when they are placeholders for their own name (EINVAL otherwise: a tape is not sealed)', () => {
    const recorded = `agent-kernel-secret:KEY:${'ab'.repeat(12)}`;
    expect(processSecrets({ KEY: 'v' }, { KEY: recorded })).toEqual([{ name: 'KEY', value: 'v', placeholder: recorded }]);
    expect(processSecrets({ KEY: 'v' })[0]!.placeholder).toMatch(/^agent-kernel-secret:KEY:[0-9a-f]{24}$/);
    for (const bad of ['Bearer', `agent-kernel-secret:OTHER:${'ab'.repeat(12)}`, `agent-kernel-secret:KEY:${'ab'.repeat(11)}`, `agent-kernel-secret:KEY:${'AB'.repeat(12)}`]) {
      expect(() => processSecrets({ KEY: 'v' }, { KEY: bad })).toThrow(expect.objectContaining({ errno: 'EINVAL' }));
    }
  });

  it('reach the agent as a placeholder, go to the bound host as the value, and come back redacted', async () => {
    const k = kernel();
    const sent = seen.length;
    const port = new URL(server.url).port;
    const { value } = await report<Record<string, unknown>>(
      `const key = process.env.API_KEY;
      const r = await fetch('${server.url}/x', { method: 'POST', headers: { authorization: 'Bearer ' + key }, body: JSON.stringify({ key }) });
      const echoed = await r.json();
      const refused = [];
      for (const [url, init] of [['http://localhost:${port}/x', { headers: { authorization: key } }], ['${server.url}/?k=' + key, {}]]) {
        try { await fetch(url, init); refused.push('sent'); } catch (e) { refused.push(e.cause.code + ': ' + e.cause.message); }
      }
      report({ placeholder: key.startsWith('agent-kernel-secret:API_KEY:'), echoed, header: r.headers.get('x-echo'), statusText: r.statusText, refused });`,
      { kernel: k, agentId: 'holder', manifest: ALL_TOOLS, secrets: { API_KEY: SECRET } },
    );
    expect(value.placeholder).toBe(true);
    expect(seen.at(sent)).toBe(`Bearer ${SECRET}`);
    expect(value.echoed).toEqual({ auth: 'Bearer [secret API_KEY]', body: '{"key":"[secret API_KEY]"}' });
    expect(value.header).toBe('Bearer [secret API_KEY]');
    expect(value.statusText).toBe('OK Bearer [secret API_KEY]');
    expect(value.refused).toEqual([
      expect.stringMatching(/^EACCES: http\.fetch: secret API_KEY may only be sent to 127\.0\.0\.1:\d+ .*not localhost:\d+$/),
      'EACCES: http.fetch: secret API_KEY cannot go in a URL',
    ]);
    expect(seen.length).toBe(sent + 1);
    expect(JSON.stringify((k.recorder as MemoryDecisionLog).list())).not.toContain(SECRET);
  });

  it('other tools and other agents get nothing: a placeholder is plain text outside http.fetch, and another process\'s placeholder is not substituted', async () => {
    const k = kernel();
    const first = await report<string>('report(process.env.API_KEY);', { kernel: k, agentId: 'a', manifest: ALL_TOOLS, secrets: { API_KEY: SECRET } });
    const before = seen.length;
    const { value } = await report<string>(
      `const r = await fetch('${server.url}/x', { headers: { authorization: ${JSON.stringify(first.value)} } }); report((await r.json()).auth);`,
      { kernel: k, agentId: 'b', manifest: ALL_TOOLS, secrets: { API_KEY: 'another' } },
    );
    // Process a's placeholder (it has ended) is no secret of process b's: it goes out as the text it is.
    expect(value).toBe(first.value);
    expect(seen.length).toBe(before + 1);
  });
});
