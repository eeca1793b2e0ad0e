/**
 * A real MCP server from the npm registry (@modelcontextprotocol/server-memory)
 * spawned over stdio; its tools registered as mcp.memory.* with the server's
 * own schemas and called by an agent under a policy that allows some and
 * denies another.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRegistry, parseToolsConfig } from '../../kernel/tools/config.ts';
import type { ToolRegistry } from '../../kernel/tools/registry.ts';
import { syscallRecords } from '../syscalls/harness.ts';
import { execReport, MEMORY_SERVER, policy, toolKernel, TRY } from './helpers.ts';


let dir: string;
let registry: ToolRegistry;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'agent-kernel-mcp-'));
  const config = parseToolsConfig(
    {
      tools: { builtin: { 'time.now': {} } },
      mcp_servers: { memory: { command: process.execPath, args: [MEMORY_SERVER], env: { MEMORY_FILE_PATH: join(dir, 'memory.jsonl') }, stderr: 'ignore', timeout_ms: 10_000 } },
    },
    join(dir, 'agentd.yaml'),
  );
  registry = await buildRegistry(config);
}, 30_000);

afterAll(async () => {
  await registry.close();
  rmSync(dir, { recursive: true, force: true });
});

const RULES = [
  "{ id: memory-read, effect: allow, syscalls: [SYS_EXEC], tools: [mcp.memory.read_graph, mcp.memory.search_nodes] }",
  "{ id: memory-write, effect: allow, syscalls: [SYS_EXEC], tools: ['mcp.memory.create_*'] }",
  "{ id: memory-no-delete, effect: deny, syscalls: [SYS_EXEC], tools: ['mcp.memory.delete_*'], reason: 'memory is append-only for agents' }",
];

describe('MCP servers as a tool source', () => {
  it('registers each server tool as mcp.<server>.<tool> with its own schema and a risk from its annotations', () => {
    const names = registry.list().map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(['mcp.memory.create_entities', 'mcp.memory.delete_entities', 'mcp.memory.read_graph', 'mcp.memory.search_nodes', 'time.now']));
    const read = registry.info('mcp.memory.read_graph')!;
    expect(read).toMatchObject({ source: 'mcp:memory', risk: 'low' });
    const create = registry.info('mcp.memory.create_entities')!;
    expect(create.risk).toBe('medium');
    expect(create.inputSchema).toMatchObject({ type: 'object', properties: { entities: { type: 'array' } }, required: ['entities'] });
  });

  it('an agent calls the tools the policy allows; the denied one is EACCES and changes nothing', async () => {
    const kernel = toolKernel({ policy: policy(...RULES), registry });
    const value = await execReport<Record<string, unknown>>(
      kernel,
      `${TRY}
      const created = tryExec('mcp.memory.create_entities', { entities: [{ name: 'Ada', entityType: 'person', observations: ['wrote the first program'] }] });
      const found = tryExec('mcp.memory.search_nodes', { query: 'Ada' });
      const deleted = tryExec('mcp.memory.delete_entities', { entityNames: ['Ada'] });
      const badArgs = tryExec('mcp.memory.create_entities', { entities: 'Ada' });
      const graph = tryExec('mcp.memory.read_graph', {});
      report({ created: created.structuredContent, found: found.structuredContent.entities.map((e) => e.name), deleted, badArgs: badArgs.errno, graph: graph.structuredContent.entities.map((e) => e.name), text: graph.content[0].type });
      `,
      'researcher',
    );
    expect(value).toEqual({
      created: { entities: [{ name: 'Ada', entityType: 'person', observations: ['wrote the first program'] }] },
      found: ['Ada'],
      deleted: { errno: 'EACCES', message: 'SYS_EXEC denied by memory-no-delete: memory is append-only for agents' },
      badArgs: 'EINVAL',
      graph: ['Ada'],
      text: 'text',
    });
    expect(syscallRecords(kernel, 'SYS_EXEC').map((r) => [r.effect, r.rule])).toEqual([
      ['allow', 'memory-write'],
      ['allow', 'memory-read'],
      ['deny', 'memory-no-delete'],
      ['allow', 'memory-write'],
      ['allow', 'memory-read'],
    ]);
    const file = join(dir, 'memory.jsonl');
    expect(existsSync(file) && readFileSync(file, 'utf8')).toContain('"Ada"');
  });

  it('a tool the server reports as failed is EIO with the server’s message', async () => {
    const kernel = toolKernel({ policy: policy("{ id: obs, effect: allow, syscalls: [SYS_EXEC], tools: [mcp.memory.add_observations] }"), registry });
    const value = await execReport<{ errno: string; message: string }>(kernel, `${TRY}report(tryExec('mcp.memory.add_observations', { observations: [{ entityName: 'Nobody', contents: ['x'] }] }));`);
    expect(value.errno).toBe('EIO');
    expect(value.message).toMatch(/^mcp\.memory\.add_observations: .*Nobody/);
  });

  it('a server that cannot start is a configuration error naming it', async () => {
    const config = parseToolsConfig({ mcp_servers: { broken: { command: '/nonexistent/server', connect_timeout_ms: 5000, stderr: 'ignore' } } }, join(dir, 'broken.yaml'));
    await expect(buildRegistry(config)).rejects.toThrow(/broken\.yaml: mcp_servers\.broken: /);
  });
});

/** McpHttp is a stateless MCP server on loopback (a fresh SDK server and transport per request, as the SDK suggests). */
interface McpHttp {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * mcpOverHttp serves `tools` (tools/list) and answers tools/call with `call`;
 * `intercept` may answer a request itself (true: answered) before the SDK
 * sees it; `onRequest` sees each request's headers.
 */
async function mcpOverHttp(options: {
  tools: { name: string; description: string; inputSchema: Record<string, unknown> }[];
  call?: (name: string, args: Record<string, unknown>) => { content: { type: 'text'; text: string }[] };
  intercept?: (message: { method?: string } | undefined, res: import('node:http').ServerResponse) => boolean;
  onRequest?: (headers: import('node:http').IncomingHttpHeaders) => void;
}): Promise<McpHttp> {
  const { McpServer } = await import('@modelcontextprotocol/sdk/server/mcp.js');
  const { StreamableHTTPServerTransport } = await import('@modelcontextprotocol/sdk/server/streamableHttp.js');
  const { CallToolRequestSchema, ListToolsRequestSchema } = await import('@modelcontextprotocol/sdk/types.js');
  const { createServer } = await import('node:http');
  const http = createServer((req, res) => {
    options.onRequest?.(req.headers);
    let body = '';
    req.on('data', (c: Buffer) => void (body += c.toString()));
    req.on('end', () => {
      const message = body ? (JSON.parse(body) as { method?: string }) : undefined;
      if (options.intercept?.(message, res) === true) return;
      const server = new McpServer({ name: 'test', version: '1.0.0' }, { capabilities: { tools: {} } });
      server.server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: options.tools as never }));
      server.server.setRequestHandler(CallToolRequestSchema, (r) => options.call?.(r.params.name, (r.params.arguments ?? {}) as Record<string, unknown>) ?? { content: [] });
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
      res.on('close', () => void transport.close());
      void server.connect(transport).then(() => transport.handleRequest(req, res, message));
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const port = (http.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    close: async () => {
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

describe('MCP over streamable HTTP', () => {
  it('registers and calls the tools of a server reached by URL, with the configured headers', async () => {
    const seen: (string | undefined)[] = [];
    const schema = { type: 'object', required: ['a', 'b'], properties: { a: { type: 'number' }, b: { type: 'number' } } };
    const server = await mcpOverHttp({
      tools: [{ name: 'add', description: 'adds', inputSchema: schema }],
      call: (_name, { a, b }) => ({ content: [{ type: 'text', text: String((a as number) + (b as number)) }] }),
      onRequest: (headers) => seen.push(headers['x-team'] as string | undefined),
    });
    const remote = await buildRegistry(parseToolsConfig({ tools: { builtin: {} }, mcp_servers: { calc: { url: server.url, headers: { 'x-team': 'blue' } } } }, join(dir, 'http.yaml')));
    try {
      expect(remote.list().map((t) => t.name)).toEqual(['mcp.calc.add']);
      const kernel = toolKernel({ policy: policy('{ id: calc, effect: allow, syscalls: [SYS_EXEC], tools: [mcp.calc.add] }'), registry: remote });
      const value = await execReport(kernel, `${TRY}report([tryExec('mcp.calc.add', { a: 2, b: 40 }).content[0].text, tryExec('mcp.calc.add', { a: 'x', b: 1 }).errno]);`);
      expect(value).toEqual(['42', 'EINVAL']);
      expect(seen.length).toBeGreaterThan(0);
      expect(seen.every((h) => h === 'blue')).toBe(true);
    } finally {
      await remote.close();
      await server.close();
    }
  });

  it("a tool whose schema does not compile is held, not the whole server (found by a review: the configuration failed)", async () => {
    const server = await mcpOverHttp({
      tools: [
        { name: 'fine', description: 'works', inputSchema: { type: 'object' } },
        { name: 'broken', description: 'bad schema', inputSchema: { type: 'object', properties: { a: { type: 'nonsense' } } } },
      ],
      call: () => ({ content: [{ type: 'text', text: 'ok' }] }),
    });
    const remote = await buildRegistry(parseToolsConfig({ tools: { builtin: {} }, mcp_servers: { mixed: { url: server.url } } }, join(dir, 'mixed.yaml')));
    try {
      expect(remote.list().map((t) => t.name)).toEqual(['mcp.mixed.fine']);
      const kernel = toolKernel({ policy: policy("{ id: mixed, effect: allow, syscalls: [SYS_EXEC], tools: ['mcp.mixed.*'] }"), registry: remote });
      const value = await execReport<unknown[]>(kernel, `${TRY}report([tryExec('mcp.mixed.fine', {}).content[0].text, tryExec('mcp.mixed.broken', {})]);`);
      expect(value).toEqual(['ok', { errno: 'EACCES', message: expect.stringContaining('input schema does not compile') }]);
    } finally {
      await remote.close();
      await server.close();
    }
  });

  it("an answer that never ends is cut off at the answer limit, not read until the timeout (an attacker pass: a 500 MB result held 3.2 GB)", async () => {
    const server = await mcpOverHttp({
      tools: [{ name: 'flood', description: 'never ends', inputSchema: { type: 'object' } }],
      intercept: (message, res) => {
        if (message?.method !== 'tools/call') return false;
        // A JSON answer that goes on for ever.
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"');
        const chunk = 'x'.repeat(1 << 20);
        const more = () => {
          while (!res.destroyed && res.write(chunk));
          if (!res.destroyed) res.once('drain', more);
        };
        more();
        return true;
      },
    });
    const remote = await buildRegistry(parseToolsConfig({ tools: { builtin: {} }, mcp_servers: { endless: { url: server.url, timeout_ms: 15_000 } } }, join(dir, 'endless.yaml')));
    try {
      const kernel = toolKernel({ policy: policy('{ id: endless, effect: allow, syscalls: [SYS_EXEC], tools: [mcp.endless.flood] }'), registry: remote });
      const value = await execReport<{ errno: string; message: string }>(kernel, `${TRY}report(tryExec('mcp.endless.flood', {}));`);
      expect(value).toMatchObject({ errno: 'EIO', message: expect.stringContaining(`answer is over ${16 * 1024 * 1024} bytes`) });
    } finally {
      await remote.close();
      await server.close();
    }
  });
});
