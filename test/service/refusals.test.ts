/**
 * 401s and 403s on a real agentd: every one is counted in /metrics, the
 * decision log gets the first per client per window and one summary per
 * window, the clients tracked in a window are capped (the rest summed), a
 * flood of bad tokens leaves agentd answering, and the last window's
 * summary is written when agentd stops.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgentd, until, type Agentd } from './helpers.ts';

const POLICY = `version: 1
name: refusals-test
rules:
  - { id: reads-ok, effect: allow, syscalls: [file.read] }
`;

interface AuthRecord {
  type: string;
  agent: string;
  detail: string;
}

const counter = (metrics: string, name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(metrics)?.[1] ?? 0);
const authRecords = async (daemon: Agentd) => (await daemon.api('GET', '/v1/decisions?type=auth')).body as AuthRecord[];

/** refusalsIn adds up what the records say: 1 for each first refusal, N for each "N more" summary. */
function refusalsIn(records: readonly AuthRecord[], status: 401 | 403, client: string): number {
  let total = 0;
  for (const r of records) {
    if (r.detail.startsWith(`${status} `) && r.detail.includes(` from ${client}`)) total++;
    const more = new RegExp(`^(\\d+) more ${status}s from ${client.replace(/[.()]/g, '\\$&')} \\(sampled`).exec(r.detail);
    if (more !== null) total += Number(more[1]);
  }
  return total;
}

/** overflowIn adds up the overflow summaries of 403s (max_clients 3). */
function overflowIn(records: readonly AuthRecord[]): number {
  return records.reduce((sum, r) => sum + Number(/^(\d+) 403s from clients beyond the 3 tracked/.exec(r.detail)?.[1] ?? 0), 0);
}

/** flood sends `n` requests with a wrong token, `width` at a time. */
async function flood(daemon: Agentd, n: number, width = 32): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const r = await fetch(`${daemon.url}/v1/processes?i=${i}`, { headers: { authorization: 'Bearer not-the-token' } });
      await r.arrayBuffer();
      if (r.status !== 401) throw new Error(`expected 401, got ${r.status}`);
    }
  };
  await Promise.all(Array.from({ length: width }, worker));
}

describe('401s sampled, not one record each', () => {
  let agentd: Agentd;
  beforeAll(async () => {
    agentd = await startAgentd('policy: policy.yaml\nrefusals: { window_ms: 1000, max_clients: 3 }\n', { 'policy.yaml': POLICY });
  });
  afterAll(() => agentd.remove());

  it('5000 unauthenticated requests: every one counted, a handful of records, the sum exact, agentd answering throughout', async () => {
    const flooding = flood(agentd, 5000);
    // The operator is served while the flood goes on.
    const during = await agentd.api('POST', '/v1/evaluate', { agent: 'steady', action: 'file.read' });
    expect(during.body).toMatchObject({ decision: 'allow' });
    await flooding;
    expect(await agentd.api('GET', '/healthz')).toMatchObject({ status: 200 });

    expect(counter((await agentd.api('GET', '/metrics')).text, 'agentk_http_unauthorized_total')).toBe(5000);
    // Once the window closes its summary is written, and the records account for every refusal.
    await until(async () => refusalsIn(await authRecords(agentd), 401, '127.0.0.1') === 5000, 'the summary of the last window');
    const records = await authRecords(agentd);
    expect(records.length).toBeLessThanOrEqual(2 * 20);
    expect(records[0]).toMatchObject({ type: 'auth', agent: 'agentd', detail: '401 GET /v1/processes?i=0 from 127.0.0.1' });
    expect(records.some((r) => /^\d+ more 401s from 127\.0\.0\.1 \(sampled: one record per client per 1 s\)$/.test(r.detail))).toBe(true);
    expect((await agentd.api('POST', '/v1/audit/verify')).body).toMatchObject({ ok: true });
  });

  it('403s are sampled per principal; clients past max_clients in a window are summed into one overflow record', async () => {
    const principals = ['p1', 'p2', 'p3', 'p4', 'p5'];
    const tokens: string[] = [];
    for (const agent of principals) tokens.push((await agentd.api('POST', '/v1/principals', { agent })).body.token as string);
    // Start just after a window ends, so the cap of 3 clients is (nearly) all these principals': bad-token requests until a
    // window's summary of them shows that it ended.
    const marked = (await authRecords(agentd)).length;
    const windowEnded = async () => {
      if ((await authRecords(agentd)).slice(marked).some((r) => /^\d+ more 401s from 127\.0\.0\.1 /.test(r.detail))) return true;
      await flood(agentd, 1, 1);
      return false;
    };
    await until(windowEnded, 'a window of refusals to end');
    const before = (await authRecords(agentd)).length;
    const forbidden = counter((await agentd.api('GET', '/metrics')).text, 'agentk_http_forbidden_total');
    for (let round = 0; round < 10; round++) await Promise.all(tokens.map((token) => agentd.api('GET', '/v1/processes', undefined, { token })));
    expect(counter((await agentd.api('GET', '/metrics')).text, 'agentk_http_forbidden_total')).toBe(forbidden + 50);

    const accounted = (records: readonly AuthRecord[]) => principals.reduce((sum, p) => sum + refusalsIn(records, 403, `127.0.0.1 as principal ${p}`), overflowIn(records));
    await until(async () => accounted((await authRecords(agentd)).slice(before)) === 50, 'every 403 accounted for');
    const records = (await authRecords(agentd)).slice(before);
    expect(overflowIn(records)).toBeGreaterThan(0);
    const firsts = records.filter((r) => r.detail.startsWith('403 '));
    expect(firsts.length).toBeLessThanOrEqual(3 * 2);
    expect(firsts[0]!.detail).toMatch(/^403 GET \/v1\/processes from 127\.0\.0\.1 as principal p\d: principal p\d \(agent p\d\) may not call GET \/v1\/processes: /);
  });
});

