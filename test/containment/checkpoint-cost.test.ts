/**
 * What a checkpoint costs the kernel is charged to the tree, in steps a
 * turn apart. An attacker pass found a checkpoint's walk of mem/ uncharged
 * and unbroken (kernel/checkpoint.ts copyTree: only file copies were steps):
 * an agent that filled mem/ with ~8,000 empty directories (within its inode
 * quota) and checkpointed in a loop kept the kernel's event loop ~100% busy
 * with stalls of 100+ ms, charged 9 ms of 3 s (kernel_ms_per_second never
 * bit).
 */
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel } from '../../kernel/kernel.ts';
import { programFromSource } from '../../kernel/program.ts';
import { capture, testKernel } from '../helpers.ts';

let kernel: Kernel | undefined;
afterEach(async () => {
  await kernel?.shutdown();
  kernel = undefined;
});

describe('checkpoints of a mem/ full of empty directories', () => {
  it('are charged to the tree and do not hold the kernel loop', async () => {
    kernel = testKernel().kernel;
    const out = capture();
    // Past its kernel_ms_per_second the tree's checkpoints are refused (EAGAIN): that is the bound. So may its last write be,
    // on a loaded machine (a CI run): it waits a second, without a syscall, before it reports.
    const src = `for (let i = 0; i < 8000; i++) sys.mkdir('mem/d' + i); console.log('ready'); const refused = {}; const t = performance.now(); while (performance.now() - t < 2000) { try { sys.checkpoint(); } catch (e) { refused[e.errno] = (refused[e.errno] ?? 0) + 1; } } for (let tries = 0; ; tries++) { const w = performance.now(); while (performance.now() - w < 1100) {} try { console.log(JSON.stringify(refused)); break; } catch (e) { if (tries > 3) throw e; } }`;
    const p = await kernel.spawnAsync(programFromSource('c.js', src), { stdout: out.sink, stderr: out.sink });
    while (!out.text.includes('ready')) await new Promise((r) => setTimeout(r, 5));
    const lineage = (p as unknown as { lineage: { kernelNs: number } }).lineage;
    const k0 = lineage.kernelNs;
    const elu0 = performance.eventLoopUtilization();
    let maxGap = 0;
    let last = performance.now();
    const iv = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
    }, 1);
    const exit = await kernel.wait(p.pid);
    clearInterval(iv);
    const busyMs = performance.eventLoopUtilization(elu0).active;
    const chargedMs = (lineage.kernelNs - k0) / 1e6;
    expect(exit.status, `${out.text} ${JSON.stringify(exit.reason)}`).toBe(0);
    expect(Object.keys(JSON.parse(out.text.trim().split('\n').at(-1)!) as object).filter((errno) => errno !== 'EAGAIN')).toEqual([]);
    // The kernel's time for the checkpoints is the tree's: at least a quarter of what the loop spent.
    expect(chargedMs).toBeGreaterThan(busyMs / 4);
    // And no single checkpoint holds the loop.
    expect(maxGap).toBeLessThan(50);
  }, 60_000);
});
