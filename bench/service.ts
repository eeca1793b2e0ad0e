/**
 * service: a real agentd (child process, temporary state dir, a realistic
 * policy, the file recorder on) measured from outside.
 * - evaluate_rps / evaluate_p99_ms: autocannon against POST /v1/evaluate on
 *   loopback; every answer waits for its record to be written.
 * - agentctl_ps_ms: the whole `agentctl ps` command (a child process, wall
 *   time from spawn to exit) with 100 processes in the daemon.
 * agentd's CPU time per request is reported too: it does not depend on what
 * else the machine runs, so it says what one core could do on its own.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { type Bench, type BenchOptions, type Figure, median, sleep, spread } from './stats.ts';

const REPO = fileURLToPath(new URL('../', import.meta.url));
const NODE_FLAGS = ['--no-node-snapshot', '--disable-warning=ExperimentalWarning'];
/** The flags of bin/agentctl.js's shebang. */
const AGENTCTL_FLAGS = ['--disable-warning=ExperimentalWarning'];

/** A policy like one an operator would write for agents outside the kernel: labels, globs, argument patterns, a rate limit. */
const POLICY = `version: 1
name: bench-external
defaults: { approval_timeout_ms: 60000 }
rules:
  - id: finance-reads-data
    effect: allow
    syscalls: [file.read]
    labels: { team: finance }
    paths: ["/data/**"]
  - id: reports-write
    effect: allow
    syscalls: [file.write]
    paths: ["/reports/\${agent}/**"]
  - id: rates-api-only
    effect: allow
    syscalls: [http.get]
    tools: [http]
    args: [{ arg: url, glob: "https://api.example.com/**" }]
  - id: no-secrets
    effect: deny
    syscalls: [file.read, file.write]
    paths: ["**/*.key", "**/secrets/**"]
    risk: high
  - id: email-needs-a-human
    effect: require_approval
    syscalls: [email.send]
  - id: never-delete-ledgers
    effect: deny
    syscalls: [file.delete]
    paths: ["**/ledger*"]
  - id: own-fds
    effect: allow
    syscalls: [SYS_READ, SYS_WRITE, SYS_CLOSE, SYS_GETPID, SYS_EXIT, SYS_SIGACTION]
`;

const EVALUATE_BODY = JSON.stringify({
  agent: { id: 'report-bot', labels: { team: 'finance' } },
  action: 'file.read',
  resource: '/data/2026/ledger.csv',
  arguments: { offset: 0, length: 4096 },
  context: { task: 'monthly report', step: 3 },
});

const PROCESSES = 100;
const PS_RUNS = 11;

export interface Daemon {
  url: string;
  token: string;
  child: ChildProcess;
  dir: string;
}

/** startAgentd starts a real agentd as a child on a temporary state dir, with `config` (default: the bench policy, log not durable, no per-agent evaluation rate: the load is one agent's) and `files` beside it. */
export async function startAgentd(config = 'policy: policy.yaml\nlog: { durable: false }\nevaluate: { per_second: 1000000, log_bytes_per_second: 1000000000000 }\n', files: Record<string, string> = { 'policy.yaml': POLICY }): Promise<Daemon> {
  const dir = mkdtempSync(join(tmpdir(), 'agentd-bench-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  writeFileSync(join(dir, 'agentd.yaml'), config);
  const child = spawn(process.execPath, [...NODE_FLAGS, 'bin/agentd.ts', '--config', join(dir, 'agentd.yaml'), '--port', '0', '--state-dir', join(dir, 'state')], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const m = /agentd listening on (\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.on('exit', (status) => reject(new Error(`agentd exited ${status}: ${out}`)));
  });
  return { url, token: readFileSync(join(dir, 'state', 'agentd.token'), 'utf8').trim(), child, dir };
}

export async function stopAgentd(d: Daemon): Promise<void> {
  const exited = new Promise((resolve) => d.child.on('exit', resolve));
  d.child.kill('SIGTERM');
  await exited;
  rmSync(d.dir, { recursive: true, force: true });
}

/** cpuSeconds reads a process's user+system CPU time from /proc (Linux). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function cannon(d: Daemon, options: { duration: number; connections: number; pipelining: number }): Promise<autocannon.Result> {
  return autocannon({
    url: `${d.url}/v1/evaluate`,
    method: 'POST',
    headers: { authorization: `Bearer ${d.token}`, 'content-type': 'application/json' },
    body: EVALUATE_BODY,
    ...options,
  });
}

export async function api(d: Daemon, method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(`${d.url}${path}`, { method, headers: { authorization: `Bearer ${d.token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

/**
 * timeCommand runs `agentctl args` as the command runs (bin/agentctl.js with its shebang's flags, Node's start-up
 * snapshot on: only `agentctl run` turns it off, see bin/snapshot-flag.ts) and returns its wall time in ms (spawn to
 * exit) and its output. From the repository, so the command strips its TypeScript as it loads (the installed
 * package runs built JavaScript and starts faster).
 */
function timeCommand(d: Daemon, args: readonly string[]): Promise<{ ms: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [...AGENTCTL_FLAGS, 'bin/agentctl.js', ...args], {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, AGENTD_URL: d.url, AGENTD_TOKEN: d.token },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('close', (status) => (status === 0 ? resolve({ ms: performance.now() - t0, stdout }) : reject(new Error(`agentctl ${args.join(' ')} exited ${status}: ${stderr}`))));
  });
}

