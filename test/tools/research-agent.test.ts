/**
 * examples/research-agent.ts under examples/policies/research.yaml, with a
 * scripted OpenAI-compatible model on loopback and the npm memory server:
 * the model looks something up, records it (which waits for an operator),
 * tries to delete (denied), and answers; the answer lands in the agent's VFS.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedApprover } from '../../kernel/approvals.ts';
import { Kernel } from '../../kernel/kernel.ts';
import { loadPolicyFile } from '../../kernel/policy/load.ts';
import { programFromFile } from '../../kernel/program.ts';
import { buildRegistry, parseToolsConfig } from '../../kernel/tools/config.ts';
import { llmChatTool } from '../../kernel/tools/llm-chat.ts';
import type { ToolRegistry } from '../../kernel/tools/registry.ts';
import { capture } from '../helpers.ts';
import { log } from '../syscalls/harness.ts';
import { localServer, MEMORY_SERVER, type LocalServer } from './helpers.ts';

const AGENT = fileURLToPath(new URL('../../examples/research-agent.ts', import.meta.url));
const POLICY = fileURLToPath(new URL('../../examples/policies/research.yaml', import.meta.url));

interface Msg { role: string; content?: string | null; tool_calls?: unknown[] }

/** The scripted model: search, record, try to delete, then answer with what the tools said. */
function script(messages: Msg[], tools: { function: { name: string } }[]): Record<string, unknown> {
  const results = messages.filter((m) => m.role === 'tool').map((m) => m.content ?? '');
  const call = (name: string, args: unknown) => ({ role: 'assistant', content: null, tool_calls: [{ id: `call-${results.length}`, type: 'function', function: { name, arguments: JSON.stringify(args) } }] });
  const offered = tools.map((t) => t.function.name);
  if (results.length === 0) return call('mcp__memory__search_nodes', { query: 'Ada' });
  if (results.length === 1) return call('mcp__memory__create_entities', { entities: [{ name: 'Ada Lovelace', entityType: 'person', observations: ['wrote the first program'] }] });
  if (results.length === 2) return call('mcp__memory__delete_entities', { entityNames: ['Ada Lovelace'] });
  return { role: 'assistant', content: `offered ${offered.length} tools; record: ${results[1]!.startsWith('the kernel refused') ? 'refused' : 'kept'}; delete: ${results[2]!.includes('EACCES') ? 'denied' : 'done'}` };
}

let model: LocalServer;
let dir: string;
let registry: ToolRegistry;

beforeAll(async () => {
  model = await localServer((_req, body, res) => {
    const request = JSON.parse(body) as { messages: Msg[]; tools: { function: { name: string } }[] };
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ model: 'scripted', choices: [{ message: script(request.messages, request.tools), finish_reason: 'stop' }], usage: { total_tokens: 100 } }));
  });
  dir = mkdtempSync(join(tmpdir(), 'agent-kernel-research-'));
  registry = await buildRegistry(
    parseToolsConfig(
      {
        tools: { builtin: { 'time.now': {}, 'tools.list': {} } },
        mcp_servers: { memory: { command: process.execPath, args: [MEMORY_SERVER], env: { MEMORY_FILE_PATH: join(dir, 'memory.jsonl') }, stderr: 'ignore' } },
      },
      join(dir, 'agentd.yaml'),
    ),
  );
  registry.register(llmChatTool({ endpoint: `${model.url}/v1`, model: 'scripted', apiKey: 'sk-example' }));
}, 30_000);

afterAll(async () => {
  await registry.close();
  await model.close();
  rmSync(dir, { recursive: true, force: true });
});

async function research(approve: boolean) {
  const kernel = new Kernel({ policy: loadPolicyFile(POLICY), tools: registry, approver: fixedApprover(approve) });
  const out = capture();
  const proc = kernel.spawn(programFromFile(AGENT), { manifest: { id: 'researcher', capabilities: ['tool:*'] }, argv: ['Who', 'was', 'Ada?'], stdout: out.sink, stderr: out.sink });
  const exit = await kernel.wait(proc.pid);
  return { kernel, exit, stdout: out.text };
}

describe('examples/research-agent.ts', () => {
  it('looks up, records after an operator approves, is refused a delete, and answers', async () => {
    const { kernel, exit, stdout } = await research(true);
    expect(exit.status).toBe(0);
    expect(stdout.split('\n')).toEqual([
      'tools offered to the model: mcp.memory.add_observations, mcp.memory.create_entities, mcp.memory.create_relations, mcp.memory.open_nodes, mcp.memory.read_graph, mcp.memory.search_nodes',
      'step 1: mcp.memory.search_nodes ok',
      'step 2: mcp.memory.create_entities ok',
      'step 3: mcp.memory.delete_entities EACCES: SYS_EXEC denied by no-deletes: agents never delete shared memory',
      'answer: offered 6 tools; record: kept; delete: denied',
      '',
    ]);
    const approvals = log(kernel).filter((r) => r.type === 'approval').map((r) => (r as { detail: string }).detail);
    expect(approvals).toEqual(['granted SYS_EXEC mcp.memory.create_entities by auto:allow: --approve=allow']);
    const saved = await kernel.vfs('researcher').readdir('/agent/researcher/mem/episodic/research');
    expect(saved).toHaveLength(1);
    expect(kernel.engine.counters.tokensUsed('researcher')).toBe(400);
  });

  it('without an operator’s approval the write is refused and the agent carries on', async () => {
    const { exit, stdout } = await research(false);
    expect(exit.status).toBe(0);
    expect(stdout).toContain('step 2: mcp.memory.create_entities EACCES: SYS_EXEC not approved by auto:deny');
    expect(stdout).toContain('answer: offered 6 tools; record: refused; delete: denied');
  });
});
