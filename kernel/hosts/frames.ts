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

/**
 * FrameReader turns a byte stream back into messages, each with the time
 * its reading took (ns: joining its chunks and decoding it); the first bad
 * frame stops it. A frame that comes in many chunks is joined once, when
 * all of it is there (joining on every chunk copied a 5 MB frame ~100 times,
 * on the kernel's loop and charged to no one: an attacker pass).
 */
export class FrameReader {
  private parts: Buffer[] = [];
  private size = 0;
  /** The bytes the frame being read needs in all (its head included), once its head is in. */
  private needed = 4;
  private broken = false;
  private readonly onMessage: (message: unknown, decodeNs: number) => void;
  private readonly onError: (why: string) => void;

  constructor(onMessage: (message: unknown, decodeNs: number) => void, onError: (why: string) => void) {
    this.onMessage = onMessage;
    this.onError = onError;
  }

  push(chunk: Buffer): void {
    if (this.broken) return;
    this.parts.push(chunk);
    this.size += chunk.length;
    if (this.size < this.needed) return;
    const started = performance.now();
    let pending = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.size);
    this.parts = [];
    this.size = 0;
    let joinNs = (performance.now() - started) * 1e6;
    while (pending.length >= 4) {
      const length = pending.readUInt32BE(0);
      if (length > MAX_FRAME_BYTES) return this.fail(`a frame of ${length} bytes is over ${MAX_FRAME_BYTES}`);
      if (pending.length < 4 + length) {
        this.needed = 4 + length;
        break;
      }
      const body = pending.subarray(4, 4 + length);
      pending = pending.subarray(4 + length);
      let message: unknown;
      const decoding = performance.now();
      try {
        message = deserialize(body);
      } catch (err) {
        return this.fail(`a frame does not decode: ${err instanceof Error ? err.message : String(err)}`);
      }
      this.onMessage(message, (performance.now() - decoding) * 1e6 + joinNs);
      joinNs = 0;
      if (this.broken) return;
      this.needed = 4;
    }
    if (pending.length > 0) {
      this.parts.push(pending);
      this.size = pending.length;
    }
  }

  /** stop reads no more (the peer is being ended). */
  stop(): void {
    this.broken = true;
    this.parts = [];
    this.size = 0;
  }

  private fail(why: string): void {
    this.stop();
    this.onError(why);
  }
}
