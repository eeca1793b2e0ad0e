/**
 * Stopping agentd. SIGTERM: it stops taking work, sends SIGTERM to every
 * agent, SIGKILLs the rest after the grace period, flushes the recorder and
 * exits 0 with a log that verifies — even with a follower attached and an
 * approval pending (kept for the next start). SIGKILL: every decision it
 * acknowledged (evaluate answers carry the record's seq) is in the log,
 * which verifies up to a possibly torn tail. Started again: the processes
 * the last run left open and the questions it left pending are accounted
 * for, and a question from outside the kernel can still be answered and
 * acted on.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChainRecord } from '../../kernel/recorder/chain.ts';
import { verifyLog } from '../../kernel/recorder/verify.ts';
import { spawnAgent, startAgentd, until, type Agentd, type Exit } from './helpers.ts';

const GRACE_MS = 1500;

const POLICY = `version: 1
name: shutdown-test
rules:
  - id: self
    effect: allow
    syscalls: [SYS_READ, SYS_WRITE, SYS_CLOSE, SYS_GETPID, SYS_EXIT, SYS_SIGACTION, SYS_SIGPROCMASK]
  - id: reads-ok
    effect: allow
    syscalls: [file.read]
  - id: email-needs-a-human
    effect: require_approval
    syscalls: [email.send]
  - id: deletes-need-a-human
    effect: require_approval
    syscalls: [SYS_UNLINK]
`;

const AGENTS = {
  /** An idle agent whose SIGTERM handler lets main return: exits 0. */
  polite: "const s = await new Promise((resolve) => { sys.signal.on('SIGTERM', resolve); console.log('ready'); }); console.log('bye after ' + s);",
  /** A busy loop that never makes a syscall: 133 if SIGTERM lands, SIGKILL (132) after the grace period otherwise. */
  spinner: "console.log('ready'); for (;;) {}",
  /** Handles SIGTERM by doing nothing: SIGKILL after the grace period. */
  stubborn: "sys.signal.on('SIGTERM', () => console.log('not leaving')); console.log('ready'); await new Promise(() => {});",
  /** Ignores SIGTERM: agentd's own SIGKILL at the end of the grace period. */
  deaf: "sys.signal.ignore('SIGTERM'); console.log('ready'); await new Promise(() => {});",
} as const;

const records = (text: string): ChainRecord[] =>
  text.split('\n').flatMap((line) => {
    try {
      return [JSON.parse(line) as ChainRecord];
    } catch {
      return [];
    }
  });

