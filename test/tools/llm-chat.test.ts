/**
 * llm.chat against an OpenAI-compatible server the test starts on loopback:
 * the request it receives, the API key that never reaches ring 3, token
 * usage counted per agent, and a token budget that runs out and then denies.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { llmChatTool } from '../../kernel/tools/llm-chat.ts';
import { ToolRegistry } from '../../kernel/tools/registry.ts';
import { log, syscallRecords } from '../syscalls/harness.ts';
import { execReport, localServer, policy, STACKED, stackedGzipBomb, toolKernel, TRY, type LocalServer } from './helpers.ts';

const KEY = 'sk-test-ring0-only-0123456789';
let server: LocalServer;
const bomb = stackedGzipBomb(64);

beforeAll(async () => {
  server = await localServer((req, body, res) => {
    if (req.url !== '/v1/chat/completions' || req.method !== 'POST') {
      res.writeHead(404).end();
      return;
    }
    const request = JSON.parse(body) as { model: string; messages: { content: string }[] };
    const last = request.messages.at(-1)?.content ?? '';
    if (last === 'endless') {
      // A peer that never stops answering: 64 KiB chunks for as long as the socket is open.
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = ' '.repeat(64 * 1024);
      const more = () => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', more);
      };
      more();
      return;
    }
    if (last === 'moved') {
      res.writeHead(308, { location: 'https://elsewhere.example/v1/chat/completions' }).end();
      return;
    }
    if (last === 'bomb') {
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': STACKED }).end(bomb);
      return;
    }
    if (last === 'leaky') {
      // An endpoint that echoes its key everywhere but the content (an attacker pass: only the content was redacted).
      res.writeHead(200, { 'content-type': 'application/json' });
      const call = { id: 'c1', type: 'function', function: { name: 'send', arguments: JSON.stringify({ key: KEY }) } };
      res.end(JSON.stringify({ model: `m-${KEY}`, choices: [{ message: { role: 'assistant', content: null, tool_calls: [call] }, finish_reason: 'tool_calls' }], usage: {} }));
      return;
    }
    if (last === 'deep') {
      res.writeHead(200, { 'content-type': 'application/json' });
      const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
      res.end(`{"model":"m","choices":[{"message":{"role":"assistant","content":"x","tool_calls":${deep}}}],"usage":{}}`);
      return;
    }
    if (last === 'leaky-move') {
      res.writeHead(307, { location: `https://elsewhere.example/?k=${KEY}` }).end();
      return;
    }
    if (last === 'fail') {
      res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: `upstream broke (key ${KEY})` } }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        id: 'chatcmpl-1',
        object: 'chat.completion',
        model: request.model,
        choices: [{ index: 0, message: { role: 'assistant', content: `echo: ${last}` }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 30, completion_tokens: 10, total_tokens: 40 },
      }),
    );
  });
});

afterAll(() => server.close());

function kernel(rules: string[]) {
  const registry = new ToolRegistry();
  registry.register(llmChatTool({ endpoint: `${server.url}/v1`, model: 'test-model', models: ['other-model'], apiKey: KEY, timeoutMs: 5000 }));
  return toolKernel({ policy: policy(...rules), registry });
}

const ASK = (text: string) => `tryExec('llm.chat', { messages: [{ role: 'user', content: '${text}' }] })`;

describe('llm.chat', () => {
  it('posts to <endpoint>/chat/completions with the key; the agent gets content and usage, never the key', async () => {
    const k = kernel(['{ id: llm, effect: allow, syscalls: [SYS_EXEC], tools: [llm.chat] }']);
    const before = server.requests.length;
    const value = await execReport(k, `${TRY}report([${ASK('hi')}, tryExec('llm.chat', { model: 'other-model', messages: [{ role: 'user', content: 'x' }] }).model, tryExec('llm.chat', { model: 'gpt-unlisted', messages: [{ role: 'user', content: 'x' }] }).errno, ${ASK('fail')}]);`);
    expect(value).toEqual([
      { model: 'test-model', role: 'assistant', content: 'echo: hi', finish_reason: 'stop', usage: { prompt_tokens: 30, completion_tokens: 10, total_tokens: 40 } },
      'other-model',
      'EINVAL',
      { errno: 'EIO', message: 'llm.chat: the endpoint answered 500: upstream broke (key [redacted])' },
    ]);
    const sent = server.requests.slice(before);
    expect(sent).toHaveLength(3);
    expect(sent[0]!.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(JSON.parse(sent[0]!.body)).toEqual({ model: 'test-model', messages: [{ role: 'user', content: 'hi' }] });
    expect(JSON.stringify(value)).not.toContain(KEY);
    expect(JSON.stringify(log(k))).not.toContain(KEY);
    expect(k.engine.counters.tokensUsed('tester')).toBe(40 * 2 + 0);
  });

  it('redacts the key from all the endpoint says: tool calls, the model name, a redirect\'s location', async () => {
    const k = kernel(['{ id: llm, effect: allow, syscalls: [SYS_EXEC], tools: [llm.chat] }']);
    const value = await execReport(k, `${TRY}report([${ASK('leaky')}, ${ASK('leaky-move')}]);`);
    expect(JSON.stringify(value)).not.toContain(KEY);
    const [answer, moved] = value as [{ model: string; tool_calls: { function: { arguments: string } }[] }, { message: string }];
    expect(answer.model).toBe('m-[redacted]');
    expect(JSON.parse(answer.tool_calls[0]!.function.arguments)).toEqual({ key: '[redacted]' });
    expect(moved.message).toContain('https://elsewhere.example/?k=[redacted]');
    // An answer nested past the stack is EIO, not a stack overflow out of the tool (a review).
    expect(await execReport(k, `${TRY}report(${ASK('deep')});`)).toEqual({ errno: 'EIO', message: 'llm.chat: the answer is nested too deeply' });
  });

  it('reads the answer up to its output limit: an endless body and a stacked-encoding bomb are EFBIG, not held until the timeout (an attacker pass: 1.3 GB of RSS)', async () => {
    const k = kernel(['{ id: llm, effect: allow, syscalls: [SYS_EXEC], tools: [llm.chat] }']);
    const value = await execReport(k, `${TRY}report([${ASK('endless')}, ${ASK('bomb')}, ${ASK('hi')}.content]);`);
    expect(value).toEqual([
      { errno: 'EFBIG', message: `llm.chat: response body is over the limit of ${256 * 1024} bytes` },
      { errno: 'EFBIG', message: `llm.chat: response body is over the limit of ${256 * 1024} bytes` },
      'echo: hi',
    ]);
  });

  it('says so when the endpoint redirects (not followed: the key would go where it points), and sends what fetch sent', async () => {
    const k = kernel(['{ id: llm, effect: allow, syscalls: [SYS_EXEC], tools: [llm.chat] }']);
    const before = server.requests.length;
    const value = await execReport(k, `${TRY}report(${ASK('moved')});`);
    expect(value).toEqual({ errno: 'EIO', message: 'llm.chat: the endpoint answered 308, a redirect to https://elsewhere.example/v1/chat/completions, which is not followed: configure that URL as the endpoint' });
    expect(server.requests[before]!.headers).toMatchObject({ 'user-agent': 'undici', accept: '*/*', 'content-type': 'application/json' });
  });

  it('a token budget runs out: calls are allowed until the agent has used it, then denied', async () => {
    const k = kernel(["{ id: llm-budget, effect: allow, syscalls: [SYS_EXEC], tools: [llm.chat], limits: { token_budget: 100 } }"]);
    const value = await execReport(k, `${TRY}report([${ASK('one')}, ${ASK('two')}, ${ASK('three')}, ${ASK('four')}].map((r) => r.errno ? r : r.usage.total_tokens));`);
    expect(value).toEqual([40, 40, 40, { errno: 'EACCES', message: 'SYS_EXEC denied by llm-budget: limit: token budget 100 used up' }]);
    expect(k.engine.counters.tokensUsed('tester')).toBe(120);
    expect(syscallRecords(k, 'SYS_EXEC').map((r) => [r.effect, r.reason])).toEqual([
      ['allow', 'allowed by rule llm-budget'],
      ['allow', 'allowed by rule llm-budget'],
      ['allow', 'allowed by rule llm-budget'],
      ['deny', 'limit: token budget 100 used up'],
    ]);
    // Budgets are per agent: another agent still has its own.
    const other = await execReport(k, `${TRY}report(${ASK('fresh')}.usage.total_tokens);`, 'other-agent');
    expect(other).toBe(40);
  });

  it('EIO when the endpoint cannot be reached; ETIMEDOUT past the timeout', async () => {
    const slow = await localServer(() => {});
    const registry = new ToolRegistry();
    registry.register(llmChatTool({ endpoint: `${slow.url}/v1`, model: 'm', timeoutMs: 200 }));
    const dead = await localServer(() => {});
    const deadUrl = dead.url;
    await dead.close();
    registry.register({ ...llmChatTool({ endpoint: `${deadUrl}/v1`, model: 'm' }), name: 'llm.dead' });
    const k = toolKernel({ policy: policy("{ id: llm, effect: allow, syscalls: [SYS_EXEC], tools: ['llm.*'] }"), registry });
    const value = await execReport(k, `${TRY}report([${ASK('x')}, tryExec('llm.dead', { messages: [{ role: 'user', content: 'x' }] })]);`);
    await slow.close();
    expect(value).toEqual([
      { errno: 'ETIMEDOUT', message: "tool 'llm.chat' timed out after 200 ms" },
      { errno: 'EIO', message: 'llm.chat: the model endpoint cannot be reached' },
    ]);
  });
});
