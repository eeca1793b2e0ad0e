/**
 * containment: the containment issue's figures.
 *  - policy_eval_hostile_args_us: one decision on a request carrying a 64 KB
 *    argument, against the glob-heavy benchmark policy (the 1,000 rules of
 *    bench/policy-set.ts plus 100 argument globs no index can skip, so every
 *    one of them is a candidate for the hostile request). Beside it, the same
 *    with an argument just under the match limit (the most a glob or regex
 *    ever reads) and with an ordinary request.
 *  - policy_yaml_one_map_ratio: loading a YAML policy whose one map holds
 *    40,000 keys, over loading the same 40,000 keys in 400 maps of 100 (the
 *    same parse with no map large): a duplicate-key check that compares
 *    every key with every other makes it hundreds (23 s once); linear, ~1.
 *  - kernel_stall_max_ms: a healthy agent times each of its syscalls from
 *    inside its isolate while a hostile agent in the same kernel runs each
 *    availability attack of the issue in turn; the figure is the longest
 *    syscall the healthy agent saw (a stall of the shared event loop shows up
 *    there). The event loop's own longest delay (perf_hooks) is in the note.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Kernel } from '../kernel/kernel.ts';
import { PolicyEngine } from '../kernel/policy/engine.ts';
import { parsePolicy, type LoadedPolicy } from '../kernel/policy/load.ts';
import { MATCH_LIMIT } from '../kernel/policy/matchers.ts';
import type { PolicyRequest } from '../abi/policy-request.ts';
import { programFromSource } from '../kernel/program.ts';
import { FileDecisionLog } from '../kernel/recorder/file-log.ts';
import { pdlDocument, ruleSpecs } from './policy-set.ts';
import { type Bench, type BenchOptions, type Figure, median, quietKernel, spread } from './stats.ts';

/** globHeavyPolicy: the 1,000 benchmark rules, 100 unindexable argument globs, and the default policy's own-tree rules. */
function globHeavyPolicy(): LoadedPolicy {
  const doc = pdlDocument(ruleSpecs());
  const extra = [];
  for (let i = 0; i < 50; i++) extra.push({ id: `url-glob-${i}`, effect: 'deny' as const, syscalls: ['SYS_EXEC'], tools: ['http.get', 'http.request'], args: [{ arg: 'url', glob: `**/secret-${i}/**` }] });
  for (let i = 0; i < 50; i++) extra.push({ id: `cmd-glob-${i}`, effect: 'deny' as const, syscalls: ['SYS_EXEC'], tools: ['shell.run'], args: [{ arg: 'cmd', glob: `*${'?*'.repeat(i % 8)}forbidden-${i}*` }] });
  const own = [
    { id: 'own-tree', effect: 'allow' as const, syscalls: ['SYS_OPEN', 'SYS_STAT', 'SYS_READDIR', 'SYS_MKDIR', 'SYS_UNLINK'], paths: ['/agent/${agent}', '/agent/${agent}/**'] },
    { id: 'checks', effect: 'allow' as const, syscalls: ['SYS_CHECKPOLICY'] },
  ];
  return parsePolicy(JSON.stringify({ ...doc, rules: [...own, ...doc.rules, ...extra] }), 'bench-glob-heavy.json');
}

/** yamlPolicy is a YAML policy of `maps` rules, each with `keys` labels (one map of `keys` keys a rule). */
function yamlPolicy(maps: number, keys: number): string {
  const lines = ['version: 1', 'name: many-keys', 'rules:'];
  for (let m = 0; m < maps; m++) {
    lines.push(`  - id: r${m}`, '    effect: allow', '    syscalls: [SYS_GETPID]', '    labels:');
    for (let k = 0; k < keys; k++) lines.push(`      k${m}-${k}: v`);
  }
  return `${lines.join('\n')}\n`;
}

/** msToLoad is how long parsePolicy takes over YAML `source`. */
function msToLoad(source: string): number {
  const started = performance.now();
  parsePolicy(source, 'many-keys.yaml');
  return performance.now() - started;
}

const HOSTILE_BYTES = 64 * 1024;

/**
 * hostile builds requests whose url and cmd arguments are `size` characters
 * of near misses for every glob, with every literal the globs need planted
 * (an agent can read the policy in force), so every glob reads the whole
 * argument and none matches.
 */
function hostileRequests(size: number): PolicyRequest[] {
  const labels = { team: 'team-01' };
  const fill = (head: string, unit: string) => (head + unit.repeat(Math.ceil(size / unit.length))).slice(0, size);
  const secrets = Array.from({ length: 50 }, (_, i) => `/secret-${i}x`).join('');
  const forbidden = Array.from({ length: 50 }, (_, i) => `forbidden-${i}/`).join('');
  return [
    { agentId: 'agent-01', labels, syscall: 'SYS_EXEC', access: 'write', tool: 'http.get', args: { url: fill(`https://api-001.example.com/${secrets}`, 'secret-1x/a') } },
    { agentId: 'agent-01', labels, syscall: 'SYS_EXEC', access: 'write', tool: 'shell.run', args: { cmd: fill(`git ${forbidden}`, 'ab/') } },
    { agentId: 'agent-01', labels, syscall: 'SYS_EXEC', access: 'write', tool: 'http.request', args: { url: fill(secrets, '**/a'), method: 'GET' } },
  ];
}

