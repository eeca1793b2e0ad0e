/**
 * Real agent frameworks, unmodified, run with `agentctl run` against a
 * scripted OpenAI-compatible server on loopback: the Vercel AI SDK
 * (generateText with a tool over several steps, streamText), the OpenAI
 * Agents SDK and LangChain.js. Every model request is an http.fetch decision
 * in the log; a policy that leaves the endpoint out reaches the agent as the
 * framework's own error; the responses' token usage counts against the
 * policy's token_budget; the API key is a secret the agent never holds.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startModelServer, type ModelServer } from './model-server.ts';

// The first build of a framework bundle (megabytes of packages) takes seconds on a busy machine.
vi.setConfig({ testTimeout: 90_000 });

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const AGENTCTL = join(REPO, 'bin/agentctl.ts');
const dir = mkdtempSync(join(tmpdir(), 'frameworks-'));
let server: ModelServer;

beforeAll(async () => {
  server = await startModelServer();
});
afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

// The API key is a secret: the program holds a placeholder, the kernel puts the key into requests to the model server only.
const MANIFEST = 'id: framework-agent\ncapabilities: ["tool:http.fetch"]\nenv: [MODEL_BASE_URL]\nsecrets: [MODEL_API_KEY]\n';
const BASE_RULES = `version: 1
rules:
  - { id: own-tree, effect: allow, syscalls: [SYS_OPEN, SYS_STAT, SYS_READDIR, SYS_MKDIR, SYS_UNLINK], paths: ["/agent/\${agent}", "/agent/\${agent}/**"] }
  - { id: self-and-event-loop, effect: allow, syscalls: [SYS_READ, SYS_WRITE, SYS_CLOSE, SYS_GETPID, SYS_EXIT, SYS_TIMER, SYS_CANCEL, SYS_RANDOM] }
`;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  records: { type: string; syscall?: string; decision?: string; rule?: string }[];
}

/** agent runs `program` with agentctl under `rules` (appended to the base policy) and returns its output and decision log. */
async function agent(name: string, program: string, rules: string, args: string[] = []): Promise<Run> {
  const files = { manifest: join(dir, `${name}.manifest.yaml`), policy: join(dir, `${name}.policy.yaml`), tools: join(dir, `${name}.tools.yaml`), log: join(dir, `${name}.jsonl`) };
  writeFileSync(files.manifest, MANIFEST);
  writeFileSync(files.policy, BASE_RULES + rules);
  writeFileSync(files.tools, `tools:\n  builtin:\n    http.fetch: { allow_addresses: ["127.0.0.1"], model_endpoints: ["${server.url}/v1/"], secrets: { MODEL_API_KEY: ["${new URL(server.url).host}"] }, timeout_ms: 30000 }\n`);
  const child = spawn(process.execPath, ['--no-node-snapshot', '--disable-warning=ExperimentalWarning', AGENTCTL, 'run', join(REPO, program), '--manifest', files.manifest, '--policy', files.policy, '--tools', files.tools, '--log', files.log, '--', ...args], {
    cwd: REPO,
    env: { ...process.env, MODEL_BASE_URL: `${server.url}/v1`, MODEL_API_KEY: 'sk-test', AGENT_KERNEL_CACHE: join(dir, 'cache') },
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 60_000,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const records = readFileSync(files.log, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as Run['records'][number]);
  return { code, stdout, stderr, records };
}

const MODEL_RULE = '  - { id: model-endpoint, effect: allow, tools: [http.fetch], args: [{ arg: url, glob: "http://127.0.0.1:*/v1/**" }] }\n';
const execs = (run: Run) => run.records.filter((r) => r.type === 'syscall' && r.syscall === 'SYS_EXEC').map((r) => `${r.decision} ${r.rule}`);

describe('the Vercel AI SDK (ai, @ai-sdk/openai-compatible, zod)', () => {
  it('generateText calls a tool over two steps and streamText prints deltas; each model request is an http.fetch decision', async () => {
    server.script([{ toolCalls: [{ name: 'readNotes', arguments: { topic: 'kernel' } }] }, { text: 'Your notes say every decision is recorded.' }, { text: 'Every decision, recorded.' }]);
    const before = server.requests.length;
    const run = await agent('ai-sdk', 'examples/ai-sdk-agent.ts', MODEL_RULE, ['what is in my notes?', '--stream']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('answer: Your notes say every decision is recorded.\nsteps: 2, tokens: 36\n[Every ][decision, ][recorded.]\n');
    const requests = server.requests.slice(before);
    expect(requests.map((r) => r.body.stream ?? false)).toEqual([false, false, true]);
    expect(requests.map((r) => r.headers.authorization)).toEqual(['Bearer sk-test', 'Bearer sk-test', 'Bearer sk-test']);
    expect(readFileSync(join(dir, 'ai-sdk.jsonl'), 'utf8')).not.toContain('sk-test');
    // The tool's result went back to the model in the second request.
    expect(JSON.stringify(requests[1]!.body.messages)).toContain('every decision before the action runs');
    expect(execs(run)).toEqual(['allow model-endpoint', 'allow model-endpoint', 'allow model-endpoint']);
  });

  it("a policy that leaves the endpoint out: the request is denied, recorded, and the agent gets the SDK's own error", async () => {
    const before = server.requests.length;
    const run = await agent('ai-sdk-denied', 'examples/ai-sdk-agent.ts', '', ['q', '--max-retries=0']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^AI_APICallError: Cannot connect to API: SYS_EXEC denied by default-deny/);
    expect(server.requests.length).toBe(before);
    expect(execs(run)).toEqual(['deny default-deny']);
  });

  it('model responses count against token_budget: past it the next request is denied', async () => {
    server.script([{ toolCalls: [{ name: 'readNotes', arguments: { topic: 'kernel' } }] }, { text: 'never served' }]);
    const before = server.requests.length;
    const run = await agent('ai-sdk-budget', 'examples/ai-sdk-agent.ts', MODEL_RULE.replace('effect: allow,', 'effect: allow, limits: { token_budget: 10 },'), ['q', '--max-retries=0']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('token budget 10 used up');
    expect(server.requests.length - before).toBe(1);
    expect(execs(run)).toEqual(['allow model-endpoint', 'deny model-endpoint']);
  });
});

describe('the OpenAI Agents SDK (@openai/agents)', () => {
  it('runs an agent with a function tool to its final output', async () => {
    server.script([{ toolCalls: [{ name: 'get_weather', arguments: { city: 'Paris' } }] }, { text: 'It is sunny in Paris.' }]);
    const before = server.requests.length;
    const run = await agent('openai-agents', 'test/frameworks/agents/openai-agents.ts', MODEL_RULE);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('final: It is sunny in Paris.\n');
    expect(JSON.stringify(server.requests.slice(before)[1]!.body.messages)).toContain('sunny in Paris');
    expect(execs(run)).toEqual(['allow model-endpoint', 'allow model-endpoint']);
  });
});

describe('LangChain.js (@langchain/core, @langchain/openai)', () => {
  it('a tool-calling model: the tool runs and its result goes back to the model', async () => {
    server.script([{ toolCalls: [{ name: 'get_weather', arguments: { city: 'Paris' } }] }, { text: 'Sunny in Paris.' }]);
    const before = server.requests.length;
    const run = await agent('langchain', 'test/frameworks/agents/langchain.ts', MODEL_RULE);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('final: Sunny in Paris.\n');
    expect(JSON.stringify(server.requests.slice(before)[1]!.body.messages)).toContain('sunny in Paris');
    expect(execs(run)).toEqual(['allow model-endpoint', 'allow model-endpoint']);
  });
});
