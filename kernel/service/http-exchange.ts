/**
 * exchange sends one HTTP request and reads the whole answer, over
 * node:http (node:https for an https URL, loaded only then). The agentd
 * client uses it rather than the global fetch: fetch loads Node's bundled
 * undici and its llhttp WebAssembly on first use, ~50 ms of a short
 * `agentctl ps`. The global agent keeps connections
 * alive between requests (an adapter's evaluate calls) and does not hold a
 * finished CLI open.
 */
import type { IncomingHttpHeaders, RequestOptions } from 'node:http';

// node:http through getBuiltinModule, not `import`: the ESM facade of node:http reads every export, and its
// lazy WebSocket and MessageEvent getters load undici, which this file exists to avoid.
const http = process.getBuiltinModule('node:http');

export interface Exchanged {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
}

/** exchange rejects with the socket's error (its `code`, e.g. ECONNREFUSED, says why) when agentd cannot be reached. */
export function exchange(url: URL, method: string, headers: Record<string, string>, body?: string): Promise<Exchanged> {
  const send = url.protocol === 'https:' ? process.getBuiltinModule('node:https').request : http.request;
  const options: RequestOptions = { method, headers: body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) } };
  return new Promise((resolve, reject) => {
    const req = send(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}
