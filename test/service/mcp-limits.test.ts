/**
 * What one agent can make agentd record or read through /v1/mcp: its
 * tools/calls share its evaluate rate (evaluate.per_second) across every
 * session it holds, a call past it is an EAGAIN tool error recorded nowhere
 * but in the sampled refusals, and a body larger than one call may carry is
 * 413. An attacker pass made 19,982 records/s (8.4 MiB/s of log) with
 * `evaluate: { per_second: 10 }` and 8 sessions of one credential.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Agentd, startAgentd } from './helpers.ts';

const POLICY = ['version: 1', 'rules:', '  - { id: clock, effect: allow, syscalls: [SYS_EXEC], tools: [time.now] }', ''].join('\n');
const PER_SECOND = 5;

let agentd: Agentd;
beforeAll(async () => {
  agentd = await startAgentd(['policy: p.yaml', `evaluate: { per_second: ${PER_SECOND} }`, 'refusals: { window_ms: 3600000 }', 'tools:', '  builtin:', '    time.now: {}', ''].join('\n'), { 'p.yaml': POLICY });
}, 30_000);
afterAll(async () => agentd?.remove());

const counter = (metrics: string, name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(metrics)?.[1] ?? 0);

function post(token: string, body: string, session?: string): Promise<Response> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
  if (session !== undefined) Object.assign(headers, { 'mcp-session-id': session, 'mcp-protocol-version': '2025-03-26' });
  return fetch(`${agentd.url}/v1/mcp`, { method: 'POST', headers, body });
}

/** open initializes a session for `token` and returns its id. */
async function open(token: string): Promise<string> {
  const init = await post(token, JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-03-26', capabilities: {}, clientInfo: { name: 'limits', version: '1' } } }));
  expect(init.status).toBe(200);
  const session = init.headers.get('mcp-session-id')!;
  await init.text();
  await (await post(token, JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }), session)).text();
  return session;
}

interface CallAnswer {
  id: number;
  result: { isError?: boolean; content: { text: string }[] };
}

/** answers reads the JSON-RPC answers of a POST, sent as JSON or as an SSE stream. */
async function answers(res: Response): Promise<CallAnswer[]> {
  const body = await res.text();
  const messages = (res.headers.get('content-type') ?? '').includes('text/event-stream')
    ? body.split('\n').filter((l) => l.startsWith('data: ')).map((l) => JSON.parse(l.slice(6)) as CallAnswer | CallAnswer[])
    : [JSON.parse(body) as CallAnswer | CallAnswer[]];
  return messages.flat();
}

const calls = (n: number) => JSON.stringify(Array.from({ length: n }, (_, i) => ({ jsonrpc: '2.0', id: i + 1, method: 'tools/call', params: { name: 'time.now', arguments: {} } })));

/** padded is one tools/call whose arguments hold `pad` characters. */
const padded = (pad: number) => JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'time.now', arguments: { pad: 'x'.repeat(pad) } } });

