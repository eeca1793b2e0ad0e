/**
 * chunkCount: an undici interceptor that counts the chunks of an answer as
 * they come off the connection (before decompression), for a request whose
 * options carry a ChunkCounter (CHUNKS). A peer chooses how many chunks a
 * body comes in, and each costs the kernel's loop undici's parse and
 * callback: a million 1-byte chunks held the loop ~235 ms a fetch while
 * ~4 ms was charged (an attacker pass). http.fetch charges the caller's
 * tree CHUNK_NS a chunk.
 */
import type { Dispatcher } from 'undici';
import { Decorator } from './encoding-headers.ts';

/** What one chunk of an answer costs the kernel's loop besides the kernel's own work on it, ns (~235 measured here). */
export const CHUNK_NS = 250;

/** Where a request's options carry its counter. */
export const CHUNKS = Symbol('http.fetch chunks');

/** ChunkCounter counts the chunks an answer came in (the interceptor's `n`), and charges a caller for those it has not yet. */
export class ChunkCounter {
  n = 0;
  private charged = 0;

  /** chargeNew bills `charge` (the caller's tree, ns) CHUNK_NS for each chunk counted since the last time. */
  chargeNew(charge: ((ns: number) => void) | undefined): void {
    if (this.n === this.charged) return;
    charge?.((this.n - this.charged) * CHUNK_NS);
    this.charged = this.n;
  }
}

/** Request options with a chunk counter (see CHUNKS). */
export type WithChunks = { [CHUNKS]?: ChunkCounter };

class Counting extends Decorator {
  private readonly counter: ChunkCounter;

  constructor(handler: Dispatcher.DispatchHandler, counter: ChunkCounter) {
    super(handler);
    this.counter = counter;
  }

  override onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.counter.n++;
    super.onResponseData(controller, chunk);
  }
}

/** chunkCount is the interceptor: compose it inside interceptors.decompress, so that it counts what the peer sent. */
export function chunkCount(): Dispatcher.DispatcherComposeInterceptor {
  return (dispatch) => (options, handler) => {
    const counter = (options as Dispatcher.DispatchOptions & WithChunks)[CHUNKS];
    return dispatch(options, counter === undefined ? handler : new Counting(handler, counter));
  };
}
