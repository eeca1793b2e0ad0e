/**
 * What one agent credential can hold of agentd at once (an attacker pass:
 * a credential's long polls took every connection, and bodies sent slowly
 * on many connections held gigabytes of agentd's heap):
 * - **Requests in flight**: at most MAX_AGENT_REQUESTS per credential (long
 *   polls of its approvals, MCP streams, bodies being sent); past it 429
 *   with `retry-after`.
 * - **Body bytes being read and handled**: at most MAX_AGENT_BODY_BYTES per
 *   credential (429), and MAX_AGENTS_BODY_BYTES for every credential's
 *   together (503), counted as they arrive and freed when the answer is sent.
 * The operator is not counted: its token is the one that must always get in
 * (connections.ts keeps it connections of its own too).
 */
import { Transform, type Readable } from 'node:stream';

/** The most requests one agent credential may have under way at once. */
export const MAX_AGENT_REQUESTS = 32;
/** The most body bytes one agent credential's requests may hold at once. */
export const MAX_AGENT_BODY_BYTES = 16 * 1024 * 1024;
/** The most body bytes every agent credential's requests may hold at once, together. */
export const MAX_AGENTS_BODY_BYTES = 256 * 1024 * 1024;

/** A refusal: the HTTP status and why. */
export interface LoadRefusal {
  readonly status: 429 | 503;
  readonly error: string;
}

/** LoadError is the error a metered body fails with past a share: fastify answers its statusCode. */
class LoadError extends Error {
  readonly statusCode: 429 | 503;
  constructor(refusal: LoadRefusal) {
    super(refusal.error);
    this.statusCode = refusal.status;
  }
}

export class AgentLoad {
  private readonly requests = new Map<string, number>();
  private readonly bytes = new Map<string, number>();
  private allBytes = 0;
  private readonly limits: { readonly requests: number; readonly bytes: number; readonly allBytes: number };

  constructor(limits = { requests: MAX_AGENT_REQUESTS, bytes: MAX_AGENT_BODY_BYTES, allBytes: MAX_AGENTS_BODY_BYTES }) {
    this.limits = limits;
  }

  /**
   * enter counts one request of credential `key` until `onEnd` calls back (the
   * answer is sent or the connection lost); a refusal past the credential's
   * share, counting nothing.
   */
  enter(key: string, onEnd: (release: () => void) => void): LoadRefusal | undefined {
    const held = this.requests.get(key) ?? 0;
    if (held >= this.limits.requests) return { status: 429, error: `this credential has ${held} requests under way, the most one may (long polls and streams included); retry after one ends` };
    this.requests.set(key, held + 1);
    onEnd(() => {
      const left = (this.requests.get(key) ?? 1) - 1;
      if (left > 0) this.requests.set(key, left);
      else this.requests.delete(key);
    });
    return undefined;
  }

  /**
   * metered is `payload` with its bytes counted against credential `key` and
   * every credential's as they arrive, until `onEnd` calls back; it fails
   * with a 429 or 503 past either share.
   */
  metered(key: string, payload: Readable, onEnd: (release: () => void) => void): Readable {
    let counted = 0;
    let ended = false;
    const meter = new Transform({
      transform: (chunk: Buffer, _encoding, next) => {
        // Bytes that arrive once the answer is sent are held by nobody: not counted (they were never freed; a review).
        if (ended) return next();
        const refusal = this.take(key, chunk.length);
        if (refusal !== undefined) return next(new LoadError(refusal));
        counted += chunk.length;
        next(null, chunk);
      },
    });
    // fastify hears a body's errors only while it reads one (not for a GET, a 415, a 413): unheard, a refusal ended agentd.
    meter.on('error', () => {});
    onEnd(() => {
      ended = true;
      this.free(key, counted);
      counted = 0;
    });
    payload.on('error', (err) => meter.destroy(err));
    return payload.pipe(meter);
  }

  /** held is what credential `key` holds now (for tests and metrics). */
  held(key: string): { requests: number; bytes: number } {
    return { requests: this.requests.get(key) ?? 0, bytes: this.bytes.get(key) ?? 0 };
  }

  private take(key: string, n: number): LoadRefusal | undefined {
    const mine = this.bytes.get(key) ?? 0;
    if (mine + n > this.limits.bytes) return { status: 429, error: `this credential's requests hold ${mine} bytes of bodies, and may hold at most ${this.limits.bytes} at once; retry after one ends` };
    if (this.allBytes + n > this.limits.allBytes) return { status: 503, error: `agentd holds ${this.allBytes} bytes of agent credentials' bodies, the most it holds at once; retry later` };
    this.bytes.set(key, mine + n);
    this.allBytes += n;
    return undefined;
  }

  private free(key: string, n: number): void {
    if (n === 0) return;
    this.allBytes -= n;
    const left = (this.bytes.get(key) ?? n) - n;
    if (left > 0) this.bytes.set(key, left);
    else this.bytes.delete(key);
  }
}