describe('the last window on shutdown', () => {
  it("agentd writes the pending summary when it stops, so no refusal goes unaccounted", async () => {
    const agentd = await startAgentd('refusals: { window_ms: 3600000 }\n');
    try {
      await flood(agentd, 300, 8);
      expect((await authRecords(agentd)).length).toBe(1);
      await agentd.stop();
      const details = readFileSync(agentd.logFile, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { detail?: string }).detail);
      expect(details.filter((d) => d !== undefined && /^(401 |\d+ more 401s)/.test(d))).toEqual([
        expect.stringMatching(/^401 GET \/v1\/processes\?i=\d+ from 127\.0\.0\.1$/),
        '299 more 401s from 127.0.0.1 (sampled: one record per client per 3600 s)',
      ]);
    } finally {
      await agentd.remove();
    }
  });
});

describe('evaluations past an agent\'s bytes of records (evaluate.log_bytes_per_second)', () => {
  it('are 429: with 4 KiB resources the rate alone let one credential write ~9 MB/s of log', async () => {
    const agentd = await startAgentd('policy: policy.yaml\nevaluate: { per_second: 1000, log_bytes_per_second: 20000 }\n', { 'policy.yaml': POLICY });
    try {
      const token = (await agentd.api('POST', '/v1/principals', { agent: 'wordy' })).body.token as string;
      const statuses: number[] = [];
      let refusal = '';
      for (let i = 0; i < 20; i++) {
        const r = await fetch(`${agentd.url}/v1/evaluate`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ action: 'file.read', resource: `/${'r'.repeat(4000)}` }) });
        statuses.push(r.status);
        if (r.status === 429) refusal = ((await r.json()) as { error: string }).error;
        else await r.body?.cancel();
      }
      // About 4.3 KB a record: four or five fit in 20,000 bytes a second (the 20 may straddle a second's end: twice that).
      const answered = statuses.filter((s) => s === 200).length;
      expect(answered).toBeGreaterThanOrEqual(4);
      expect(answered).toBeLessThanOrEqual(12);
      expect(refusal).toBe("EAGAIN: agent 'wordy' added more than 20000 bytes of decision records in a second (evaluate.log_bytes_per_second); retry after 1 s");
    } finally {
      await agentd.remove();
    }
  });
});

describe('evaluations past an agent\'s rate (evaluate.per_second)', () => {
  it('are 429 with retry-after, counted, and sampled into the log: one agent cannot fill the disk through /v1/evaluate (an attacker pass: 16 MiB/s)', async () => {
    const agentd = await startAgentd('policy: policy.yaml\nevaluate: { per_second: 5 }\nrefusals: { window_ms: 3600000 }\n', { 'policy.yaml': POLICY });
    try {
      const token = (await agentd.api('POST', '/v1/principals', { agent: 'bot' })).body.token as string;
      const other = (await agentd.api('POST', '/v1/principals', { agent: 'other' })).body.token as string;
      const ask = (as: string) => fetch(`${agentd.url}/v1/evaluate`, { method: 'POST', headers: { authorization: `Bearer ${as}`, 'content-type': 'application/json' }, body: JSON.stringify({ action: 'file.read', resource: '/x' }) });
      const answers = await Promise.all(Array.from({ length: 40 }, () => ask(token)));
      const statuses = answers.map((r) => r.status);
      // One second's share is 5; the 40 may straddle a second's end, so 5 or 10 are answered.
      const answered = statuses.filter((s) => s === 200).length;
      expect([5, 10]).toContain(answered);
      expect(statuses.filter((s) => s === 429).length).toBe(40 - answered);
      const refused = answers.find((r) => r.status === 429)!;
      expect(refused.headers.get('retry-after')).toBe('1');
      expect(((await refused.json()) as { error: string }).error).toBe("EAGAIN: agent 'bot' asked more than 5 evaluations in a second (evaluate.per_second); retry after 1 s");
      // An agent credential's rate is counted before its body is read: past it, even a body that is not JSON is 429,
      // never parsed (before, it was parsed first and answered 400, at the parse's cost).
      const unread = await fetch(`${agentd.url}/v1/evaluate`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{"action": ' });
      expect(unread.status).toBe(429);
      // Another agent has its own share.
      expect((await ask(other)).status).toBe(200);
      const metrics = (await agentd.api('GET', '/metrics')).text;
      expect(counter(metrics, 'agentk_evaluate_rate_limited_total')).toBe(41 - answered);
      const evaluations = ((await agentd.api('GET', '/v1/decisions?agent=bot')).body as { type: string }[]).filter((r) => r.type === 'syscall');
      expect(evaluations.length).toBe(answered);
      await agentd.stop();
      const details = readFileSync(agentd.logFile, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { detail?: string }).detail ?? '');
      expect(details.filter((d) => /^(429 |\d+ more 429s)/.test(d))).toEqual([
        expect.stringMatching(/^429 POST \/v1\/evaluate for bot: EAGAIN/),
        `${41 - answered - 1} more 429s from bot (sampled: one record per client per 3600 s)`,
      ]);
    } finally {
      await agentd.remove();
    }
  });
});
