// A kernel with one sandbox host, whose isolate takes V8's catastrophic path; once that agent is gone, the kernel prints
// its host's pid and SIGKILLs itself (test/hosts/kernel-gone.test.ts).
import { Kernel } from '../../kernel/kernel.ts';
import { programFromSource } from '../../kernel/program.ts';

const kernel = new Kernel({ hosts: { count: 1, agentsPerHost: 4, spares: 0 }, stdout: () => {}, stderr: () => {} });
await kernel.spawnAsync(programFromSource('idle.js', 'await new Promise(() => {});'));
const bad = await kernel.spawnAsync(programFromSource('bad.js', "const o = {}; let i = 0; while (true) o['k' + i++] = i;"));
await kernel.wait(bad.pid);
process.stdout.write(`${JSON.stringify((kernel.hosts?.info() ?? []).map((h) => h.pid))}\n`, () => process.kill(process.pid, 'SIGKILL'));
