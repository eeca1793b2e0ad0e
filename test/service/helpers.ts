/**
 * Helpers for the service tests: a real agentd child process on a random
 * port with its own state directory, agentctl run as a child process against
 * it, and authenticated requests to its HTTP API. Nothing here is a mock.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { until, within } from '../until.ts';

/** The shared wait (test/until.ts), here too for the tests that take their helpers from this file. */
export { until };

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const NODE_FLAGS = ['--no-node-snapshot', '--disable-warning=ExperimentalWarning'] as const;

/** A program body that prints `ready` and then sits idle for ever. */
export const IDLE_AGENT = "console.log('ready'); await new Promise(() => {});";

export interface Exit {
  status: number | null;
  signal: NodeJS.Signals | null;
}

export interface Agentd {
  readonly url: string;
  readonly token: string;
  readonly stateDir: string;
  readonly child: ChildProcess;
  /** The decision log agentd writes. */
  readonly logFile: string;
  stdout(): string;
  stderr(): string;
  /** Settles when the agentd process has exited. */
  readonly exited: Promise<Exit>;
  /** write puts a file in the scratch directory and returns its path. */
  write(name: string, text: string): string;
  /** api makes a request with the daemon's token (or `token`, or none with `null`). */
  api(method: string, path: string, body?: unknown, options?: { token?: string | null; raw?: string }): Promise<{ status: number; body: any; text: string }>;
  /** stop sends `signal` (SIGTERM by default) and waits for the process to end. */
  stop(signal?: NodeJS.Signals): Promise<Exit>;
  /** remove kills agentd if it still runs and deletes its directories. */
  remove(): Promise<void>;
}

/**
 * startAgentd starts `agentd --config <config> --port 0 --state-dir <tmp>`
 * and resolves once it says where it listens. `config` is the YAML text of
 * the configuration file; `files` are written next to it first (policies);
 * `stateDir` reuses the state of an earlier agentd.
 */