/** usPerDecision times decide() over `requests` for about `ms` and returns µs per decision. */
function usPerDecision(engine: PolicyEngine, requests: readonly PolicyRequest[], ms: number): number {
  let n = 0;
  const started = performance.now();
  while (performance.now() - started < ms) {
    for (const r of requests) engine.decide(r);
    n += requests.length;
  }
  return ((performance.now() - started) * 1000) / n;
}

/** The healthy agent: a syscall, then a millisecond of its own work, for as long as argv[0] ms; it prints the longest syscall it saw. */
const HEALTHY = `
  const until = Date.now() + Number(sys.args[0]);
  let worst = 0, calls = 0;
  console.log('ready');
  while (Date.now() < until) {
    const t0 = Date.now();
    sys.getpid();
    const dt = Date.now() - t0;
    if (dt > worst) worst = dt;
    calls++;
    const t1 = Date.now(); while (Date.now() - t1 < 1) {}
  }
  console.log(JSON.stringify({ worst, calls }));
`;

/** The availability attacks of the issue, each a hostile program. */
const ATTACKS: Readonly<Record<string, string>> = {
  'typescript-spawn': `
    const lines = []; for (let i = 0; i < 800; i++) lines.push('const v' + i + ': number = ' + i + ';');
    lines.push('const broken: = 1;');
    sys.writeFile('mem/big.ts', lines.join('\\n'));
    for (let i = 0; i < 5; i++) syscall(SYS.SYS_SPAWN, 'mem/big.ts', []);`,
  'glob-arguments': `
    const big = 'secret-1x/a'.repeat(6000);
    for (let i = 0; i < 40; i++) {
      sys.checkPolicy('SYS_EXEC', { tool: 'http.get', args: { url: 'https://api-001.example.com/' + big.slice(0, 65000) } });
      sys.checkPolicy('SYS_EXEC', { tool: 'shell.run', args: { cmd: [big.slice(0, 60000), big.slice(0, 60000), big.slice(0, 60000), big.slice(0, 60000)] } });
    }`,
  'vfs-fill-and-checkpoint': `
    const chunk = 'x'.repeat(1 << 20);
    for (let i = 0; i < 64; i++) { try { sys.writeFile('mem/working/f' + i, chunk); } catch (e) { break; } }
    for (let i = 0; i < 8; i++) sys.unlink('mem/working/f' + i);
    try { sys.checkpoint(); } catch (e) {}`,
  'fingerprint-on-close': `
    const fd = sys.open('mem/working/big.txt', 'w');
    const line = 'some generated source line that goes on and on ' + 'x'.repeat(64) + '\\n';
    const chunk = line.repeat(Math.floor((1 << 20) / line.length));
    for (let i = 0; i < 16; i++) sys.write(fd, chunk);
    sys.close(fd);`,
  'unknown-syscall-flood': `
    const until = Date.now() + 1500;
    while (Date.now() < until) syscall(999);`,
  'big-readdir': `
    for (let i = 0; i < 8000; i++) { try { sys.writeFile('mem/working/e' + i, ''); } catch (e) { break; } }
    for (let i = 0; i < 20; i++) sys.readdir('mem/working');`,
  'fork-bomb': `
    for (let i = 0; i < 200; i++) { try { sys.spawn('bomb'); } catch (e) {} }
    await new Promise(() => {});`,
};

async function stallUnder(kernel: Kernel, attack: string, source: string, healthyMs: number): Promise<{ worstMs: number; loopMaxMs: number; calls: number }> {
  const decoder = new TextDecoder();
  let out = '';
  const loop = monitorEventLoopDelay({ resolution: 1 });
  const healthy = kernel.spawn(programFromSource('healthy.js', HEALTHY), { agentId: 'healthy', argv: [String(healthyMs)], stdout: (c) => void (out += decoder.decode(c)) });
  while (!out.includes('ready')) await new Promise((r) => setTimeout(r, 5));
  loop.enable();
  const hostile = kernel.spawn(programFromSource(`${attack}.js`, source), { agentId: `hostile-${attack}`, limits: { wallMs: healthyMs } });
  await kernel.wait(healthy.pid);
  loop.disable();
  if (kernel.get(hostile.pid)?.exit === undefined) kernel.kill(hostile.pid, 'SIGKILL');
  await kernel.wait(hostile.pid);
  for (const p of kernel.ps()) if (p.state !== 'exited') kernel.kill(p.pid, 'SIGKILL');
  for (const p of kernel.ps()) await kernel.wait(p.pid);
  const report = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as { worst: number; calls: number };
  return { worstMs: report.worst, loopMaxMs: loop.max / 1e6, calls: report.calls };
}

