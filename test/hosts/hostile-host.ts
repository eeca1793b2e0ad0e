/**
 * A hostile sandbox host, for test/hosts/hostile-host.test.ts: it speaks the
 * channel well enough to get an agent placed and started on it, then breaks
 * the protocol as HOSTILE_MODE says. The kernel must kill it (its agents
 * lost) and go on.
 */
import { Socket } from 'node:net';
import { encode, FrameReader, MAX_FRAME_BYTES } from '../../kernel/hosts/frames.ts';

const channel = new Socket({ fd: 3, readable: true, writable: true });
const send = (m: unknown) => channel.write(encode(m));
const mode = process.env.HOSTILE_MODE ?? 'garbage';
/** The lease the kernel last gave, if any. */
let leased: number | undefined;

function misbehave(sid: number): void {
  switch (mode) {
    case 'garbage':
      channel.write(Buffer.from([0, 0, 0, 5, 0xff, 0x0d, 0x22, 0x99, 0x01]));
      return;
    case 'oversize': {
      const head = Buffer.alloc(4);
      head.writeUInt32BE(MAX_FRAME_BYTES + 1, 0);
      channel.write(head);
      return;
    }
    case 'malformed':
      send({ t: 'call', sid, cid: 'one', nr: 8, args: [], mode: 'blocking' });
      return;
    case 'reused-cid':
      send({ t: 'call', sid, cid: 1, nr: 19, args: [60_000], mode: 'async' });
      send({ t: 'call', sid, cid: 1, nr: 19, args: [60_000], mode: 'async' });
      return;
    case 'foreign-answer':
      send({ t: 'answer', sid, req: 99_999, ok: true, value: null });
      return;
    case 'ready-twice':
      send({ t: 'ready', pid: process.pid });
      return;
    case 'unleased':
      // Reports a getpid it ran itself, holding no lease.
      send({ t: 'served', sid, gen: 1, calls: [[8, []]] });
      return;
    case 'late':
    case 'after-revoke':
    case 'overspent':
      // Asks for a getpid, to be given a lease with its reply (then reports one call more than the lease allows).
      send({ t: 'call', sid, cid: 1, nr: 8, args: [], mode: 'blocking' });
      return;
    case 'bye-unasked':
      // The last word of a host told to exit, unasked: the kernel would take its SIGKILL for an end it asked for.
      send({ t: 'bye' });
      return;
    case 'pong-spam':
      // Never answers a ping, but sends pongs of its own: that is no sign of life.
      setInterval(() => send({ t: 'pong', n: 123_456 }), 10);
      return;
  }
}

const reader = new FrameReader(
  (raw) => {
    const m = raw as { t: string; sid: number; req: number; op?: string; n?: number; gen?: number; lease?: { gen: number; tokens: number } };
    if (m.t === 'ping' && mode !== 'pong-spam') send({ t: 'pong', n: m.n });
    if (m.t === 'reply' && m.lease !== undefined) leased = m.lease.gen;
    // An honest host, slow to report: the calls it ran under its lease reach the kernel after the process was ended there.
    if (mode === 'late' && m.t === 'dispose' && leased !== undefined) {
      // In two batches: the kernel still writes one record for them (it waits for the host's `disposed`).
      send({ t: 'served', sid: m.sid, gen: leased, calls: [[8, []], [8, []]] });
      send({ t: 'served', sid: m.sid, gen: leased, calls: [[8, []]] });
      send({ t: 'disposed', sid: m.sid });
    }
    // A host that reports a call under a lease after it acknowledged the lease's revocation.
    if (mode === 'after-revoke' && m.t === 'reply' && m.lease !== undefined) send({ t: 'served', sid: m.sid, gen: m.lease.gen, calls: [[8, []]] });
    if (mode === 'after-revoke' && m.t === 'revoke') {
      send({ t: 'revoked', sid: m.sid, gen: m.gen });
      send({ t: 'served', sid: m.sid, gen: m.gen, calls: [[8, []]] });
    }
    if (mode === 'overspent' && m.t === 'reply' && m.lease !== undefined) {
      const calls = Array.from({ length: m.lease.tokens + 1 }, () => [8, []]);
      for (let i = 0; i < calls.length; i += 256) send({ t: 'served', sid: m.sid, gen: m.lease.gen, calls: calls.slice(i, i + 256) });
    }
    if (m.t !== 'ask') return;
    send({ t: 'answer', sid: m.sid, req: m.req, ok: true, value: null });
    if (m.op === 'start') misbehave(m.sid);
  },
  () => process.exit(1),
);
channel.on('data', (chunk: Buffer) => reader.push(chunk));
channel.on('close', () => process.exit(0));
send({ t: 'ready', pid: process.pid });
