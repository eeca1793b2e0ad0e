/**
 * An agent's replies fill its host's channel (an attacker pass): 1,024
 * asynchronous calls at once (40 reads of 1 MiB, 984 random(65536)) made
 * ~100 MiB of replies, and the kernel killed the host as one that "stopped
 * reading its channel" once 64 MiB of them waited, every agent on it lost
 * (about 1 run in 3; five such children killed every host). Here the host
 * stops reading for a moment once the flood begins (slow-host.ts), so the
 * replies always pile up: they wait in the agent's own outbox
 * (kernel/hosts/outbox.ts), the host lives and its neighbour ends well. The
 * flooder ends as it would in the kernel's own process (its heap cannot
 * hold 100 MiB of answers at once), never as `lost`. A host is killed for
 * its channel only when it reads nothing of it for hang_ms.
 */
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryDecisionLog } from '../../kernel/decision-log.ts';
import type { Kernel } from '../../kernel/kernel.ts';
import { programFromSource } from '../../kernel/program.ts';
import { capture, testKernel } from '../helpers.ts';
import { clearSlowHost, slowHost } from './slow-host-settings.ts';

const SLOW = fileURLToPath(new URL('./slow-host.ts', import.meta.url));

const FLOOD = `
  sys.writeFile('mem/working/big', new Uint8Array(1 << 20));
  const fds = Array.from({ length: 40 }, () => sys.open('mem/working/big'));
  await Promise.allSettled([...fds.map((fd) => sys.async.read(fd, 1 << 20)), ...Array.from({ length: 984 }, () => sys.async.random(65536))]);
`;

let kernel: Kernel | undefined;
afterEach(async () => {
  await kernel?.shutdown();
  kernel = undefined;
  clearSlowHost();
});

describe('an agent flooding its host with replies', () => {
  it('waits for its own replies; the host, slow to read, lives and its neighbour ends well', async () => {
    slowHost({ after: 1 << 20, pauseMs: 3000 });
    const log = new MemoryDecisionLog();
    kernel = testKernel({ recorder: log, hosts: { count: 1, agentsPerHost: 8, spares: 0, hangMs: 20_000, entry: SLOW } }).kernel;
    const out = capture();
    const neighbour = await kernel.spawnAsync(programFromSource('neighbour.js', 'for (let i = 0; i < 100; i++) await new Promise((r) => setTimeout(r, 20)); console.log("neighbour done");'), { stdout: out.sink, stderr: out.sink });
    const flooder = await kernel.spawnAsync(programFromSource('flood.js', FLOOD), { stdout: () => {}, stderr: () => {} });
    const [f, n] = await Promise.all([kernel.wait(flooder.pid), kernel.wait(neighbour.pid)]);
    const events = log.list().flatMap((r) => (r.type === 'limit' && 'detail' in r ? [r.detail] : []));
    expect(events.filter((d) => /killed|lost/.test(d))).toEqual([]);
    expect(n).toMatchObject({ status: 0, reason: { kind: 'exit' } });
    expect(out.text).toBe('neighbour done\n');
    expect(JSON.stringify(f.reason)).not.toMatch(/lost/);
    expect(kernel.hosts?.info().map((h) => [h.id, h.state])).toEqual([[1, 'ready']]);
  }, 120_000);
});
