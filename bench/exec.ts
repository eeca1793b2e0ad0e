/**
 * SYS_EXEC overhead: an agent calling a no-op tool through the whole kernel
 * pipeline (decode, capability, policy with a tools rule, decision record,
 * registry lookup, schema check, run, output check and copy) against the
 * same no-op function called directly from an isolate set up the same way,
 * through a bare `ivm.Callback` — the cheapest way ring 3 can reach a host
 * function at all. Each round runs the direct loop and then the SYS_EXEC
 * loop back to back, so both see the same thread hand-over regime (see
 * README); the overhead is the median of the per-round differences.
 */
import { fileURLToPath } from 'node:url';
import ivm from 'isolated-vm';
import { parsePolicy } from '../kernel/policy/load.ts';
import { programFromSource } from '../kernel/program.ts';
import { ToolRegistry, type ToolSpec } from '../kernel/tools/registry.ts';
import { type Bench, type BenchOptions, callsFor, type Figure, median, perCallNs, quietKernel, runScript, spread } from './stats.ts';

const SAMPLE_MS = 250;
const WARMUP = 500;

/** NOOP is the tool both loops call: no arguments, returns null. */
const NOOP: ToolSpec = {
  name: 'bench.noop',
  description: 'does nothing',
  inputSchema: { type: 'object', additionalProperties: false, properties: {} },
  risk: 'low',
  timeoutMs: 1000,
  maxOutputBytes: 64,
  source: 'bench',
  run: () => null,
};

const POLICY = parsePolicy(
  ['version: 1', 'rules:', '  - { id: out, effect: allow, syscalls: [SYS_WRITE] }', '  - { id: noop, effect: allow, syscalls: [SYS_EXEC], tools: [bench.noop] }', ''].join('\n'),
  'bench-exec.yaml',
);

const EXEC_AGENT = `
const n = Number(sys.args[0]);
const nr = SYS.SYS_EXEC;
let r;
for (let i = 0; i < ${WARMUP}; i++) r = syscall(nr, 'bench.noop');
if (!r || !r.v || r.v.tool !== 'bench.noop') throw new Error('exec: ' + JSON.stringify(r));
const t0 = Date.now();
for (let i = 0; i < n; i++) r = syscall(nr, 'bench.noop');
const ms = Date.now() - t0;
if (!r || !r.v || r.v.output !== null) throw new Error('exec: ' + JSON.stringify(r));
console.log(JSON.stringify({ ms, n }));`;

/** DirectIsolate calls NOOP.run through one plain callback, from an isolate run with async script.run() as agents are. */
class DirectIsolate {
  private readonly isolate = new ivm.Isolate({ memoryLimit: 64 });
  private readonly context = this.isolate.createContextSync();

  constructor() {
    const controller = new AbortController();
    const call = { caller: { pid: 0, agentId: 'bench', addTokens: () => {} }, signal: controller.signal, maxOutputBytes: NOOP.maxOutputBytes, timeoutMs: NOOP.timeoutMs };
    this.context.global.setSync('__noop', new ivm.Callback(() => NOOP.run({}, call)));
    this.isolate
      .compileScriptSync(
        `globalThis.__loop = function (n) {
           const f = __noop;
           let r;
           for (let i = 0; i < ${WARMUP}; i++) r = f();
           const t0 = Date.now();
           for (let i = 0; i < n; i++) r = f();
           if (r !== null) throw new Error('noop returned ' + r);
           return Date.now() - t0;
         };`,
      )
      .runSync(this.context);
  }

  async nsPerCall(n: number): Promise<number> {
    const script = this.isolate.compileScriptSync(`__loop(${n})`);
    try {
      return perCallNs((await script.run(this.context)) as number, n);
    } finally {
      script.release();
    }
  }

  dispose(): void {
    this.context.release();
    this.isolate.dispose();
  }
}