async function evaluateFigures(log: BenchOptions['log']): Promise<Figure[]> {
  const d = await startAgentd();
  try {
    const first = await api(d, 'POST', '/v1/evaluate', JSON.parse(EVALUATE_BODY));
    if (first.decision !== 'allow' || first.rule !== 'finance-reads-data') throw new Error(`unexpected decision ${JSON.stringify(first)}`);
    await cannon(d, { duration: 3, connections: 10, pipelining: 1 }); // warm-up: JIT, caches
    const cpu0 = cpuSeconds(d.child.pid!);
    const r = await cannon(d, { duration: 10, connections: 10, pipelining: 1 });
    const cpu = cpuSeconds(d.child.pid!) - cpu0;
    const answered = r['2xx'];
    if (r.non2xx > 0 || r.errors > 0) throw new Error(`evaluate: ${r.non2xx} non-2xx answers, ${r.errors} errors`);
    const verify = await api(d, 'POST', '/v1/audit/verify');
    log(`service: ${answered} evaluations in ${r.duration.toFixed(1)} s, ${r.requests.average.toFixed(0)} req/s, p50 ${r.latency.p50} ms p99 ${r.latency.p99} ms; agentd CPU ${((cpu * 1e6) / answered).toFixed(0)} µs/request; log ${verify.records} records, ok ${verify.ok}`);
    return [
      { key: 'evaluate_rps', value: r.requests.average, unit: 'req/s', target: { op: '>=', bound: 15_000 }, note: `autocannon 10 s, 10 connections, no pipelining, recorder on (${verify.records} records verify: ${verify.ok})` },
      { key: 'evaluate_p99_ms', value: r.latency.p99, unit: 'ms', target: { op: '<=', bound: 5 }, note: `p50 ${r.latency.p50} ms, p99.9 ${r.latency.p99_9} ms` },
      { key: 'evaluate_agentd_cpu_us', value: (cpu * 1e6) / answered, unit: 'µs/req', note: `agentd's own CPU time per answered request (1e6 / this = what one core could answer)` },
    ];
  } finally {
    await stopAgentd(d);
  }
}

async function psFigures(log: BenchOptions['log']): Promise<Figure[]> {
  const d = await startAgentd();
  try {
    const source = "console.log('ready'); await new Promise(() => {});";
    for (let i = 0; i < PROCESSES; i++) await api(d, 'POST', '/v1/processes', { source, filename: 'idle.js', manifest: { id: `idle-${i}` } });
    for (let tries = 0; ; tries++) {
      const list = (await api(d, 'GET', '/v1/processes')) as { state: string }[];
      if (list.length === PROCESSES && list.every((p) => p.state === 'blocked')) break;
      if (tries > 600) throw new Error(`only ${list.filter((p) => p.state === 'blocked').length} of ${PROCESSES} agents went idle`);
      await sleep(50);
    }
    const samples: number[] = [];
    for (let i = 0; i < PS_RUNS + 2; i++) {
      const { ms, stdout } = await timeCommand(d, ['ps']);
      const rows = stdout.trim().split('\n').length - 1;
      if (rows !== PROCESSES) throw new Error(`agentctl ps printed ${rows} processes, expected ${PROCESSES}`);
      if (i >= 2) samples.push(ms);
    }
    log(`service: agentctl ps with ${PROCESSES} processes: ${spread(samples)} ms`);
    return [{ key: 'agentctl_ps_ms', value: median(samples), unit: 'ms', target: { op: '<=', bound: 300 }, note: `whole command as a child process (bin/agentctl.js from the repository: TypeScript stripped as it loads), median of ${PS_RUNS} after 2 warm-up, ${spread(samples)} ms` }];
  } finally {
    await stopAgentd(d);
  }
}

export const serviceBench: Bench = {
  name: 'service',
  keys: ['evaluate_rps', 'evaluate_p99_ms', 'evaluate_agentd_cpu_us', 'agentctl_ps_ms'],
  async run({ log }: BenchOptions): Promise<Figure[]> {
    return [...(await evaluateFigures(log)), ...(await psFigures(log))];
  },
};