describe('SIGTERM to agentd with running agents', () => {
  let agentd: Agentd;
  const pids: Record<string, number> = {};
  const acknowledged: number[] = [];
  let readyDuring: { status: number; body: unknown } | undefined;
  let spawnDuring: { status: number; body: unknown } | undefined;
  let followerEnded = false;
  let exit: Exit;
  let log: ChainRecord[];
  let logText: string;

  beforeAll(async () => {
    agentd = await startAgentd(`term_grace_ms: ${GRACE_MS}\npolicy: policy.yaml\n`, { 'policy.yaml': POLICY });
    for (const [name, source] of Object.entries(AGENTS)) pids[name] = await spawnAgent(agentd, source, { id: name });
    for (let i = 0; i < 20; i++) acknowledged.push((await agentd.api('POST', '/v1/evaluate', { agent: 'ext', action: 'file.read', arguments: { i } })).body.seq);
    const pending = await agentd.api('POST', '/v1/evaluate', { agent: 'ext', action: 'email.send' });
    expect(pending.body).toMatchObject({ decision: 'require_approval' });
    acknowledged.push(pending.body.seq);
    // A follower stays attached through the shutdown.
    const follower = await fetch(`${agentd.url}/v1/decisions/stream`, { headers: { authorization: `Bearer ${agentd.token}` } });
    void follower.body!.pipeTo(new WritableStream()).then(
      () => (followerEnded = true),
      () => (followerEnded = true),
    );

    agentd.child.kill('SIGTERM');
    await until(async () => {
      readyDuring = await agentd.api('GET', '/readyz').catch(() => undefined);
      return readyDuring === undefined || readyDuring.status === 503;
    }, '/readyz to fail');
    spawnDuring = await agentd.api('POST', '/v1/processes', { source: 'console.log(1)' }).catch(() => undefined);
    exit = await agentd.exited;
    logText = readFileSync(agentd.logFile, 'utf8');
    log = records(logText);
  }, 30_000);
  afterAll(() => agentd.remove());

  it('agentd exits 0 by itself, saying so (the deaf agent did not hold it: see below)', () => {
    expect(exit).toEqual({ status: 0, signal: null });
    expect(agentd.stdout()).toContain('agentd: SIGTERM: stopping');
    expect(agentd.stdout()).toMatch(/agentd: stopped\n$/);
    expect(agentd.stderr()).toBe('');
    expect(followerEnded).toBe(true);
  });

  it('while it stops, /readyz says 503 and no new process is taken', () => {
    expect(readyDuring?.status).toBe(503);
    expect(readyDuring?.body).toMatchObject({ ready: false });
    if (spawnDuring !== undefined) expect(spawnDuring.status).toBe(503);
  });

  /** ending is how an agent's life ended: its signal record, if any, and its exit record. */
  const ending = (name: string) => log.filter((r) => (r.type === 'exit' || r.type === 'signal') && r.pid === pids[name]).map((r) => r.detail);

  it('the polite agent exits 0; the others die of SIGTERM, or of SIGKILL once the grace period is over', () => {
    expect(ending('polite')).toEqual(['status 0']);
    expect([
      ['SIGTERM: SIGTERM from agentd shutdown', 'status 133'],
      [`SIGKILL: SIGKILL from SIGTERM grace period (${GRACE_MS} ms)`, 'status 132'],
    ]).toContainEqual(ending('spinner'));
    expect(ending('stubborn')).toEqual([`SIGKILL: SIGKILL from SIGTERM grace period (${GRACE_MS} ms)`, 'status 132']);
    expect(ending('deaf')).toEqual(['SIGKILL: SIGKILL from kernel shutdown', 'status 132']);
  });

  it('the pending external approval is not answered by the shutdown: it stays for the next start', () => {
    expect(log.filter((r) => r.type === 'approval' && r.agent === 'ext')).toEqual([]);
  });

  it('the log verifies, has no torn tail and holds every acknowledged record', () => {
    expect(logText.endsWith('\n')).toBe(true);
    expect(verifyLog(logText)).toMatchObject({ ok: true, records: log.length });
    const bySeq = new Map(log.map((r) => [r.seq, r]));
    for (const seq of acknowledged) expect(bySeq.get(seq)).toMatchObject({ agent: 'ext', type: 'syscall' });
  });

  it('the URL file is gone, so agentctl will not find a stale daemon', () => {
    expect(() => readFileSync(`${agentd.stateDir}/agentd.url`)).toThrow();
  });
});

describe('SIGKILL to agentd under load', () => {
  let agentd: Agentd;
  const acknowledged = new Map<number, number>();

  beforeAll(async () => {
    agentd = await startAgentd();
    await spawnAgent(agentd, "let i = 0; console.log('ready'); for (;;) { sys.writeFile('mem/working/n.txt', String(i++)); }", { id: 'writer' });
    let killed = false;
    const worker = async (w: number) => {
      for (let i = 0; !killed; i++) {
        try {
          const r = await agentd.api('POST', '/v1/evaluate', { agent: `ext-${w}`, action: 'file.delete', arguments: { i } });
          if (r.status === 200) acknowledged.set(r.body.seq, w);
        } catch {
          return; // the daemon is gone
        }
        if (!killed && acknowledged.size >= 400) {
          killed = true;
          agentd.child.kill('SIGKILL');
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)));
    await agentd.exited;
  }, 30_000);
  afterAll(() => agentd.remove());

  it('agentd died of SIGKILL with requests in flight', async () => {
    expect(await agentd.exited).toEqual({ status: null, signal: 'SIGKILL' });
    expect(acknowledged.size).toBeGreaterThanOrEqual(400);
  });

  it('every acknowledged seq is a complete record of the request that got it; the log verifies up to a torn tail', () => {
    const text = readFileSync(agentd.logFile, 'utf8');
    const complete = text.slice(0, text.lastIndexOf('\n') + 1);
    const result = verifyLog(text);
    if (!result.ok) expect(result.problem?.kind).toBe('torn-tail');
    expect(verifyLog(complete)).toMatchObject({ ok: true });
    const bySeq = new Map(records(complete).map((r) => [r.seq, r]));
    expect(bySeq.size).toBe(result.records);
    for (const [seq, worker] of acknowledged) expect(bySeq.get(seq), `seq ${seq}`).toMatchObject({ agent: `ext-${worker}`, syscall: 'file.delete', decision: 'deny' });
    // The in-kernel writer's records interleave with the external ones in one chain.
    expect([...bySeq.values()].some((r) => r.agent === 'writer' && r.syscall === 'SYS_WRITE')).toBe(true);
  });
});

