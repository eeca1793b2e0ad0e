/**
 * A reply that will wait in its sandbox's outbox carries no lease (the host
 * would begin its lease late, and report the calls it ran late). The check
 * was "the outbox is backed up" (8 MiB in flight, or frames waiting), while
 * the outbox holds a frame back when it does not fit in what is left of the
 * 8 MiB: a reply of 64 KiB behind 8 MiB less 32 KiB in flight got a lease
 * and waited all the same. Now the check is the outbox's own, on the
 * reply's frame (with room for the lease).
 */
import { describe, expect, it } from 'vitest';
import { MAX_SANDBOX_SEND_BYTES, Outbox } from '../../kernel/hosts/outbox.ts';
import type { ToHost } from '../../kernel/hosts/protocol.ts';
import { RemoteSandbox, type HostLink } from '../../kernel/hosts/remote-sandbox.ts';
import { encode } from '../../kernel/hosts/frames.ts';
import type { BootRecord, SandboxHooks } from '../../kernel/process-sandbox.ts';
import { programFromSource } from '../../kernel/program.ts';
import { SYSCALL_NUMBERS } from '../../syscalls/table.ts';

/** A host link over one real outbox whose channel never lets a frame go: what was sent, and whether it had to wait. */
function link() {
  const written: Buffer[] = [];
  const outbox = new Outbox(
    (frame) => void written.push(frame),
    () => undefined,
  );
  const sent: { message: ToHost; waited: boolean }[] = [];
  const host: HostLink = {
    id: 1,
    served: 0,
    send(message, frame = encode(message)) {
      const before = written.length;
      outbox.push(frame, message.t === 'reply');
      sent.push({ message, waited: written.length === before });
    },
    wouldWait: (_sid, bytes) => outbox.wouldWait(bytes),
    reserve: () => undefined,
    full: () => undefined,
    ask: () => Promise.resolve(null),
    release: () => undefined,
    quarantine: () => undefined,
  };
  return { host, outbox, sent };
}

const hooks: SandboxHooks = {
  syscall: () => ({ v: new Uint8Array(65536) }),
  end: () => undefined,
  idle: () => undefined,
  charge: () => undefined,
  leases: {
    grant: (_nr, _args, most) => ({ decision: { effect: 'allow', rule: 'allow-all', reason: 'test' }, tokens: most, ms: 1000, window: 1 }),
    refund: () => undefined,
    served: () => undefined,
    late: () => undefined,
  },
};

const boot = { pid: 5, ppid: 0 } as BootRecord;

describe('a reply that will wait', () => {
  it('carries no lease, though its outbox is not backed up', () => {
    const { host, outbox, sent } = link();
    const box = new RemoteSandbox(host, 1, programFromSource('p.js', ''), 64, boot, hooks);
    // 8 MiB less 32 KiB in flight: nothing waits, the window is not full, but a reply of 64 KiB does not fit in it.
    outbox.push(Buffer.alloc(MAX_SANDBOX_SEND_BYTES - 32 * 1024), false);
    expect(box.onMessage({ t: 'call', sid: 1, cid: 1, nr: SYSCALL_NUMBERS.SYS_RANDOM, args: [65536], mode: 'async' }, 0)).toBeUndefined();
    const reply = sent.find((s) => s.message.t === 'reply')!;
    expect(reply.waited).toBe(true);
    expect(reply.message).not.toHaveProperty('lease');
  });

  it('carries a lease when it goes at once', () => {
    const { host, sent } = link();
    const box = new RemoteSandbox(host, 1, programFromSource('p.js', ''), 64, boot, hooks);
    expect(box.onMessage({ t: 'call', sid: 1, cid: 1, nr: SYSCALL_NUMBERS.SYS_RANDOM, args: [65536], mode: 'async' }, 0)).toBeUndefined();
    const reply = sent.find((s) => s.message.t === 'reply')!;
    expect(reply.waited).toBe(false);
    expect(reply.message).toHaveProperty('lease');
  });
});
