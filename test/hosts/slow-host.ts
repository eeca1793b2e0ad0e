/**
 * A slow sandbox host, for test/hosts/reply-flood.test.ts: the real host
 * program (kernel/hosts/host-main.ts), whose channel stops being read for
 * SLOW_HOST_PAUSE_MS once SLOW_HOST_AFTER bytes have come through it (once):
 * whatever the kernel sends meanwhile waits on the kernel's side, as it
 * would for a host busy elsewhere.
 */
import { Socket } from 'node:net';

const after = Number(process.env.SLOW_HOST_AFTER ?? 1 << 20);
const pauseMs = Number(process.env.SLOW_HOST_PAUSE_MS ?? 3000);
type On = (this: Socket, event: string, listener: (...args: unknown[]) => void) => Socket;
const on = Socket.prototype.on as unknown as On;
let read = 0;
let paused = false;

// host-main reads its channel with one 'data' listener: it is wrapped before the program loads.
(Socket.prototype as unknown as { on: On }).on = function (event, listener) {
  if (event !== 'data') return on.call(this, event, listener);
  return on.call(this, 'data', (chunk) => {
    listener(chunk);
    read += (chunk as Buffer).length;
    if (paused || read < after) return;
    paused = true;
    this.pause();
    setTimeout(() => this.resume(), pauseMs);
  });
};

await import('../../kernel/hosts/host-main.ts');
