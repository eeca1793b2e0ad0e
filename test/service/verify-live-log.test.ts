/**
 * agentd's own `audit verify` (POST /v1/audit/verify, `agentctl audit verify`
 * with no FILE) checks its live log against what agentd knows it wrote: a
 * log cut back to a whole record (`head -n 40 backup > decisions.jsonl`), a
 * last segment deleted, or a tail re-sealed with recomputed hashes all
 * verify as chains, and must fail all the same, on real daemons.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type ChainRecord, sealRecord } from '../../kernel/recorder/chain.ts';
import { listSegments } from '../../kernel/recorder/segments.ts';
import { agentctl, startAgentd, until, type Agentd } from './helpers.ts';

const POLICY = `version: 1
name: verify-live-log
rules:
  - id: own-fds
    effect: allow
    syscalls: [SYS_WRITE, SYS_READ, SYS_CLOSE, SYS_GETPID, SYS_EXIT]
  - id: reads
    effect: allow
    syscalls: [file.read]
    paths: ["/data/**"]
`;

/** ask records `n` evaluate answers, one record each. */
async function ask(agentd: Agentd, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const res = await agentd.api('POST', '/v1/evaluate', { agent: 'report-bot', action: 'file.read', resource: `/data/${i}` });
    expect(res.status).toBe(200);
  }
}

/** verified is agentd's verdict on its own log, through the API and through agentctl. */
async function verified(agentd: Agentd): Promise<{ body: any; status: number | null; stdout: string }> {
  const res = await agentd.api('POST', '/v1/audit/verify');
  expect(res.status).toBe(200);
  const cli = await agentctl(agentd, 'audit', 'verify');
  return { body: res.body, status: cli.status, stdout: cli.stdout };
}

const lines = (path: string) => readFileSync(path, 'utf8').split('\n').filter((l) => l !== '');

describe("agentd's audit verify of its live log", () => {
  let agentd: Agentd;
  beforeEach(async () => {
    agentd = await startAgentd('policy: policy.yaml\n', { 'policy.yaml': POLICY });
  });
  afterEach(() => agentd.remove());

  it('passes the log as agentd wrote it', async () => {
    await ask(agentd, 20);
    const { body, status, stdout } = await verified(agentd);
    expect(body).toMatchObject({ ok: true });
    expect(status).toBe(0);
    expect(stdout).toMatch(/^ok: \d+ records verify/);
  });

  it('fails a log cut back to a whole record, naming the records that are missing', async () => {
    await ask(agentd, 80);
    const all = lines(agentd.logFile);
    const written = all.length;
    expect(written).toBeGreaterThan(80);
    // The attacker's `head -n 40 backup.jsonl > decisions.jsonl`: the same file, cut at a record's end.
    writeFileSync(agentd.logFile, `${all.slice(0, 40).join('\n')}\n`);
    const { body, status, stdout } = await verified(agentd);
    expect(body).toMatchObject({ ok: false, records: 40, problem: { kind: 'deleted', seq: 41 } });
    expect(body.problem.message).toBe(`the log ends at record 40 but agentd wrote ${written}: records 41-${written} are missing`);
    expect(status).toBe(1);
    expect(stdout).toContain(`FAILED at seq 41: the log ends at record 40 but agentd wrote ${written}`);
  });

  it('fails a tail re-sealed with recomputed hashes, shorter than what agentd wrote', async () => {
    await ask(agentd, 30);
    const all = lines(agentd.logFile);
    const kept = all.slice(0, -1);
    const last = JSON.parse(all.at(-1)!) as ChainRecord;
    // The last record forged with a hash of its own: a chain that verifies, one record short of nothing.
    const forged = sealRecord({ type: 'log', detail: 'x' } as Parameters<typeof sealRecord>[0], last.seq, last.time, last.prev);
    writeFileSync(agentd.logFile, `${kept.join('\n')}\n${forged.line}`);
    const { body, status } = await verified(agentd);
    expect(body).toMatchObject({ ok: false, records: last.seq, problem: { kind: 'edited', seq: last.seq } });
    expect(body.problem.message).toContain(`record ${last.seq}'s hash is not the one agentd wrote`);
    expect(status).toBe(1);
  });

  it('still verifies, and agentd still counts on, once more records come after a verify', async () => {
    await ask(agentd, 5);
    expect((await verified(agentd)).body).toMatchObject({ ok: true });
    await ask(agentd, 5);
    expect((await verified(agentd)).body).toMatchObject({ ok: true });
  });
});

describe("agentd's audit verify of its live segmented log", () => {
  let agentd: Agentd;
  beforeAll(async () => {
    agentd = await startAgentd('policy: policy.yaml\nlog: { segment_mib: 1 }\nlimits: { syscalls_per_second: 10000000, log_bytes_per_second: 1000000000 }\n', { 'policy.yaml': POLICY });
    const res = await agentd.api('POST', '/v1/processes', { source: "for (let i = 0; i < 4000; i++) sys.getpid();\nconsole.log('done');\n", filename: 'flood.js', manifest: { id: 'flood' } });
    expect(res.status).toBe(201);
    const pid = (res.body as { pid: number }).pid;
    await until(async () => (await agentd.api('GET', `/v1/processes/${pid}`)).body.state === 'exited', `pid ${pid} to exit`, 60_000);
  }, 90_000);
  afterAll(() => agentd.remove());

  it('verifies across its segments, and fails once its last segment is deleted', async () => {
    const segments = listSegments(agentd.logFile);
    expect(segments.length).toBeGreaterThanOrEqual(2);
    const before = await verified(agentd);
    expect(before.body).toMatchObject({ ok: true, segments: segments.length });
    expect(before.status).toBe(0);
    const last = segments.at(-1)!;
    const firstGone = (JSON.parse(lines(last.path)[0]!) as ChainRecord).seq;
    rmSync(last.path);
    const { body, status } = await verified(agentd);
    expect(body).toMatchObject({ ok: false, records: firstGone - 1, problem: { kind: 'deleted', seq: firstGone } });
    expect(body.problem.message).toMatch(new RegExp(`the log ends at record ${firstGone - 1} but agentd wrote \\d+: records ${firstGone}-\\d+ are missing`));
    expect(status).toBe(1);
  });
});