describe('/v1/mcp limits', () => {
  it("an agent's tools/calls share its evaluate rate across its sessions: past it EAGAIN, recorded only as a sampled refusal, counted", async () => {
    const token = (await agentd.api('POST', '/v1/principals', { agent: 'bot', name: 'bot', capabilities: ['tool:time.now'] })).body.token as string;
    const sessions = await Promise.all([open(token), open(token), open(token)]);
    const started = performance.now();
    const all = (await Promise.all(sessions.map(async (s) => answers(await post(token, calls(20), s))))).flat();
    const elapsed = performance.now() - started;
    expect(all).toHaveLength(60);
    const refused = all.filter((a) => a.result.content[0]!.text.startsWith('EAGAIN'));
    // The calls within the rate are decided and run.
    expect(all.filter((a) => a.result.isError !== true)).toHaveLength(all.length - refused.length);
    const answered = all.length - refused.length;
    // The rate is per second and the batches may straddle a second's end (or a few, on a loaded machine): at most one share per second touched.
    expect(answered).toBeGreaterThanOrEqual(PER_SECOND);
    expect(answered).toBeLessThanOrEqual(PER_SECOND * (Math.floor(elapsed / 1000) + 2));
    expect(refused[0]!.result.content[0]!.text).toBe(`EAGAIN: agent 'bot' asked more than ${PER_SECOND} decisions in a second (evaluate.per_second, shared by /v1/evaluate and /v1/mcp tools/call); retry after 1 s`);
    // Another agent has its own share.
    const other = (await agentd.api('POST', '/v1/principals', { agent: 'other', name: 'other', capabilities: ['tool:time.now'] })).body.token as string;
    const [own] = await answers(await post(other, calls(1), await open(other)));
    expect(own!.result.isError).toBeFalsy();

    const metrics = (await agentd.api('GET', '/metrics')).text;
    expect(counter(metrics, 'agentk_evaluate_rate_limited_total')).toBe(refused.length);
    // A refused call is no decision record: bot's records are the calls answered.
    const execs = ((await agentd.api('GET', '/v1/decisions?agent=bot&limit=1000')).body as { type: string; syscall?: string }[]).filter((r) => r.type === 'syscall');
    expect(execs).toHaveLength(answered);
    // The refusals are sampled as /v1/evaluate's 429s are: the first in full, the rest summed up at the window's end.
    const details = readFileSync(agentd.logFile, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { detail?: string }).detail ?? '');
    expect(details.filter((d) => d.startsWith('429 '))).toEqual([expect.stringMatching(/^429 POST \/v1\/mcp tools\/call for bot: EAGAIN: agent 'bot' asked more than 5 decisions/)]);
  }, 60_000);

  it('a body larger than one call may carry is 413, naming the limit; a call with large arguments under it is taken', async () => {
    const token = (await agentd.api('POST', '/v1/principals', { agent: 'big', name: 'big', capabilities: ['tool:time.now'] })).body.token as string;
    const session = await open(token);
    // 900 KiB of arguments: under the kernel's 1 MiB for one call's JSON, so under the body's limit too.
    const [taken] = await answers(await post(token, padded(900 * 1024), session));
    expect(taken!.result.content[0]!.text).not.toMatch(/^EAGAIN/);
    // 900 Ki characters of CJK text (2.7 MB as UTF-8): within what the kernel takes, so within the body's limit (a review: it was 413).
    const [wide] = await answers(await post(token, JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'time.now', arguments: { pad: '漢'.repeat(900 * 1024) } } }), session));
    expect(wide!.result.content[0]!.text).not.toMatch(/^EAGAIN|413/);
    // A 3.5 MiB body (agentd's other routes take 8 MiB) is refused before it is parsed.
    const big = await post(token, padded(3584 * 1024), session);
    expect(big.status).toBe(413);
    expect(((await big.json()) as { error: string }).error).toBe(`an MCP request body may be at most ${3 * 1024 * 1024 + 64 * 1024} bytes: one tools/call, its arguments at most ${1024 * 1024} characters (send a batch's calls one by one)`);
    // Other errors are agentd's as before: a body that is no JSON is 400.
    const broken = await post(token, '{', session);
    expect(broken.status).toBe(400);
    expect(((await broken.json()) as { error: string }).error).not.toMatch(/MCP request body/);
  }, 60_000);
});

describe('/v1/mcp and the log', () => {
  it("an agent's tools/calls count their records' bytes against its evaluate.log_bytes_per_second: past it EAGAIN", async () => {
    const daemon = await startAgentd(['policy: p.yaml', 'evaluate: { per_second: 100000, log_bytes_per_second: 4096 }', 'tools:', '  builtin:', '    time.now: {}', ''].join('\n'), { 'p.yaml': POLICY });
    try {
      const token = (await daemon.api('POST', '/v1/principals', { agent: 'wordy', name: 'wordy', capabilities: ['tool:time.now'] })).body.token as string;
      const init = await fetch(`${daemon.url}/v1/mcp`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-03-26', capabilities: {}, clientInfo: { name: 'limits', version: '1' } } }) });
      const session = init.headers.get('mcp-session-id')!;
      await init.text();
      const res = await fetch(`${daemon.url}/v1/mcp`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': session, 'mcp-protocol-version': '2025-03-26' }, body: calls(40) });
      const all = await answers(res);
      const refused = all.filter((a) => a.result.content[0]!.text.startsWith('EAGAIN'));
      // A record of a call is several hundred bytes: a few fit in 4,096 a second, and the rest of the batch is refused.
      expect(all.length - refused.length).toBeGreaterThanOrEqual(2);
      expect(all.length - refused.length).toBeLessThan(20);
      expect(refused[0]!.result.content[0]!.text).toBe("EAGAIN: agent 'wordy' added more than 4096 bytes of decision records in a second (evaluate.log_bytes_per_second, shared by /v1/evaluate and /v1/mcp tools/call); retry after 1 s");
    } finally {
      await daemon.remove();
    }
  }, 60_000);
});
