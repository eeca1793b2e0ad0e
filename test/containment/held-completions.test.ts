/**
 * Completions waiting for delivery to a process that does not yield are
 * bounded by MAX_HELD_BYTES (16 MiB) and MAX_DATA_CALLS. An attacker pass
 * found a directory page (SYS_READDIR on a Redis mount, where it completes
 * later: up to 1,024 names of 255 characters) weighed as 256 bytes and not
 * counted as a data call: an agent that issued 1,000 readdirs and then spun
 * made the kernel hold ~170 MB (kernel heap 77 → 248 MB), ten times the
 * bound, for one process. On the code before this test reads ~85–115 MB.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Kernel } from '../../kernel/kernel.ts';
import { programFromSource } from '../../kernel/program.ts';
import { RedisBackend } from '../../vfs/redis-backend.ts';
import { MAX_HELD_BYTES } from '../../kernel/async-calls.ts';
import { redisForTests } from '../redis.ts';

const env = await redisForTests('held-completions');

/** heap is the kernel's own heap and external memory, bytes. */
function heap(): number {
  const u = process.memoryUsage();
  return u.heapUsed + u.external;
}
afterAll(() => env?.cleanup());

describe.skipIf(env === undefined)('completions held for a spinning agent', () => {
  it('readdir pages of a Redis mount held for delivery stay near MAX_HELD_BYTES', async () => {
    const client = await env!.client();
    const kernel = new Kernel({ mounts: [{ path: 'mem/semantic', backend: (agentId: string) => new RedisBackend(client, { prefix: env!.prefix, root: `agent/${agentId}/mem/semantic` }) }] });
    const src = `
const pad = 'x'.repeat(240);
for (let i = 0; i < 1024; i++) sys.writeFile('mem/semantic/' + pad + String(i).padStart(6, '0'), '');
console.log('made');
const ps = [];
for (let i = 0; i < 1000; i++) ps.push(sys.async.readdir('mem/semantic').then(() => 0, () => 0));
const t0 = Date.now(); while (Date.now() - t0 < 6000) {}
sys.exit(0);`;
    let made = false;
    let base = 0;
    let peak = 0;
    const sampler = setInterval(() => { if (made) peak = Math.max(peak, heap() - base); }, 25);
    const proc = kernel.spawn(programFromSource('agent.js', src), { stdout: (c) => { if (new TextDecoder().decode(c).includes('made')) { base = heap(); made = true; } } });
    const exit = await kernel.wait(proc.pid);
    clearInterval(sampler);
    expect(exit.status).toBe(0);
    expect(peak).toBeLessThan(3 * MAX_HELD_BYTES);
  }, 60_000);
});
