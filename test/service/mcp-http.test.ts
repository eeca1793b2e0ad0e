/**
 * The MCP gateway over streamable HTTP, end to end: a real agentd (the
 * built-in clock and the memory MCP server from npm behind it), the official
 * SDK client connecting to /v1/mcp with a bearer token. The policy decides
 * every call; a call that needs approval waits while the operator answers
 * with `agentctl approve`; an agent credential's calls are decided and
 * recorded as its agent with its labels; sessions belong to their principal;
 * the daemon's one decision log holds it all and verifies.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clockAndMemory } from '../tools/helpers.ts';
import { type Agentd, agentctl, startAgentd, until } from './helpers.ts';

const POLICY = [
  'version: 1',
  'rules:',
  '  - { id: finance-clock, effect: allow, syscalls: [SYS_EXEC], tools: [time.now], labels: { team: finance, via: mcp, mcp_client: bot-host } }',
  '  - { id: clock, effect: allow, syscalls: [SYS_EXEC], tools: [time.now], labels: { via: mcp } }',
  '  - { id: memory-read, effect: allow, syscalls: [SYS_EXEC], tools: [mcp.memory.read_graph, mcp.memory.search_nodes] }',
  "  - { id: memory-write, effect: require_approval, syscalls: [SYS_EXEC], tools: ['mcp.memory.create_*'] }",
  "  - { id: no-delete, effect: deny, syscalls: [SYS_EXEC], tools: ['mcp.memory.delete_*'], reason: 'no deletes through the gateway' }",
  '',
].join('\n');

let agentd: Agentd;
const scratch = mkdtempSync(join(tmpdir(), 'mcp-http-'));

beforeAll(async () => {
  agentd = await startAgentd(
    // The memory server keeps its graph in a scratch file (left to itself, it writes beside its own code in node_modules).
    ['policy: gateway-policy.yaml', ...clockAndMemory(join(scratch, 'memory.jsonl')), ''].join('\n'),
    { 'gateway-policy.yaml': POLICY },
  );
}, 30_000);

afterAll(async () => {
  await agentd?.remove();
  rmSync(scratch, { recursive: true, force: true });
});

async function connect(token: string, name = 'http-test'): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const client = new Client({ name, version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(`${agentd.url}/v1/mcp`), { requestInit: { headers: { authorization: `Bearer ${token}` } } });
  await client.connect(transport);
  return { client, transport };
}

const text = (result: unknown): string => (result as { content: { text: string }[] }).content[0]?.text ?? '';

interface Row {
  type: string;
  agent?: string;
  syscall?: string;
  decision?: string;
  rule?: string;
  labels?: Record<string, string>;
  detail?: string;
}

async function records(): Promise<Row[]> {
  return (await agentd.api('GET', '/v1/decisions?limit=1000')).body as Row[];
}

describe('/v1/mcp', () => {
  it('serves the governed tools to the operator: policy decides, an approval waits for agentctl approve, all in the daemon log', async () => {
    const { client } = await connect(agentd.token);
    try {
      const names = (await client.listTools()).tools.map((t) => t.name);
      expect(names).toEqual(expect.arrayContaining(['time.now', 'mcp.memory.read_graph', 'mcp.memory.create_entities', 'mcp.memory.delete_entities']));

      const now = await client.callTool({ name: 'time.now', arguments: {} });
      expect(now.isError).toBeFalsy();
      expect(now.structuredContent).toMatchObject({ epochMs: expect.any(Number) });

      const del = await client.callTool({ name: 'mcp.memory.delete_entities', arguments: { entityNames: ['x'] } });
      expect(del.isError).toBe(true);
      expect(text(del)).toBe('EACCES: SYS_EXEC denied by no-delete: no deletes through the gateway');

      // The call waits for the operator; the operator answers from the terminal.
      const create = client.callTool({ name: 'mcp.memory.create_entities', arguments: { entities: [{ name: 'Grace', entityType: 'person', observations: ['COBOL'] }] } });
      let id = '';
      await until(async () => {
        const pending = (await agentd.api('GET', '/v1/approvals')).body as { id: string; agentId: string }[];
        id = pending.find((p) => p.agentId === 'mcp-gateway')?.id ?? '';
        return id !== '';
      }, 'the gateway call to wait for approval');
      const approved = await agentctl(agentd, 'approve', id, '--reason', 'mcp test');
      expect(approved.status).toBe(0);
      expect((await create).isError).toBeFalsy();
      const found = await client.callTool({ name: 'mcp.memory.search_nodes', arguments: { query: 'Grace' } });
      expect((found.structuredContent as { entities: { name: string }[] }).entities.map((e) => e.name)).toEqual(['Grace']);
    } finally {
      await client.close();
    }
    const rows = await records();
    const execs = rows.filter((r) => r.type === 'syscall' && r.syscall === 'SYS_EXEC' && r.agent === 'mcp-gateway').map((r) => [r.decision, r.rule]);
    expect(execs).toEqual([
      ['allow', 'clock'],
      ['deny', 'no-delete'],
      ['require_approval', 'memory-write'],
      ['allow', 'memory-read'],
    ]);
    // One answer, one record (the dispatcher's, naming the tool).
    expect(rows.filter((r) => r.type === 'approval' && r.agent === 'mcp-gateway').map((r) => r.detail)).toEqual(['granted SYS_EXEC mcp.memory.create_entities by operator: mcp test']);
    expect(rows.some((r) => r.type === 'spawn' && String(r.detail).includes("mcp gateway session (http) for client 'http-test'"))).toBe(true);
  }, 60_000);

  it('an agent credential acts as its agent with its labels; sessions are its own; no token is 401', async () => {
    const grant = (await agentd.api('POST', '/v1/principals', { agent: 'report-bot', labels: { team: 'finance' }, capabilities: ['tool:time.now'] })).body as { token: string };
    const { client, transport } = await connect(grant.token, 'bot-host');
    try {
      const now = await client.callTool({ name: 'time.now', arguments: {} });
      expect(now.isError).toBeFalsy();
      // Granted time.now only: the capability check refuses another tool before the policy is asked.
      const graph = await client.callTool({ name: 'mcp.memory.read_graph', arguments: {} });
      expect(graph.isError).toBe(true);
      expect(text(graph)).toBe('EACCES: SYS_EXEC denied by capability: no capability tool:mcp.memory.read_graph');

      // The operator's token does not open the credential's session, nor does no token.
      const session = transport.sessionId!;
      const ping = { jsonrpc: '2.0', id: 99, method: 'ping' };
      const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': session };
      const stolen = await fetch(`${agentd.url}/v1/mcp`, { method: 'POST', headers: { ...headers, authorization: `Bearer ${agentd.token}` }, body: JSON.stringify(ping) });
      expect(stolen.status).toBe(403);
      const anonymous = await fetch(`${agentd.url}/v1/mcp`, { method: 'POST', headers, body: JSON.stringify(ping) });
      expect(anonymous.status).toBe(401);
      const unknown = await fetch(`${agentd.url}/v1/mcp`, { method: 'POST', headers: { ...headers, 'mcp-session-id': 'nope', authorization: `Bearer ${grant.token}` }, body: JSON.stringify(ping) });
      expect(unknown.status).toBe(404);
    } finally {
      await transport.terminateSession();
      await client.close();
    }
    const rows = await records();
    const mine = rows.filter((r) => r.agent === 'report-bot');
    expect(mine.filter((r) => r.type === 'syscall' && r.syscall === 'SYS_EXEC').map((r) => r.decision)).toEqual(['allow', 'deny']);
    // The rule that matched needs the credential's label and the gateway's: the call carried both.
    expect(mine.filter((r) => r.type === 'syscall' && r.syscall === 'SYS_EXEC').map((r) => r.rule)).toEqual(['finance-clock', 'capability']);
    expect(mine.some((r) => r.type === 'exit' && String(r.detail).includes('mcp gateway session (http) closed'))).toBe(true);
    const verified = await agentctl(agentd, 'audit', 'verify');
    expect(verified.status).toBe(0);
  }, 60_000);
});