async function run(options: BenchOptions): Promise<Figure[]> {
  const policy = globHeavyPolicy();
  const engine = new PolicyEngine(policy);
  const hostile = hostileRequests(HOSTILE_BYTES);
  const atLimit = hostileRequests(MATCH_LIMIT - 64);
  const ordinary: PolicyRequest[] = [{ agentId: 'agent-01', labels: { team: 'team-01' }, syscall: 'SYS_EXEC', access: 'write', tool: 'http.get', args: { url: 'https://api-001.example.com/v1/items?page=2' } }];
  const rounds = { hostile: [] as number[], atLimit: [] as number[], ordinary: [] as number[] };
  for (let r = 0; r < options.rounds; r++) {
    rounds.hostile.push(usPerDecision(engine, hostile, 150));
    rounds.atLimit.push(usPerDecision(engine, atLimit, 150));
    rounds.ordinary.push(usPerDecision(engine, ordinary, 150));
  }
  options.log(`hostile-argument decisions: ${rounds.hostile.length} rounds`);

  const keys = { oneMap: [] as number[], manyMaps: [] as number[] };
  const oneMap = yamlPolicy(1, 40_000);
  const manyMaps = yamlPolicy(400, 100);
  for (let r = 0; r < Math.min(options.rounds, 5); r++) {
    keys.oneMap.push(msToLoad(oneMap));
    keys.manyMaps.push(msToLoad(manyMaps));
  }
  const keysRatio = keys.oneMap.map((ms, i) => ms / keys.manyMaps[i]!);
  options.log(`policy YAML with 40,000 keys in one map: ${median(keys.oneMap).toFixed(0)} ms; in 400 maps: ${median(keys.manyMaps).toFixed(0)} ms`);

  const dir = mkdtempSync(join(tmpdir(), 'bench-containment-'));
  const recorder = new FileDecisionLog(join(dir, 'decisions.jsonl'));
  const kernel = quietKernel({ policy: parsePolicy('version: 1\nrules:\n  - { id: all, effect: allow }\n', 'allow.yaml'), recorder, limits: { syscallsPerSecond: 10_000 }, programs: { bomb: programFromSource('bomb.js', 'for (;;) { try { sys.spawn("bomb"); } catch (e) { break; } } await new Promise(() => {});') } });
  const stalls: { attack: string; worstMs: number; loopMaxMs: number; calls: number }[] = [];
  try {
    for (const [attack, source] of Object.entries(ATTACKS)) {
      const seen = await stallUnder(kernel, attack, source, 2500);
      stalls.push({ attack, ...seen });
      options.log(`stall under ${attack}: ${seen.worstMs} ms seen by the healthy agent, event loop max ${seen.loopMaxMs.toFixed(1)} ms, ${seen.calls} healthy syscalls`);
    }
  } finally {
    await kernel.shutdown();
    recorder.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const worst = stalls.reduce((a, b) => (b.worstMs > a.worstMs ? b : a));
  const worstLoop = stalls.reduce((a, b) => (b.loopMaxMs > a.loopMaxMs ? b : a));
  return [
    { key: 'policy_eval_hostile_args_us', value: median(rounds.hostile), unit: 'µs', target: { op: '<=', bound: 200 }, note: `64 KB url and cmd arguments against the 1,100-rule glob-heavy policy; ${spread(rounds.hostile, 2)}` },
    { key: 'policy_eval_at_match_limit_us', value: median(rounds.atLimit), unit: 'µs', note: `arguments of ${MATCH_LIMIT - 64} characters (the most a glob or regex reads) holding every literal the globs need: every candidate automaton reads all of it; bounded per call, charged to the agent's kernel-time share; ${spread(rounds.atLimit, 2)}` },
    { key: 'policy_eval_ordinary_us', value: median(rounds.ordinary), unit: 'µs', note: spread(rounds.ordinary, 3) },
    {
      key: 'policy_yaml_one_map_ratio',
      value: median(keysRatio),
      unit: 'x',
      target: { op: '<=', bound: 3 },
      note: `a YAML policy of 40,000 keys in one map ${median(keys.oneMap).toFixed(0)} ms (${spread(keys.oneMap, 0)}), in 400 maps of 100 ${median(keys.manyMaps).toFixed(0)} ms (${spread(keys.manyMaps, 0)}), side by side; ${spread(keysRatio, 2)}`,
    },
    {
      key: 'kernel_stall_max_ms',
      value: worst.worstMs,
      unit: 'ms',
      target: { op: '<=', bound: 50 },
      note: `longest syscall a healthy agent saw, worst under ${worst.attack}; per attack: ${stalls.map((s) => `${s.attack} ${s.worstMs}`).join(', ')}; event loop max delay ${worstLoop.loopMaxMs.toFixed(1)} ms (under ${worstLoop.attack})`,
    },
  ];
}

export const containmentBench: Bench = {
  name: 'containment',
  keys: ['policy_eval_hostile_args_us', 'policy_eval_at_match_limit_us', 'policy_eval_ordinary_us', 'policy_yaml_one_map_ratio', 'kernel_stall_max_ms'],
  run,
};
