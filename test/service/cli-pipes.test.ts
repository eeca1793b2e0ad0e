/**
 * A console whose reader has gone away. agentctl writing into a closed
 * stdout ends quietly with status 0 (as `head` expects of `agentctl logs |
 * head -1`), `agentctl run` by SIGPIPE; into a closed stderr it keeps the
 * status it would have had.
 * agentd that lost both its stdout and stderr still stops cleanly on
 * SIGTERM: status 0, its URL file and pid file removed, its node gone from
 * the cluster directory in Redis. Real processes, real pipes, a real Redis.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished, type TestContext } from 'vitest';
import { connectRedis, whenReady } from '../../kernel/redis/connect.ts';
import { clusterRedis } from '../cluster/helpers.ts';
import { ctl, NODE_FLAGS, REPO, startAgentd, type Agentd, type CtlResult } from './helpers.ts';

type OnTestFinished = TestContext['onTestFinished'];

const env = await clusterRedis('cli-pipes');
afterAll(() => env?.cleanup());

const POLICY = `version: 1
name: cli-pipes
rules:
  - id: reads-ok
    effect: allow
    syscalls: [file.read]
`;

/** Records seeded into the log: far more text than a pipe buffers (64 KiB), so a writer always outlives `head -1`. */
const RECORDS = 3000;

// The fixture asks 3,000 decisions of one agent at once: past evaluate.per_second's default (1,000) they would be 429s.
const clusterConfig = (nodeId: string) => `policy: policy.yaml\nevaluate: { per_second: 100000, log_bytes_per_second: 1000000000 }\nredis:\n  url: ${env!.url}\n  key_prefix: "${env!.prefix}"\n  node_id: ${nodeId}\n`;

/** closedStdout runs agentctl with its stdout a pipe whose read end is closed before agentctl writes anything (before it has even loaded). */
function closedStdout(agentd: Agentd, args: readonly string[]): Promise<CtlResult> {
  const running = ctl(agentd, args);
  running.child.stdout!.destroy();
  return running.done;
}

function withoutAgentdVariables(vars: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  for (const name of ['AGENTD_URL', 'AGENTD_TOKEN', 'FORCE_COLOR']) delete vars[name];
  return vars;
}

/**
 * piped runs `agentctl ARGS | head -1` in bash and answers agentctl's status and stderr, and what head printed.
 * finished is the calling test's own onTestFinished: in concurrent tests the global one may attach to a
 * sibling test, whose end then killed this pipeline mid-run (seen in CI: SIGKILL instead of status 0).
 */
function piped(agentd: Pick<Agentd, 'stateDir'>, args: readonly string[], finished: OnTestFinished): Promise<CtlResult> {
  const child = spawn('bash', ['-c', '"$@" | head -1; exit "${PIPESTATUS[0]}"', 'bash', process.execPath, ...NODE_FLAGS, 'bin/agentctl.ts', ...args], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: withoutAgentdVariables({ ...process.env, AGENTD_STATE_DIR: agentd.stateDir }),
    detached: true,
  });
  // The whole pipeline goes when the test ends, whatever state it is in.
  finished(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (status, signal) => resolve({ status, signal, stdout, stderr }));
  });
}

