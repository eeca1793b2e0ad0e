/**
 * A scripted OpenAI-compatible model server on loopback, for the framework
 * tests: each POST /v1/chat/completions (or /chat/completions) takes the next
 * scripted turn — tool calls or text — and answers it as the OpenAI API does,
 * as one JSON body or, when the request asks for `stream: true`, as
 * server-sent events. Every request is kept, with its parsed body.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Turn = { readonly text: string } | { readonly toolCalls: readonly { readonly name: string; readonly arguments: Readonly<Record<string, unknown>> }[] };

export interface ModelRequest {
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: { model?: string; stream?: boolean; messages?: unknown[]; tools?: unknown[] } & Record<string, unknown>;
}

export interface ModelServer {
  readonly url: string;
  readonly requests: ModelRequest[];
  /** script replaces the turns still to be served. */
  script(turns: readonly Turn[]): void;
  close(): Promise<void>;
}

const USAGE = { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 };

function message(turn: Turn): Record<string, unknown> {
  if ('text' in turn) return { role: 'assistant', content: turn.text };
  return {
    role: 'assistant',
    content: null,
    tool_calls: turn.toolCalls.map((c, i) => ({ id: `call_${i + 1}`, type: 'function', function: { name: c.name, arguments: JSON.stringify(c.arguments) } })),
  };
}

function answer(res: ServerResponse, turn: Turn, model: string): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion', created: 1, model, choices: [{ index: 0, message: message(turn), finish_reason: 'text' in turn ? 'stop' : 'tool_calls' }], usage: USAGE }));
}

/** stream sends the turn as chunks, a few milliseconds apart, so a reader can see them arrive one by one. */
async function stream(res: ServerResponse, turn: Turn, model: string): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const send = (delta: Record<string, unknown>, finish: string | null, usage?: typeof USAGE) =>
    res.write(`data: ${JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model, choices: [{ index: 0, delta, finish_reason: finish }], ...(usage ? { usage } : {}) })}\n\n`);
  send({ role: 'assistant', content: '' }, null);
  if ('text' in turn) {
    for (const word of turn.text.split(/(?<= )/)) {
      send({ content: word }, null);
      await new Promise((r) => setTimeout(r, 5));
    }
    send({}, 'stop', USAGE);
  } else {
    turn.toolCalls.forEach((c, i) => send({ tool_calls: [{ index: i, id: `call_${i + 1}`, type: 'function', function: { name: c.name, arguments: JSON.stringify(c.arguments) } }] }, null));
    send({}, 'tool_calls', USAGE);
  }
  res.end('data: [DONE]\n\n');
}

/** startModelServer listens on 127.0.0.1 (a free port). */
export async function startModelServer(turns: readonly Turn[] = []): Promise<ModelServer> {
  let queue = [...turns];
  const requests: ModelRequest[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body: ModelRequest['body'] = {};
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as ModelRequest['body'];
      } catch {
        // kept as {}
      }
      requests.push({ path: req.url ?? '', headers: req.headers, body });
      if (req.method !== 'POST' || !(req.url ?? '').endsWith('/chat/completions')) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: `no route ${req.method} ${req.url}` } }));
        return;
      }
      const turn = queue.shift() ?? { text: 'nothing more scripted' };
      const model = body.model ?? 'scripted';
      if (body.stream === true) void stream(res, turn, model);
      else answer(res, turn, model);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    script(next) {
      queue = [...next];
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
