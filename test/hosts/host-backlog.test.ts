/**
 * What waits in the kernel for a host that is slow to read (a review of the
 * reply flood's fix). Each sandbox's outbox is bounded by bytes
 * (reply-budget.test.ts); here the host's total: past 64 MiB held for its
 * sandboxes, a sandbox holding more than 1 MiB gets EAGAIN for its new calls
 * (before, 8 agents flooding one host held 246 MiB in the kernel), while a
 * neighbour holding little goes on. And a host told to exit gets the exit
 * after what waited for its sandboxes: the exit went straight to the
 * channel, ahead of a disposal still waiting in its outbox, so the host
 * exited without acknowledging it, and the calls it ran under a lease were
 * never reported. A host that reads nothing is still ended, after hang_ms.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Host, type HostOwner } from '../../kernel/hosts/host.ts';
import { HostPool } from '../../kernel/hosts/host-pool.ts';
import type { RemoteSandbox } from '../../kernel/hosts/remote-sandbox.ts';
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
      // What the replies of calls under way may bring counts too, until they come (a review: a batch of late replies passed the check, each).
      expect(host.full(6)).toBeUndefined();
      host.reserve(6, 17 * MiB);
      expect(host.full(6)).toMatch(/^17\.3 MiB not yet taken by its sandbox host \(at most 16 MiB\)$/);
      host.reserve(6, -17 * MiB);
      expect(host.full(6)).toBeUndefined();
      // Once the host reads, what it took no longer counts.
      host.child.kill('SIGUSR2');
      await until(() => [1, 2, 3, 4, 5].every((sid) => host.full(sid) === undefined), 'the host to take what waited');
    } finally {
      host.child.kill('SIGKILL');
    }
  }, 60_000);

  it('is told to exit only after what waits for its sandboxes (a disposal above all) has gone', async () => {
    const pool = new HostPool({ count: 1, agentsPerHost: 4, spares: 0, hangMs: 20_000, record: () => undefined, entry: MUTE });
    await pool.readyOnce();
    const [host] = (pool as unknown as { hosts: Set<Host> }).hosts;
    let reported = 0;
    // What the host needs of a sandbox it ends: its pid, and hearing that the host has reported all it ran.
    host!.boxes.set(7, { pid: 70, reported: () => reported++ } as unknown as RemoteSandbox);
    // A reply of 9 MiB, more than the sandbox's share of the channel, goes alone: the disposal waits behind it.
    sendReplies(host!, 7, 1, 9 * MiB);
    host!.send({ t: 'dispose', sid: 7 });
    host!.release(7);
    const exited = new Promise<number | null>((resolve) => host!.child.once('exit', (code) => resolve(code)));
    const closed = pool.close();
    host!.child.kill('SIGUSR2');
    await closed;
    // 0: the host had the disposal before the exit (3: it exited without it).
    expect(await exited).toBe(0);
    expect(reported).toBe(1);
  }, 60_000);

  it('still ends a host told to exit that takes nothing of what waits (after hang_ms)', async () => {
    const records: string[] = [];
    const pool = new HostPool({ count: 1, agentsPerHost: 4, spares: 0, hangMs: 300, record: (d) => void records.push(d), entry: MUTE });
    await pool.readyOnce();
    const [host] = (pool as unknown as { hosts: Set<Host> }).hosts;
    host!.boxes.set(7, { pid: 70, reported: () => undefined } as unknown as RemoteSandbox);
    sendReplies(host!, 7, 1, 9 * MiB);
    host!.send({ t: 'dispose', sid: 7 });
    host!.release(7);
    // Never told to read: shutdown still ends.
    await pool.close();
    expect(host!.child.signalCode).toBe('SIGKILL');
    // Killed once: as one that had not taken what waited when told to exit (or, on a slow machine, by the heartbeat before that).
    expect(records.filter((d) => d.includes('killed'))).toEqual([expect.stringMatching(/^sandbox host 1 \(pid \d+\) (had not taken what waited for its sandboxes 300 ms after it was told to exit|stopped answering for 300 ms): killed$/)]);
  }, 60_000);
});
