/**
 * agentd's front door: every request needs the bearer token (401 otherwise,
 * counted, and sampled onto the record), the token file is 0600, and agentctl
 * says in one line and a status what went wrong: 4 for the token, 3 for a
 * daemon that is down, 1 for an unknown pid.
 */
import { chmodSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentctl, ctl, IDLE_AGENT, startAgentd, type Agentd } from './helpers.ts';

let agentd: Agentd;
beforeAll(async () => {
  agentd = await startAgentd();
});
afterAll(() => agentd.remove());

const ENDPOINTS: [string, string, unknown?][] = [
  ['GET', '/v1/processes'],
  ['POST', '/v1/processes', { source: IDLE_AGENT }],
  ['POST', '/v1/processes/1/signal', { signal: 'SIGKILL' }],
  ['POST', '/v1/evaluate', { agent: 'a', action: 'x' }],
  ['PUT', '/v1/policy', { source: 'version: 1\nrules: []\n' }],
  ['POST', '/v1/approvals/ap-1/approve', {}],
  ['GET', '/v1/decisions'],
  ['GET', '/v1/decisions/stream'],
  ['POST', '/v1/audit/verify'],
  ['GET', '/metrics'],
  ['GET', '/healthz'],
  ['GET', '/openapi.json'],
];

const lines = (text: string) => text.split('\n').filter((l) => l !== '');

describe('the bearer token', () => {
  it.each(ENDPOINTS)('%s %s without a token, with a wrong one or another scheme is 401', async (method, path, body) => {
    for (const token of [null, 'wrong', agentd.token.slice(0, -1), `${agentd.token}x`]) {
      const r = await agentd.api(method, path, body, { token });
      expect(r.status, String(token)).toBe(401);
      expect(r.body).toEqual({ error: 'missing or wrong bearer token' });
    }
    const basic = await fetch(`${agentd.url}${path}`, { method, headers: { authorization: `Basic ${agentd.token}` } });
    expect(basic.status).toBe(401);
    expect(basic.headers.get('www-authenticate')).toBe('Bearer');
  });

  it('a refused write has no effect: no process is spawned, the policy stays', async () => {
    const version = (await agentd.api('GET', '/v1/policy')).body.version;
    await agentd.api('POST', '/v1/processes', { source: IDLE_AGENT }, { token: 'wrong' });
    await agentd.api('PUT', '/v1/policy', { source: 'version: 1\nrules: []\n' }, { token: 'wrong' });
    expect((await agentd.api('GET', '/v1/processes')).body).toEqual([]);
    expect((await agentd.api('GET', '/v1/policy')).body.version).toBe(version);
  });

  it("every 401 is counted in /metrics; the decision log gets the first per client per window (type 'auth'), not one record each", async () => {
    const unauthorized = async () => Number(/^agentk_http_unauthorized_total (\d+)$/m.exec((await agentd.api('GET', '/metrics')).text)?.[1]);
    const authRecords = async () => (await agentd.api('GET', '/v1/decisions?type=auth')).body as { type: string; agent: string; detail: string }[];
    const [counted, recorded] = [await unauthorized(), (await authRecords()).length];
    expect(counted).toBeGreaterThanOrEqual(ENDPOINTS.length * 5);
    for (let i = 0; i < 50; i++) await agentd.api('DELETE', `/v1/nothing-here?x=${i}`, undefined, { token: 'nope' });
    expect(await unauthorized()).toBe(counted + 50);
    const records = await authRecords();
    // Within one 10 s window nothing more; across a window boundary a summary and the next window's first.
    expect(records.length - recorded).toBeLessThanOrEqual(2);
    expect(records[0]).toMatchObject({ type: 'auth', agent: 'agentd', detail: '401 GET /v1/processes from 127.0.0.1' });
    expect((await agentd.api('POST', '/v1/audit/verify')).body).toMatchObject({ ok: true });
  });

  it('the token file is 0600 in a 0700 state dir, and so is the URL file', () => {
    expect(statSync(join(agentd.stateDir, 'agentd.token')).mode & 0o777).toBe(0o600);
    expect(statSync(join(agentd.stateDir, 'agentd.url')).mode & 0o777).toBe(0o600);
    expect(statSync(agentd.stateDir).mode & 0o777).toBe(0o700);
    expect(agentd.token).toMatch(/^[0-9a-f]{64}$/);
    expect(readFileSync(join(agentd.stateDir, 'agentd.url'), 'utf8')).toBe(`${agentd.url}\n`);
  });

  it('a restart keeps the token and tightens a token file someone opened up', async () => {
    const first = await startAgentd();
    await first.stop();
    chmodSync(join(first.stateDir, 'agentd.token'), 0o644);
    const second = await startAgentd('', {}, { stateDir: first.stateDir });
    try {
      expect(second.token).toBe(first.token);
      expect(statSync(join(first.stateDir, 'agentd.token')).mode & 0o777).toBe(0o600);
      expect((await second.api('GET', '/healthz')).status).toBe(200);
    } finally {
      await second.remove();
      await first.remove();
    }
  });
});

