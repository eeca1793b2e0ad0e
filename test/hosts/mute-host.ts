/**
 * A sandbox host that reads nothing of its channel until it gets SIGUSR2, for
 * test/hosts/host-backlog.test.ts: whatever the kernel sends waits on the
 * kernel's side meanwhile. Then it reads, answers pings, acknowledges a
 * disposal, and at `exit` exits with status 0 if a disposal came before the
 * exit, else 3 (a real host would end with the disposal unacknowledged, the
 * calls run under its leases unreported).
 */
import { Socket } from 'node:net';
import { encode, FrameReader } from '../../kernel/hosts/frames.ts';

const channel = new Socket({ fd: 3, readable: true, writable: true });
const send = (m: unknown) => channel.write(encode(m));
let disposed = 0;
const reader = new FrameReader(
  (raw) => {
    const m = raw as { t: string; sid?: number; n?: number };
    if (m.t === 'ping') send({ t: 'pong', n: m.n });
    if (m.t === 'dispose') {
      disposed++;
      send({ t: 'disposed', sid: m.sid });
    }
    if (m.t === 'exit') process.exit(disposed > 0 ? 0 : 3);
  },
  () => process.exit(1),
);
channel.on('data', (chunk: Buffer) => reader.push(chunk));
channel.pause();
channel.on('close', () => process.exit(0));
// A paused channel keeps nothing alive.
setInterval(() => undefined, 1 << 30);
process.on('SIGUSR2', () => channel.resume());
send({ t: 'ready', pid: process.pid });