export async function startAgentd(config = '', files: Record<string, string> = {}, reuse: { stateDir?: string } = {}): Promise<Agentd> {
  const dir = mkdtempSync(join(tmpdir(), 'agentd-test-'));
  const write = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  for (const [name, text] of Object.entries(files)) write(name, text);
  const configFile = write('agentd.yaml', config);
  const stateDir = reuse.stateDir ?? join(dir, 'state');
  const child = spawn(process.execPath, [...NODE_FLAGS, 'bin/agentd.ts', '--config', configFile, '--port', '0', '--state-dir', stateDir], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: cleanEnv(),
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<Exit>((resolve) => child.on('exit', (status, signal) => resolve({ status, signal })));
  const listening = new Promise<string>((resolve, reject) => {
    const look = () => {
      const m = /agentd listening on (http:\/\/\S+)/.exec(stdout);
      if (m === null) return;
      child.stdout!.off('data', look);
      resolve(m[1]!);
    };
    child.stdout!.on('data', look);
    void exited.then((e) => reject(new Error(`agentd exited (${e.status ?? e.signal}): ${stderr}`)));
  });
  const url = await within(listening, () => `agentd to start (stdout: ${stdout} stderr: ${stderr})`);
  const token = readFileSync(join(stateDir, 'agentd.token'), 'utf8').trim();
  const api: Agentd['api'] = async (method, path, body, options = {}) => {
    const bearer = options.token === undefined ? token : options.token;
    const headers: Record<string, string> = {};
    if (bearer !== null) headers.authorization = `Bearer ${bearer}`;
    if (body !== undefined || options.raw !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${url}${path}`, { method, headers, ...(body !== undefined || options.raw !== undefined ? { body: options.raw ?? JSON.stringify(body) } : {}) });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON (metrics)
    }
    return { status: res.status, body: parsed, text };
  };
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    return exited;
  };
  return {
    url,
    token,
    stateDir,
    child,
    logFile: join(stateDir, 'decisions.jsonl'),
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    write,
    api,
    stop,
    async remove() {
      await stop('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** cleanEnv is this process's environment without the variables agentctl would pick up. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  for (const name of ['AGENTD_URL', 'AGENTD_TOKEN', 'AGENTD_STATE_DIR', 'FORCE_COLOR']) if (!(name in extra)) delete env[name];
  return env;
}

export interface CtlResult extends Exit {
  stdout: string;
  stderr: string;
}

export interface Running {
  readonly child: ChildProcess;
  readonly done: Promise<CtlResult>;
  stdout(): string;
}

/** ctl starts agentctl with `args`; the daemon is found through AGENTD_STATE_DIR unless `env` says otherwise. */
export function ctl(daemon: Pick<Agentd, 'stateDir'> | undefined, args: readonly string[], env: Record<string, string> = {}): Running {
  return node('bin/agentctl.ts', daemon, args, env);
}

/** node starts `script` (relative to the repository) the way ctl starts agentctl. */
export function node(script: string, daemon: Pick<Agentd, 'stateDir'> | undefined, args: readonly string[], env: Record<string, string> = {}): Running {
  const child = spawn(process.execPath, [...NODE_FLAGS, script, ...args], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: cleanEnv({ ...(daemon ? { AGENTD_STATE_DIR: daemon.stateDir } : {}), ...env }),
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const done = new Promise<CtlResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (status, signal) => resolve({ status, signal, stdout, stderr }));
  });
  return { child, done, stdout: () => stdout };
}

/** agentctl runs agentctl against `daemon` and waits for it. */
export function agentctl(daemon: Pick<Agentd, 'stateDir'> | undefined, ...args: string[]): Promise<CtlResult> {
  return ctl(daemon, args).done;
}

/** json runs `agentctl ... --json` (before any `--`), expects status 0 and parses stdout. */
export async function json<T = any>(daemon: Agentd, ...args: string[]): Promise<T> {
  const dashes = args.indexOf('--');
  const r = await agentctl(daemon, ...(dashes < 0 ? [...args, '--json'] : [...args.slice(0, dashes), '--json', ...args.slice(dashes)]));
  if (r.status !== 0) throw new Error(`agentctl ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** spawnAgent starts `source` on the daemon through the API and waits until it printed `ready` when it says it will. */
export async function spawnAgent(daemon: Agentd, source: string, manifest: { id?: string; labels?: Record<string, string> } = {}): Promise<number> {
  const res = await daemon.api('POST', '/v1/processes', { source, filename: 'agent.js', manifest });
  if (res.status !== 201) throw new Error(`spawn failed: ${res.text}`);
  const pid = (res.body as { pid: number }).pid;
  if (source.includes("console.log('ready')")) {
    await until(async () => (await daemon.api('GET', `/v1/processes/${pid}/output`)).body.stdout.includes('ready'), `pid ${pid} to be ready`);
  }
  return pid;
}

/** ListedProcess is a process as GET /v1/processes/:pid shows it (what the tests read of it). */
export interface ListedProcess {
  pid: number;
  state: string;
  status?: number;
  exitReason?: { kind: string; why?: string };
}

/** processOf is process `pid` as agentd lists it. */
export async function processOf(daemon: Agentd, pid: number): Promise<ListedProcess> {
  return (await daemon.api('GET', `/v1/processes/${pid}`)).body as ListedProcess;
}

/** outputOf is what process `pid` wrote to stdout. */
export async function outputOf(daemon: Agentd, pid: number): Promise<string> {
  return ((await daemon.api('GET', `/v1/processes/${pid}/output`)).body as { stdout: string }).stdout;
}

/** watchReadiness asks /readyz every `everyMs` until stopped; stop() resolves with every status it got. */
export function watchReadiness(daemon: Agentd, everyMs: number): { stop(): Promise<number[]> } {
  const statuses: number[] = [];
  const watching = new AbortController();
  const watcher = (async () => {
    while (!watching.signal.aborted) {
      statuses.push((await daemon.api('GET', '/readyz')).status);
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    async stop() {
      watching.abort();
      await watcher;
      return statuses;
    },
  };
}

/** principalToken creates an agent credential on `agentd` for `agent` with `labels` and returns its token (shown once). */
export async function principalToken(agentd: Agentd, agent: string, labels: Record<string, string> = {}): Promise<string> {
  const created = await agentd.api('POST', '/v1/principals', { agent, labels });
  if (created.status !== 201) throw new Error(`principal ${agent}: ${created.status} ${created.text}`);
  return (created.body as { token: string }).token;
}
