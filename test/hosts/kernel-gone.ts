// A kernel with one sandbox host, whose isolate takes V8's catastrophic path (test/hosts/kernel-gone.test.ts). Once
// that agent is gone the kernel prints its host's pid and, with `kill`, SIGKILLs itself; with `retire`, it ends its
// other agent, so that the host drains and is told to exit, and ends at once (before the grace it would kill it after).
import { Kernel } from '../../kernel/kernel.ts';
import { programFromSource } from '../../kernel/program.ts';

const kernel = new Kernel({ hosts: { count: 1, agentsPerHost: 4, spares: 0 }, stdout: () => {}, stderr: () => {} });
const idle = await kernel.spawnAsync(programFromSource('idle.js', 'await new Promise(() => {});'));
const bad = await kernel.spawnAsync(programFromSource('bad.js', "const o = {}; let i = 0; while (true) o['k' + i++] = i;"));
await kernel.wait(bad.pid);
const pids = (kernel.hosts?.info() ?? []).map((h) => h.pid);
if (process.argv[2] === 'retire') {
  kernel.kill(idle.pid, 'SIGKILL');
  await kernel.wait(idle.pid);
  // Told to exit once drained: the host is no longer among the pool's, or is on its way out.
  while ((kernel.hosts?.info() ?? []).some((h) => pids.includes(h.pid) && h.agents > 0)) await new Promise((resolve) => setTimeout(resolve, 10));
  await new Promise((resolve) => setTimeout(resolve, 50));
  process.stdout.write(`${JSON.stringify(pids)}\n`, () => process.exit(0));
} else process.stdout.write(`${JSON.stringify(pids)}\n`, () => process.kill(process.pid, 'SIGKILL'));
