/**
 * scale: 1,000 concurrent agents each making 1,000 getpid syscalls. Reports
 * wall seconds from the first spawn to the last exit, and checks that no
 * process was lost (every one exits 0 having made exactly its syscalls) and
 * that the decision log holds every syscall and lifecycle record. For scale,
 * the same run first does 1,000 bare isolates x 1,000 host callbacks (no
 * kernel: isolated-vm alone, async run like the kernel's sandboxes).
 */
import ivm from 'isolated-vm';
import { MemoryDecisionLog } from '../kernel/decision-log.ts';
import type { ExitRecord } from '../kernel/process.ts';
import { programFromSource } from '../kernel/program.ts';
import { type Bench, type BenchOptions, collect, type Figure, nowNs, quietKernel } from './stats.ts';

const AGENTS = 1000;
const CALLS = 1000;
const MIB = 1024 * 1024;

const AGENT = `
const nr = SYS.SYS_GETPID;
let bad = 0;
for (let i = 0; i < ${CALLS}; i++) {
  const r = syscall(nr);
  if (r === null || typeof r !== 'object' || r.v !== sys.pid) bad++;
}
if (bad > 0) throw new Error(bad + ' getpid calls failed');`;

/** bareSeconds runs AGENTS bare isolates making CALLS callbacks each; wall seconds. */
async function bareSeconds(): Promise<number> {
  let calls = 0;
  const t0 = nowNs();
  const runs: Promise<void>[] = [];
  for (let i = 0; i < AGENTS; i++) {
    const isolate = new ivm.Isolate({ memoryLimit: 64 });
    const context = isolate.createContextSync();
    context.global.setSync('__cb', new ivm.Callback((x: unknown) => (calls++, { v: x })));
    const script = isolate.compileScriptSync(`for (let i = 0; i < ${CALLS}; i++) __cb(i);`);
    runs.push(script.run(context).then(() => isolate.dispose()));
  }
  await Promise.all(runs);
  const seconds = Number(nowNs() - t0) / 1e9;
  if (calls !== AGENTS * CALLS) throw new Error(`bare scale: ${calls} callbacks, expected ${AGENTS * CALLS}`);
  return seconds;
}

export const scaleBench: Bench = {
  name: 'scale',
  keys: [
    'agents_1000x1000_s',
    'agents_1000x1000_all_recorded',
    'agents_1000x1000_lost',
    'bare_1000x1000_s',
    'agents_1000x1000_over_bare',
    'agents_1000x1000_syscalls_per_s',
    'agents_1000x1000_peak_rss_mib',
  ],
  async run({ log }: BenchOptions): Promise<Figure[]> {
    collect();
    const bare = await bareSeconds();
    log(`scale: bare isolated-vm ${AGENTS}x${CALLS} callbacks in ${bare.toFixed(1)} s`);
    collect();
    const recorder = new MemoryDecisionLog(4 * AGENTS * CALLS);
    const kernel = quietKernel({ recorder });
    const program = programFromSource('getpid-loop.js', AGENT);
    let peakRss = process.memoryUsage().rss;
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }, 100);
    let exits: ExitRecord[];
    let seconds: number;
    try {
      const t0 = nowNs();
      const pids: number[] = [];
      for (let i = 0; i < AGENTS; i++) pids.push(kernel.spawn(program).pid);
      const spawnedMs = Number(nowNs() - t0) / 1e6;
      log(`scale: ${AGENTS} agents spawned in ${spawnedMs.toFixed(0)} ms`);
      exits = await Promise.all(pids.map((pid) => kernel.wait(pid)));
      seconds = Number(nowNs() - t0) / 1e9;
    } finally {
      clearInterval(sampler);
      await kernel.shutdown();
    }

    // Lost: anything that did not exit 0 having made exactly its syscalls.
    const lost = exits.filter((e) => e.status !== 0 || e.syscalls !== CALLS);
    for (const e of lost.slice(0, 3)) log(`scale: pid ${e.pid} status ${e.status} after ${e.syscalls} syscalls: ${JSON.stringify(e.reason).slice(0, 200)}`);

    // Every syscall and every spawn and exit must be in the log, in that number exactly, besides the kernel's own start record
    // (counters start from zero there: kernel/recorder/start-record.ts).
    const expected = AGENTS * CALLS + 2 * AGENTS + 1;
    let syscalls = 0;
    let lifecycle = 0;
    let started = 0;
    const perPid = new Map<number, number>();
    for (const rec of recorder.list()) {
      if (rec.type === 'syscall' && rec.syscall === 'SYS_GETPID' && rec.effect === 'allow') {
        syscalls++;
        perPid.set(rec.pid, (perPid.get(rec.pid) ?? 0) + 1);
      } else if (rec.type === 'spawn' || rec.type === 'exit') lifecycle++;
      else if (rec.type === 'policy' && rec.pid === 0) started++;
    }
    const everyPid = exits.every((e) => perPid.get(e.pid) === CALLS);
    const allRecorded = recorder.count === expected && syscalls === AGENTS * CALLS && lifecycle === 2 * AGENTS && started === 1 && everyPid;
    log(`scale: ${seconds.toFixed(1)} s; recorder count ${recorder.count} (expected ${expected}), ${syscalls} getpid records, ${lifecycle} lifecycle records`);

    return [
      { key: 'agents_1000x1000_s', value: seconds, unit: 's', note: `${AGENTS} agents x ${CALLS} getpid, spawn to last exit, one run` },
      {
        key: 'agents_1000x1000_all_recorded',
        value: allRecorded && lost.length === 0,
        unit: 'bool',
        target: { op: 'true' },
        note: `recorder count ${recorder.count} of ${expected} expected (${AGENTS * CALLS} syscalls + ${2 * AGENTS} spawn/exit + the kernel's start record)`,
      },
      { key: 'agents_1000x1000_lost', value: lost.length, unit: 'procs', target: { op: '<=', bound: 0 } },
      { key: 'bare_1000x1000_s', value: bare, unit: 's', note: `same run, ${AGENTS} bare isolates x ${CALLS} callbacks` },
      { key: 'agents_1000x1000_over_bare', value: seconds / bare, unit: 'x' },
      { key: 'agents_1000x1000_syscalls_per_s', value: (AGENTS * CALLS) / seconds, unit: '1/s' },
      { key: 'agents_1000x1000_peak_rss_mib', value: peakRss / MIB, unit: 'MiB' },
    ];
  },
};