describe('agentd started again after a kill -9', () => {
  let first: Agentd;
  let second: Agentd | undefined;
  let third: Agentd | undefined;
  afterAll(async () => {
    await third?.remove();
    await second?.remove();
    await first.remove();
  });

  it('records how each process and question the killed run left open ended; a question from outside is reopened, answerable and redeemable; ids are never handed out again', async () => {
    first = await startAgentd('policy: policy.yaml\n', { 'policy.yaml': POLICY });
    const idle = await spawnAgent(first, AGENTS.deaf, { id: 'idle' });
    // A process of this run waits on a question when agentd dies: its process goes with it.
    const waiter = await spawnAgent(first, "console.log('ready'); sys.unlink('mem/nothing');", { id: 'waiter' });
    await until(async () => ((await first.api('GET', '/v1/approvals')).body as { pid: number }[]).some((q) => q.pid === waiter), 'the waiter to ask');
    const asked = await first.api('POST', '/v1/evaluate', { agent: 'ext', action: 'email.send', arguments: { to: 'ada' } });
    expect(asked.body).toMatchObject({ decision: 'require_approval', approval_id: expect.stringMatching(/^ap-\d+$/) });
    const oldId = (asked.body as { approval_id: string }).approval_id;
    await first.stop('SIGKILL');

    second = await startAgentd('policy: policy.yaml\n', { 'policy.yaml': POLICY }, { stateDir: first.stateDir });
    const log = records(readFileSync(second.logFile, 'utf8'));
    const lost = log.filter((r) => r.type === 'exit' && r.pid === idle);
    expect(lost).toEqual([expect.objectContaining({ agent: 'idle', detail: 'lost: the agentd that ran it (agent.js) ended without recording its end' })]);
    const accounted = log.filter((r) => r.type === 'approval').map((r) => r.detail);
    expect(accounted).toEqual([
      expect.stringMatching(new RegExp(`^denied SYS_UNLINK /agent/waiter/mem/nothing \\(ap-\\d+\\) by agentd: the agentd that asked ended while pid ${waiter} waited, and its process with it$`)),
      expect.stringMatching(new RegExp(`^still pending email\\.send \\(${oldId}\\) after agentd restarted: asked \\S+, answerable until \\S+$`)),
    ]);
    expect(verifyLog(readFileSync(second.logFile, 'utf8'))).toMatchObject({ ok: true });
    // The outside agent's question is there, pending; the operator answers it, and the agent redeems it for that request only.
    expect((await second.api('GET', `/v1/approvals/${oldId}`)).body).toMatchObject({ status: 'pending', approval: { id: oldId, agentId: 'ext' } });
    expect((await second.api('GET', '/v1/approvals')).body).toEqual([expect.objectContaining({ id: oldId })]);
    expect((await second.api('POST', `/v1/approvals/${oldId}/approve`, { reason: 'after the restart' })).body).toMatchObject({ status: 'approved' });
    const other = await second.api('POST', '/v1/evaluate', { agent: 'ext', action: 'email.send', arguments: { to: 'eve' }, approval_id: oldId });
    expect(other.body).toMatchObject({ decision: 'deny', reason: expect.stringContaining('granted for another action') });
    const redeemed = await second.api('POST', '/v1/evaluate', { agent: 'ext', action: 'email.send', arguments: { to: 'ada' }, approval_id: oldId });
    expect(redeemed.body).toMatchObject({ decision: 'allow', rule: 'kernel.approval-grant' });
    await until(async () => records(readFileSync(second!.logFile, 'utf8')).some((r) => r.type === 'approval' && r.detail?.startsWith(`granted email.send (${oldId}) by operator`)), 'the answer on record');
    // A new question gets an id never handed out before.
    const again = await second.api('POST', '/v1/evaluate', { agent: 'ext', action: 'email.send' });
    const newId = (again.body as { approval_id: string }).approval_id;
    expect(newId).not.toBe(oldId);

    // A clean stop leaves no process open, and keeps the pending question: the next start reopens it.
    expect(await second.stop()).toEqual({ status: 0, signal: null });
    const before = records(readFileSync(second.logFile, 'utf8')).filter((r) => r.type === 'exit' && r.detail?.startsWith('lost:')).length;
    third = await startAgentd('policy: policy.yaml\n', { 'policy.yaml': POLICY }, { stateDir: first.stateDir });
    expect(records(readFileSync(third.logFile, 'utf8')).filter((r) => r.type === 'exit' && r.detail?.startsWith('lost:')).length).toBe(before);
    expect((await third.api('GET', '/v1/approvals')).body).toEqual([expect.objectContaining({ id: newId, agentId: 'ext' })]);
    expect((await third.api('GET', `/v1/approvals/${oldId}`)).status).toBe(404);
  }, 60_000);
});