async function execNsPerCall(n: number): Promise<number> {
  const tools = new ToolRegistry();
  tools.register(NOOP);
  const kernel = quietKernel({ policy: POLICY, tools });
  try {
    let out = '';
    const decoder = new TextDecoder();
    const proc = kernel.spawn(programFromSource('bench-exec.js', EXEC_AGENT), {
      argv: [String(n)],
      manifest: { capabilities: ['tool:bench.noop'] },
      stdout: (chunk) => void (out += decoder.decode(chunk)),
    });
    const exit = await kernel.wait(proc.pid);
    if (exit.status !== 0) throw new Error(`exec bench agent exited ${exit.status}: ${JSON.stringify(exit.reason)}`);
    const result = JSON.parse(out.trim().split('\n').at(-1) ?? '') as { ms: number; n: number };
    return perCallNs(result.ms, result.n);
  } finally {
    await kernel.shutdown();
  }
}

async function measureExec({ rounds, log }: BenchOptions): Promise<Figure[]> {
  const direct = new DirectIsolate();
  try {
    const nDirect = callsFor(await direct.nsPerCall(2000), SAMPLE_MS);
    const nExec = callsFor(await execNsPerCall(2000), SAMPLE_MS);
    log(`exec: loops of ${nDirect} direct and ${nExec} SYS_EXEC calls`);
    const directNs: number[] = [];
    const execNs: number[] = [];
    const overheadUs: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const d = await direct.nsPerCall(nDirect);
      const e = await execNsPerCall(nExec);
      directNs.push(d);
      execNs.push(e);
      overheadUs.push((e - d) / 1000);
      log(`exec round ${r + 1}/${rounds}: direct ${(d / 1000).toFixed(1)} µs, SYS_EXEC ${(e / 1000).toFixed(1)} µs`);
    }
    return [
      { key: 'exec_overhead_us', value: median(overheadUs), unit: 'µs', target: { op: '<=', bound: 25 }, note: `median of per-round SYS_EXEC − direct, ${spread(overheadUs, 1)}` },
      { key: 'exec_noop_us', value: median(execNs) / 1000, unit: 'µs', note: `SYS_EXEC of a no-op tool from an agent, ${spread(execNs.map((v) => v / 1000), 1)}` },
      { key: 'exec_direct_us', value: median(directNs) / 1000, unit: 'µs', note: `the same function through one bare ivm.Callback, ${spread(directNs.map((v) => v / 1000), 1)}` },
    ];
  } finally {
    direct.dispose();
  }
}

/**
 * The exec bench runs in a child pinned to one CPU (as crossing1cpu does):
 * unpinned, both loops swing between the ~7 µs and ~70 µs hand-over regimes
 * of this VM from one sample to the next, which swamps a difference of a few
 * microseconds. In process (unpinned) where taskset is missing.
 */
async function measureExecPinned(options: BenchOptions): Promise<Figure[]> {
  let out: string;
  try {
    out = await runScript(fileURLToPath(import.meta.url), [String(options.rounds)], { pinCpu: 0 });
  } catch (err) {
    options.log(`exec: pinned run failed (${err instanceof Error ? err.message.split('\n')[0] : String(err)}); measuring unpinned`);
    return measureExec(options);
  }
  const figures = JSON.parse(out.trim().split('\n').at(-1) ?? '[]') as Figure[];
  return figures.map((f) => ({ ...f, note: `${f.note ?? ''}; pinned to one CPU` }));
}

export const execBench: Bench = { name: 'exec', keys: ['exec_overhead_us', 'exec_noop_us', 'exec_direct_us'], run: measureExecPinned };

// As a script (for the pinned run): measure and print the figures as one JSON line.
if (import.meta.main) {
  const rounds = Number(process.argv[2]) || 7;
  console.log(JSON.stringify(await measureExec({ rounds, log: (line) => void process.stderr.write(`# [1cpu] ${line}\n`) })));
}
