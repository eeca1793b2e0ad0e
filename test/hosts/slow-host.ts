/**
 * A slow sandbox host, for test/hosts/reply-flood.test.ts and
 * reply-budget.test.ts: the real host program (kernel/hosts/host-main.ts),
 * whose channel stops being read for SLOW_HOST_PAUSE_MS once
 * SLOW_HOST_AFTER bytes have come through it (once): whatever the kernel
 * sends meanwhile waits on the kernel's side, as it would for a host busy
 * elsewhere. With SLOW_HOST_AT_FRAME, it stops only where a frame ends
 * (the one that passed the mark is whole: its call completes). With
 * SLOW_HOST_RESUME_WRITES, reading resumes as soon as the host has written
 * that many frames since the pause (the calls a test needs to reach the
 * kernel while nothing is read), if that comes first.
 */
import { Socket } from 'node:net';

const after = Number(process.env.SLOW_HOST_AFTER ?? 1 << 20);
const pauseMs = Number(process.env.SLOW_HOST_PAUSE_MS ?? 3000);
const atFrame = process.env.SLOW_HOST_AT_FRAME !== undefined;
const resumeWrites = Number(process.env.SLOW_HOST_RESUME_WRITES ?? Infinity);
type On = (this: Socket, event: string, listener: (...args: unknown[]) => void) => Socket;
type Write = (this: Socket, ...args: unknown[]) => boolean;
const on = Socket.prototype.on as unknown as On;
const write = Socket.prototype.write as unknown as Write;
let read = 0;
let paused = false;
/** Frames written since the pause began, while it lasts. */
let written: number | undefined;
let resume: (() => void) | undefined;
/** The channel to the kernel: the socket read with a 'data' listener. */
const channels = new WeakSet<Socket>();
/** Where the stream is: the head of the next frame read so far, or what is left of the current frame's body. */
let head: number[] = [];
let left = 0;

/** ends takes `chunk` and says whether it ended where a frame ends. */
function ends(chunk: Buffer): boolean {
  for (let i = 0; i < chunk.length; ) {
    if (left > 0) {
      const take = Math.min(left, chunk.length - i);
      left -= take;
      i += take;
      continue;
    }
    head.push(chunk[i++]!);
    if (head.length === 4) {
      left = Buffer.from(head).readUInt32BE(0);
      head = [];
    }
  }
  return left === 0 && head.length === 0;
}

// host-main reads its channel with one 'data' listener: it is wrapped before the program loads.
(Socket.prototype as unknown as { on: On }).on = function (event, listener) {
  if (event !== 'data') return on.call(this, event, listener);
  channels.add(this);
  return on.call(this, 'data', (chunk) => {
    listener(chunk);
    read += (chunk as Buffer).length;
    const whole = ends(chunk as Buffer);
    if (paused || read < after || (atFrame && !whole)) return;
    paused = true;
    this.pause();
    written = 0;
    const timer = setTimeout(() => resume?.(), pauseMs);
    resume = () => {
      clearTimeout(timer);
      resume = undefined;
      written = undefined;
      this.resume();
    };
  });
};

// host-main writes one frame a write.
(Socket.prototype as unknown as { write: Write }).write = function (...args) {
  const done = write.apply(this, args);
  if (channels.has(this) && written !== undefined && ++written >= resumeWrites) resume?.();
  return done;
};

await import('../../kernel/hosts/host-main.ts');