describe.skipIf(env === undefined)('agentctl into a closed pipe', { timeout: 60_000 }, () => {
  let agentd: Agentd;
  beforeAll(async () => {
    agentd = await startAgentd(clusterConfig('pipes-ctl'), { 'policy.yaml': POLICY });
    for (let i = 0; i < RECORDS; i += 100) {
      await Promise.all(Array.from({ length: 100 }, (_, j) => agentd.api('POST', '/v1/evaluate', { agent: 'reader', action: 'file.read', resource: `/data/file-${i + j}.txt`, access: 'read' })));
    }
  }, 120_000);
  afterAll(() => agentd?.remove());

  it('has more to print than a pipe holds (else nothing below could fail)', async () => {
    const logs = await ctl(agentd, ['logs', '--limit', String(RECORDS)]).done;
    expect(logs).toMatchObject({ status: 0, stderr: '' });
    expect(logs.stdout.length).toBeGreaterThan(256 * 1024);
    const show = await ctl(agentd, ['audit', 'show', agentd.logFile]).done;
    expect(show).toMatchObject({ status: 0, stderr: '' });
    expect(show.stdout.length).toBeGreaterThan(256 * 1024);
  });

  /** argv splits a command line of the tables below; LOG stands for agentd's decision log. */
  const argv = (command: string) => command.split(' ').map((word) => (word === 'LOG' ? agentd.logFile : word));

  it.concurrent.for([`logs --limit ${RECORDS}`, `logs --json --limit ${RECORDS}`, 'audit show LOG'])('agentctl %s | head -1: head prints the first line, agentctl exits 0 without a word', async (command, { onTestFinished: finished }) => {
    const r = await piped(agentd, argv(command), finished);
    expect(r).toMatchObject({ status: 0, signal: null, stderr: '' });
    expect(r.stdout.split('\n')).toHaveLength(2);
  });

  it.concurrent.each(['ps', 'nodes', 'logs', 'logs --json', 'audit show LOG', 'approvals', 'principal ls', 'policy get', 'policy schema', 'top --once'])(
    'agentctl %s with its stdout already closed exits 0 without a word',
    async (command) => {
      expect(await closedStdout(agentd, argv(command))).toEqual({ status: 0, signal: null, stdout: '', stderr: '' });
    },
  );

  it('a closed stderr does not hide a failure: agentctl ps with agentd unreachable still exits 3', async () => {
    const running = ctl(agentd, ['ps', '--url', 'http://127.0.0.1:1']);
    running.child.stderr!.destroy();
    expect(await running.done).toMatchObject({ status: 3, signal: null, stdout: '' });
  });
});

describe('agentctl run into a closed pipe', { timeout: 60_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'agentctl-pipes-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const chatty = join(dir, 'chatty.js');
  writeFileSync(chatty, "for (let i = 0; ; i++) console.log('line ' + i);\n");

  // exit() with an agent's isolate waiting on the host hangs in isolated-vm's exit handler: run ends by SIGPIPE instead, as git does.
  it('agentctl run of an endless writer | head -1: head prints the first line, agentctl ends by SIGPIPE (141) without a word', async () => {
    const r = await piped({ stateDir: dir }, ['run', chatty], onTestFinished);
    expect(r).toEqual({ status: 141, signal: null, stdout: 'line 0\n', stderr: '' });
  });

  it('agentctl run with its stdout already closed ends by SIGPIPE without a word', async () => {
    const running = ctl(undefined, ['run', chatty]);
    running.child.stdout!.destroy();
    onTestFinished(() => void running.child.kill('SIGKILL'));
    expect(await running.done).toEqual({ status: null, signal: 'SIGPIPE', stdout: '', stderr: '' });
  });
});

describe.skipIf(env === undefined)('agentd without its console', { timeout: 60_000 }, () => {
  it('stops cleanly on SIGTERM: status 0, URL and pid files removed, its node gone from Redis', async () => {
    const agentd = await startAgentd(clusterConfig('pipes-daemon'), { 'policy.yaml': POLICY });
    try {
      const redis = connectRedis({ url: env!.url });
      await whenReady(redis);
      onTestFinished(() => redis.disconnect());
      const beats = `{${env!.prefix}}:beats`;
      expect(await redis.zscore(beats, 'pipes-daemon')).not.toBeNull();
      expect(existsSync(join(agentd.stateDir, 'agentd.url'))).toBe(true);
      // The console goes away: both read ends close, so agentd's next write meets EPIPE.
      agentd.child.stdout!.destroy();
      agentd.child.stderr!.destroy();
      agentd.child.kill('SIGTERM');
      expect(await agentd.exited).toEqual({ status: 0, signal: null });
      expect(existsSync(join(agentd.stateDir, 'agentd.url'))).toBe(false);
      expect(existsSync(join(agentd.stateDir, 'agentd.pid'))).toBe(false);
      expect(await redis.zscore(beats, 'pipes-daemon')).toBeNull();
      expect(await redis.hget(`{${env!.prefix}}:nodes`, 'pipes-daemon')).toBeNull();
    } finally {
      await agentd.remove();
    }
  });
});
