/**
 * cappedFetch is the fetch an MCP server's streamable-HTTP transport runs
 * on. The SDK reads a JSON answer whole and buffers an event-stream line
 * until it ends, without a limit, so a server (a network peer) could make
 * ring 0 hold what it liked (an attacker pass: a 500 MB tool result took
 * the kernel to 3.2 GB before the output limit was checked; a GET stream
 * whose line never ended grew it ~100 MB/s with no call at all). Here an
 * answer to a request with a body (a JSON-RPC message) errors past
 * `maxAnswerBytes` in all, and any stream past `maxLineBytes` without a line
 * end; the standalone GET stream has no total (it lives as long as the
 * session), only the line bound. A redirect or an empty body is passed on
 * as it came.
 */
import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';

export function cappedFetch(maxAnswerBytes: number, maxLineBytes: number): FetchLike {
  return async (url, init) => {
    const response = await fetch(url, init);
    if (response.body === null || (response.status >= 300 && response.status < 400)) return response;
    const total = (init?.method ?? 'GET').toUpperCase() === 'GET' ? Number.POSITIVE_INFINITY : maxAnswerBytes;
    let read = 0;
    let line = 0;
    const counted = response.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          read += chunk.byteLength;
          const end = chunk.lastIndexOf(10);
          line = end < 0 ? line + chunk.byteLength : chunk.byteLength - end - 1;
          if (read > total) controller.error(new Error(`the MCP server's answer is over ${maxAnswerBytes} bytes`));
          else if (line > maxLineBytes) controller.error(new Error(`the MCP server sent a line of over ${maxLineBytes} bytes`));
          else controller.enqueue(chunk);
        },
      }),
    );
    return new Response(counted, { status: response.status, statusText: response.statusText, headers: response.headers });
  };
}