describe('agentctl with a wrong token: status 4 and one line', () => {
  it.each([['ps'], ['top', '--once'], ['logs', '-f'], ['approvals'], ['kill', '-STOP', '1'], ['audit', 'verify'], ['policy', 'get']])('agentctl %s', async (...args) => {
    const r = await ctl(agentd, args, { AGENTD_TOKEN: 'wrong' }).done;
    expect(r.status).toBe(4);
    expect(lines(r.stderr)).toEqual([expect.stringMatching(/^agentctl: agentd refused the token \(401\)/)]);
    expect(r.stdout).toBe('');
  });

  it('--token overrides the token file; with no token anywhere agentctl says where to find one', async () => {
    const r = await agentctl(agentd, 'ps', '--token', 'wrong');
    expect(r.status).toBe(4);
    const none = await ctl(undefined, ['ps'], { AGENTD_STATE_DIR: join(agentd.stateDir, 'nowhere'), AGENTD_URL: agentd.url }).done;
    expect(none.status).toBe(4);
    expect(lines(none.stderr)).toEqual([expect.stringMatching(/^agentctl: no token: set AGENTD_TOKEN or start agentd/)]);
    // No agentd has run with the state dir and none is named: down (3), not a wrong token (found by a newcomer pass).
    const never = await ctl(undefined, ['ps'], { AGENTD_STATE_DIR: join(agentd.stateDir, 'nowhere') }).done;
    expect(never.status).toBe(3);
    expect(lines(never.stderr)).toEqual([expect.stringMatching(/^agentctl: no agentd has run with state dir .*nowhere/)]);
  });
});

describe('agentctl when the daemon is down: status 3 and one line', () => {
  let dead: Agentd;
  beforeAll(async () => {
    dead = await startAgentd();
    await dead.stop('SIGKILL');
  });
  afterAll(() => dead.remove());

  it.each([['ps'], ['top', '--once'], ['logs', '-f'], ['spawn', 'examples/hello.ts'], ['approve', 'ap-1'], ['vfs', 'ls', '1'], ['audit', 'verify'], ['policy', 'get']])('agentctl %s', async (...args) => {
    const r = await agentctl(dead, ...args);
    expect(r.status).toBe(3);
    expect(lines(r.stderr)).toEqual([`agentctl: cannot reach agentd at ${dead.url} (ECONNREFUSED)`]);
  });

  it('AGENTD_URL and AGENTD_TOKEN find the daemon without a state dir', async () => {
    expect((await ctl(undefined, ['ps'], { AGENTD_URL: dead.url, AGENTD_TOKEN: dead.token }).done).status).toBe(3);
    const live = await ctl(undefined, ['ps', '--json'], { AGENTD_URL: agentd.url, AGENTD_TOKEN: agentd.token }).done;
    expect(live).toMatchObject({ status: 0, stdout: '[]\n' });
  });
});

describe('agentctl with an unknown pid: status 1 and one line', () => {
  it.each([['output'], ['checkpoint'], ['vfs', 'ls'], ['vfs', 'cat'], ['kill'], ['stop'], ['cont']])('agentctl %s 424242', async (...command) => {
    const args = [...command, '424242', ...(command[1] === 'cat' ? ['mem/x'] : [])];
    const r = await agentctl(agentd, ...args);
    expect(r.status).toBe(1);
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toContain('no process 424242');
  });

  it('a pid that is not a number is one line and status 2 (a usage error)', async () => {
    const r = await agentctl(agentd, 'kill', '-STOP', 'abc');
    expect(r.status).toBe(2);
    expect(lines(r.stderr)).toEqual(['agentctl: abc: not a pid']);
  });
});
