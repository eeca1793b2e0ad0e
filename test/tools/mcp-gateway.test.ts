/**
 * `agentd mcp` end to end: the SDK's MCP client spawns the gateway on stdio
 * with a temporary configuration (a policy, a decision log, the built-ins and
 * the memory server from npm behind it), lists the governed tools and calls
 * them; the policy decides each call, approvals are denied without an
 * operator, and every decision is in the gateway's hash-chained log.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyLog } from '../../kernel/recorder/verify.ts';
import { gatewayLogFile } from '../../bin/commands/mcp-gateway.ts';
import { clockAndMemory, REPO } from './helpers.ts';

let dir: string;

function writeConfig(name: string, approvals: string): string {
  const policy = join(dir, 'gateway-policy.yaml');
  writeFileSync(
    policy,
    [
      'version: 1',
      'rules:',
      '  - { id: clock, effect: allow, syscalls: [SYS_EXEC], tools: [time.now] }',
      "  - { id: memory-read, effect: allow, syscalls: [SYS_EXEC], tools: [mcp.memory.read_graph, mcp.memory.search_nodes], labels: { via: mcp } }",
      "  - { id: memory-write, effect: require_approval, syscalls: [SYS_EXEC], tools: ['mcp.memory.create_*'] }",
      "  - { id: no-delete, effect: deny, syscalls: [SYS_EXEC], tools: ['mcp.memory.delete_*'], reason: 'no deletes through the gateway' }",
      '',
    ].join('\n'),
  );
  const config = join(dir, name);
  writeFileSync(
    config,
    [
      `policy: ${policy}`,
      `log: { file: ${join(dir, 'decisions.jsonl')} }`,
      `approvals: { mode: ${approvals} }`,
      ...clockAndMemory(join(dir, 'memory.jsonl')),
      '',
    ].join('\n'),
  );
  return config;
}

async function connect(config: string): Promise<Client> {
  const client = new Client({ name: 'gateway-test', version: '1.0.0' });
  await client.connect(
    new StdioClientTransport({
      command: process.execPath,
      args: ['--no-node-snapshot', '--disable-warning=ExperimentalWarning', 'bin/agentd.ts', 'mcp', '--config', config],
      cwd: REPO,
      stderr: 'pipe',
    }),
  );
  return client;
}

function text(result: unknown): string {
  return ((result as { content: { text: string }[] }).content[0]?.text ?? '');
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'agent-kernel-gateway-'));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('agentd mcp', () => {
  it('serves the governed tools; policy decides every call; approvals are denied without an operator; all recorded', async () => {
    const client = await connect(writeConfig('agentd.yaml', 'operator'));
    try {
      const { tools } = await client.listTools();
      const names = tools.map((t) => t.name);
      expect(names).toEqual(expect.arrayContaining(['time.now', 'mcp.memory.read_graph', 'mcp.memory.create_entities', 'mcp.memory.delete_entities']));
      expect(tools.find((t) => t.name === 'mcp.memory.search_nodes')?.inputSchema).toMatchObject({ type: 'object', required: ['query'] });

      const now = await client.callTool({ name: 'time.now', arguments: {} });
      expect(now.isError).toBeFalsy();
      expect(now.structuredContent).toMatchObject({ epochMs: expect.any(Number) });

      const graph = await client.callTool({ name: 'mcp.memory.read_graph', arguments: {} });
      expect(graph.isError).toBeFalsy();
      expect(graph.structuredContent).toEqual({ entities: [], relations: [] });

      const create = await client.callTool({ name: 'mcp.memory.create_entities', arguments: { entities: [{ name: 'x', entityType: 't', observations: [] }] } });
      expect(create.isError).toBe(true);
      expect(text(create)).toMatch(/^EACCES: SYS_EXEC not approved by no-operator: /);

      const del = await client.callTool({ name: 'mcp.memory.delete_entities', arguments: { entityNames: ['x'] } });
      expect(del.isError).toBe(true);
      expect(text(del)).toBe('EACCES: SYS_EXEC denied by no-delete: no deletes through the gateway');

      const bad = await client.callTool({ name: 'mcp.memory.search_nodes', arguments: { query: 7 } });
      expect(text(bad)).toMatch(/^EINVAL: tool 'mcp.memory.search_nodes': args.query: must be string/);
      const unknown = await client.callTool({ name: 'no.such', arguments: {} });
      expect(text(unknown)).toBe('EACCES: SYS_EXEC denied by default-deny: no rule matches');
    } finally {
      await client.close();
    }
    const logFile = gatewayLogFile(join(dir, 'decisions.jsonl'));
    expect(logFile).toBe(join(dir, 'decisions.mcp-gateway.jsonl'));
    const records = readFileSync(logFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const execs = records.filter((r) => r.type === 'syscall' && r.syscall === 'SYS_EXEC').map((r) => [r.agent, r.decision, r.rule]);
    expect(execs).toEqual([
      ['mcp-gateway', 'allow', 'clock'],
      ['mcp-gateway', 'allow', 'memory-read'],
      ['mcp-gateway', 'require_approval', 'memory-write'],
      ['mcp-gateway', 'deny', 'no-delete'],
      ['mcp-gateway', 'allow', 'memory-read'],
      ['mcp-gateway', 'deny', 'default-deny'],
    ]);
    expect(records.some((r) => r.type === 'approval' && String(r.detail).includes('denied SYS_EXEC mcp.memory.create_entities by no-operator'))).toBe(true);
    expect(records[0]).toMatchObject({ type: 'spawn' });
    expect(String(records[0]!.detail)).toContain("client 'gateway-test'");
    const verified = verifyLog(readFileSync(logFile, 'utf8'));
    expect(verified).toMatchObject({ ok: true });
  }, 60_000);

  it('approvals.mode allow lets a require_approval call through, recorded with the approver', async () => {
    const client = await connect(writeConfig('allow.yaml', 'allow'));
    try {
      const create = await client.callTool({ name: 'mcp.memory.create_entities', arguments: { entities: [{ name: 'Grace', entityType: 'person', observations: ['COBOL'] }] } });
      expect(create.isError).toBeFalsy();
      const found = await client.callTool({ name: 'mcp.memory.search_nodes', arguments: { query: 'Grace' } });
      expect((found.structuredContent as { entities: { name: string }[] }).entities.map((e) => e.name)).toEqual(['Grace']);
    } finally {
      await client.close();
    }
    const records = readFileSync(gatewayLogFile(join(dir, 'decisions.jsonl')), 'utf8');
    expect(records).toContain('granted SYS_EXEC mcp.memory.create_entities by auto:allow');
  }, 60_000);

  it('exits 2 with one line on stderr for a configuration that does not load', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'mcp_servers:\n  memory: { url: http://127.0.0.1:1/mcp, command: node }\n');
    const { spawnSync } = await import('node:child_process');
    const run = spawnSync(process.execPath, ['--no-node-snapshot', '--disable-warning=ExperimentalWarning', 'bin/agentd.ts', 'mcp', '--config', bad], { cwd: REPO, encoding: 'utf8', input: '' });
    expect(run.status).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr.trim()).toMatch(/^agentd mcp: .*bad\.yaml: mcp_servers\.memory: give either command .* or url/);
  }, 30_000);

  it('keeps its log in --state-dir, else AGENTD_STATE_DIR, as agentd serve does (found by a newcomer pass: it ignored both)', async () => {
    const plain = join(dir, 'plain.yaml');
    writeFileSync(plain, 'approvals: { mode: deny }\n');
    const { spawnSync } = await import('node:child_process');
    const gateway = (args: string[], env: NodeJS.ProcessEnv = process.env) =>
      spawnSync(process.execPath, ['--no-node-snapshot', '--disable-warning=ExperimentalWarning', 'bin/agentd.ts', 'mcp', '--config', plain, ...args], { cwd: REPO, encoding: 'utf8', input: '', env });
    expect(gateway(['--state-dir', join(dir, 'flag-state')]).status).toBe(0);
    expect(verifyLog(readFileSync(join(dir, 'flag-state', 'decisions.mcp-gateway.jsonl'), 'utf8'))).toMatchObject({ ok: true });
    expect(gateway([], { ...process.env, AGENTD_STATE_DIR: join(dir, 'env-state') }).status).toBe(0);
    expect(verifyLog(readFileSync(join(dir, 'env-state', 'decisions.mcp-gateway.jsonl'), 'utf8'))).toMatchObject({ ok: true });
  }, 30_000);
});
