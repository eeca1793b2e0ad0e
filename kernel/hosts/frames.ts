/**
 * The wire of the kernel ↔ host channel: length-prefixed frames (4 bytes,
 * big-endian) of V8's structured-clone serialization, over a socket pair
 * (the host's fd 3). Not Node's IPC channel: that one decodes each frame
 * where no one can catch its errors, so a host writing one bad frame would
 * end the kernel. Here a frame larger than MAX_FRAME_BYTES, or one that does
 * not decode, is the peer's fault: the reader says so and reads no more.
 */
import { deserialize, serialize } from 'node:v8';

/**
 * The largest frame either side accepts: a syscall's arguments or reply
 * cross as one frame, and the ABI bounds them well below this (abi/limits.ts:
 * ~2.3 M string units and 1 MiB of bytes).
 */
export const MAX_FRAME_BYTES = 32 * 1024 * 1024;

/** encode makes one frame of `message`; throws if it cannot be cloned or is too large. */
export function encode(message: unknown): Buffer {
  const body = serialize(message);
  if (body.length > MAX_FRAME_BYTES) throw new RangeError(`a frame of ${body.length} bytes is over ${MAX_FRAME_BYTES}`);
  const head = Buffer.allocUnsafe(4);
  head.writeUInt32BE(body.length, 0);
  return Buffer.concat([head, body]);
}

/** FrameReader turns a byte stream back into messages, each with the time its decoding took (ns); the first bad frame stops it. */
export class FrameReader {
  private pending: Buffer = Buffer.alloc(0);
  private broken = false;
  private readonly onMessage: (message: unknown, decodeNs: number) => void;
  private readonly onError: (why: string) => void;

  constructor(onMessage: (message: unknown, decodeNs: number) => void, onError: (why: string) => void) {
    this.onMessage = onMessage;
    this.onError = onError;
  }

  push(chunk: Buffer): void {
    if (this.broken) return;
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    while (this.pending.length >= 4) {
      const length = this.pending.readUInt32BE(0);
      if (length > MAX_FRAME_BYTES) return this.fail(`a frame of ${length} bytes is over ${MAX_FRAME_BYTES}`);
      if (this.pending.length < 4 + length) return;
      const body = this.pending.subarray(4, 4 + length);
      this.pending = this.pending.subarray(4 + length);
      let message: unknown;
      const started = performance.now();
      try {
        message = deserialize(body);
      } catch (err) {
        return this.fail(`a frame does not decode: ${err instanceof Error ? err.message : String(err)}`);
      }
      this.onMessage(message, (performance.now() - started) * 1e6);
      if (this.broken) return;
    }
  }

  /** stop reads no more (the peer is being ended). */
  stop(): void {
    this.broken = true;
    this.pending = Buffer.alloc(0);
  }

  private fail(why: string): void {
    this.stop();
    this.onError(why);
  }
}
