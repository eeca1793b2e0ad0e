/**
 * cappedFetch is the fetch an MCP server's streamable-HTTP transport runs
 * on. The SDK reads a JSON answer whole and buffers an event-stream line
 * until it ends, without a limit, so a server (a network peer) could make
 * ring 0 hold what it liked (an attacker pass: a 500 MB tool result took
 * the kernel to 3.2 GB before the output limit was checked; a GET stream
 * whose line never ended grew it ~100 MB/s with no call at all). Here an
 * answer to a request with a body (a JSON-RPC message) errors past
 * `maxAnswerBytes` in all, and any stream past `maxEventBytes` without a
 * blank line (an event-stream event's end; CR, LF or CRLF end a line): the
 * SDK joins an event's data lines until then. The standalone GET stream has
 * no total (it lives as long as the session), only the event bound. A
 * redirect or an empty body is passed on as it came.
 */
import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';

/** cappedFetch is fetch with the bounds above: `maxAnswerBytes` for an answer to a request with a body, `maxEventBytes` for any event. */
export function cappedFetch(maxAnswerBytes: number, maxEventBytes: number): FetchLike {
  return async (url, init) => {
    const response = await fetch(url, init);
    if (response.body === null || (response.status >= 300 && response.status < 400)) return response;
    const total = (init?.method ?? 'GET').toUpperCase() === 'GET' ? Number.POSITIVE_INFINITY : maxAnswerBytes;
    let read = 0;
    // Bytes since the last blank line (an event's end: the SDK joins an event's data lines until one), and the last byte.
    let event = 0;
    let previous = 0;
    let lineStart = true;
    const counted = response.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          read += chunk.byteLength;
          for (const byte of chunk) {
            if (byte === 10 && previous === 13) {
              // CRLF: the CR ended the line already.
            } else if (byte === 10 || byte === 13) {
              if (lineStart) event = 0;
              lineStart = true;
            } else {
              lineStart = false;
              event++;
            }
            previous = byte;
          }
          if (read > total) controller.error(new Error(`the MCP server's answer is over ${maxAnswerBytes} bytes`));
          else if (event > maxEventBytes) controller.error(new Error(`the MCP server sent an event (or a line) of over ${maxEventBytes} bytes`));
          else controller.enqueue(chunk);
        },
      }),
    );
    return new Response(counted, { status: response.status, statusText: response.statusText, headers: response.headers });
  };
}
