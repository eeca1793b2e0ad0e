/**
 * A stand-in for the OpenAI-compatible server the README's AI SDK block
 * expects on 127.0.0.1:8080: test/frameworks/model-server.ts's scripted
 * server (a tool call, then two answers), reached through port 8080.
 *   node test/readme/model-stand-in.ts     (prints "model stand-in on 8080")
 */
import { createConnection, createServer } from 'node:net';
import { startModelServer } from '../frameworks/model-server.ts';

const PORT = 8080;

const model = await startModelServer([
  { toolCalls: [{ name: 'readNotes', arguments: { topic: 'kernel' } }] },
  { text: 'Your notes say every decision is recorded.' },
  { text: 'Every decision, recorded.' },
]);
const upstream = new URL(model.url);
createServer((client) => {
  const server = createConnection(Number(upstream.port), upstream.hostname);
  client.pipe(server).pipe(client);
  client.on('error', () => server.destroy());
  server.on('error', () => client.destroy());
}).listen(PORT, '127.0.0.1', () => console.log(`model stand-in on ${PORT}`));
