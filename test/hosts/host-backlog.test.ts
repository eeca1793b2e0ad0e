/**
 * What waits in the kernel for a host that is slow to read (a review of the
 * reply flood's fix). Each sandbox's outbox is bounded by bytes
 * (reply-budget.test.ts); here the host's total: past 64 MiB held for its
 * sandboxes, a sandbox holding more than 1 MiB gets EAGAIN for its new calls
 * (before, 8 agents flooding one host held 246 MiB in the kernel), while a
 * neighbour holding little goes on.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Host, type HostOwner } from '../../kernel/hosts/host.ts';
import { until } from '../until.ts';

const MUTE = fileURLToPath(new URL('./mute-host.ts', import.meta.url));
const MiB = 1024 * 1024;

/** An owner that only notes the host's end. */
function owner(): HostOwner & { readonly ended: string[] } {
  const ended: string[] = [];
  return { ended, died: (_h, how) => void ended.push(how), record: () => undefined, ready: () => undefined, released: () => undefined, quarantine: () => undefined };
}

/** sendReplies sends sandbox `sid` `count` replies of `bytes` each. */
function sendReplies(host: Host, sid: number, count: number, bytes: number): void {
  for (let cid = 1; cid <= count; cid++) host.send({ t: 'reply', sid, cid, reply: { v: new Uint8Array(bytes) } });
}

describe('a host slow to read', () => {
  it('holds at most 64 MiB of replies for its sandboxes before those holding more than 1 MiB get EAGAIN; a neighbour holding little goes on', async () => {
    const host = new Host(owner(), 1, 'starting', MUTE);
    try {
      await until(() => host.wasReady, 'the host to say it is ready');
      // Four sandboxes of 20 MiB each (80 MiB, none of it read), one of 3 MiB, one of 256 KiB.
      for (const sid of [1, 2, 3, 4]) sendReplies(host, sid, 20, MiB);
      sendReplies(host, 5, 3, MiB);
      sendReplies(host, 6, 1, 256 * 1024);
      expect(host.full(1)).toMatch(/^\d+(\.\d)? MiB not yet taken by its sandbox host \(at most 16 MiB\)$/);
      expect(host.full(5)).toMatch(/^3 MiB not yet taken by its sandbox host, which has \d+(\.\d)? MiB waiting for its agents \(at most 64 MiB\)$/);
      expect(host.full(6)).toBeUndefined();
      // Once the host reads, what it took no longer counts.
      host.child.kill('SIGUSR2');
      await until(() => [1, 2, 3, 4, 5].every((sid) => host.full(sid) === undefined), 'the host to take what waited');
    } finally {
      host.child.kill('SIGKILL');
    }
  }, 60_000);
});
