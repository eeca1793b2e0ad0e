/**
 * Replaying a decision log against a candidate policy (kernel/replay): a
 * real agent runs in a real isolate under policy A and its records go to a
 * file log (and, below, to a Redis decision stream); the log is then
 * re-decided under candidates. Under A nothing changes; under each
 * candidate exactly the expected records change — limits, rates and time
 * windows at the recorded times, contracts' counters by the outcomes that
 * ran. Calls the kernel decided before the policy keep their decision; a
 * rule reading an argument the record kept only as a digest makes its
 * records undecidable; logs from before `req`, truncated logs and files of
 * another format are refused by agentctl with one line and status 2.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kernel } from '../../kernel/kernel.ts';
import { parsePolicy, type LoadedPolicy } from '../../kernel/policy/load.ts';
import { programFromSource } from '../../kernel/program.ts';
import { body, GENESIS, seal, type ChainRecord } from '../../kernel/recorder/chain.ts';
import { FileDecisionLog } from '../../kernel/recorder/file-log.ts';
import { nodesKey, RedisStreamLog } from '../../kernel/recorder/redis-stream-log.ts';
import { Replayer, type ReplaySummary } from '../../kernel/replay/replay.ts';
import { replayFile, replayStreams } from '../../kernel/replay/sources.ts';
import type { DecisionRecorder } from '../../syscalls/records.ts';
import { REDIS_URL, redisForTests } from '../redis.ts';
import { agentctl, scratch } from './helpers.ts';

const files = scratch();
afterAll(() => files.remove());

const SELF = '  - { id: self, effect: allow, syscalls: [SYS_READ, SYS_WRITE, SYS_CLOSE, SYS_GETPID, SYS_EXIT, SYS_STAT, SYS_MKDIR] }\n';
const OWN = '  - { id: own-files, effect: allow, syscalls: [SYS_OPEN, SYS_UNLINK], paths: ["/agent/${agent}/**"] }\n';
const policy = (name: string, rules: string, more = ''): { text: string; loaded: LoadedPolicy } => {
  const text = `version: 1\nrules:\n${rules}${more}`;
  return { text, loaded: parsePolicy(text, `${name}.yaml`) };
};

const A = policy('a', `${SELF}${OWN}  - { id: clock, effect: allow, syscalls: [SYS_EXEC], tools: [time.now] }\n`);
const CANDIDATES = {
  // Two opens change (a deny placed first), the unlink becomes a question for the finance team's agents (labels from req), the clock's max_calls stops two of three.
  b: policy(
    'b',
    `${SELF}  - { id: no-secrets, effect: deny, syscalls: [SYS_OPEN], paths: ["/agent/*/mem/secret/**"] }\n  - { id: ask-unlink, effect: require_approval, syscalls: [SYS_UNLINK], labels: { team: finance } }\n${OWN}  - { id: clock-once, effect: allow, syscalls: [SYS_EXEC], tools: [time.now], limits: { max_calls: 1 } }\n`,
  ),
  // At the recorded times the calls are 40 s apart (the log's clock): one per minute stops only the second.
  rate: policy('rate', `${SELF}${OWN}  - { id: clock-slow, effect: allow, syscalls: [SYS_EXEC], tools: [time.now], limits: { rate: { count: 1, per: minute } } }\n`),
  // The log was written on Monday 2026-01-05 from 10:00 UTC; replay is on another day.
  monday: policy('monday', `${SELF}${OWN}  - { id: clock, effect: allow, syscalls: [SYS_EXEC], tools: [time.now], when: { days: [mon], hours: "09:00-11:00" } }\n`),
  tuesday: policy('tuesday', `${SELF}${OWN}  - { id: clock, effect: allow, syscalls: [SYS_EXEC], tools: [time.now], when: { days: [tue] } }\n`),
  // An argument kept in the clear (open's flags) decides.
  flags: policy('flags', `  - { id: no-open-for-write, effect: deny, syscalls: [SYS_OPEN], args: [{ arg: flags, equals: w }] }\n${SELF}${OWN}  - { id: clock, effect: allow, syscalls: [SYS_EXEC], tools: [time.now] }\n`),
  // A write's data is kept only as a digest: a rule on it cannot be re-decided.
  data: policy('data', `  - { id: no-secret-data, effect: deny, syscalls: [SYS_WRITE], args: [{ arg: data, contains: secret }] }\n${SELF}${OWN}  - { id: clock, effect: allow, syscalls: [SYS_EXEC], tools: [time.now] }\n`),
  // A contract counting the opens for writing that ran: the second is refused.
  contract: policy('contract', A.text.slice('version: 1\nrules:\n'.length), `contracts:\n  - { id: one-write-open, syscalls: [SYS_OPEN], pre: ["request.access != 'write' || counters.calls < 1"] }\n`),
};

const PROGRAM = `
sys.writeFile('mem/note.txt', 'hello');
sys.mkdir('mem/secret');
sys.writeFile('mem/secret/key.txt', 'k');
console.log(sys.readFile('mem/secret/key.txt'));
for (let i = 0; i < 3; i++) sys.exec('time.now');
try { sys.readFile('/agent/other/mem/x.txt'); } catch (e) { console.log(e.errno); }
sys.unlink('mem/note.txt');
`;

/** Monday 2026-01-05 10:00 UTC; each record 20 s after the one before. */
const START = Date.UTC(2026, 0, 5, 10, 0, 0);
const steppingClock = () => {
  let t = START - 20_000;
  return () => (t += 20_000);
};

async function runUnderA(recorder: DecisionRecorder): Promise<string> {
  const kernel = new Kernel({ policy: A.loaded, recorder, stdout: () => {}, stderr: () => {} });
  let out = '';
  const proc = kernel.spawn(programFromSource('replayed.js', PROGRAM), {
    agentId: 'fin',
    manifest: { labels: { team: 'finance' }, capabilities: ['tool:time.now'] },
    stdout: (c) => void (out += new TextDecoder().decode(c)),
  });
  expect((await kernel.wait(proc.pid)).status).toBe(0);
  await kernel.shutdown();
  return out;
}

function replayed(log: string, candidate: LoadedPolicy): ReplaySummary {
  const replayer = new Replayer(candidate);
  replayFile(log, replayer);
  return replayer.summary();
}

const LOG = join(files.dir, 'a.jsonl');
const seqsOf = (s: ReplaySummary) => s.changes.map((c) => `${c.syscall}${c.tool ? ` ${c.tool}` : ''}${c.path ? ` ${c.path}` : ''}: ${c.before.effect}/${c.before.rule} -> ${c.after.effect}/${c.after.rule}`);

describe('agentctl replay: a log re-decided under a candidate policy', () => {
  beforeAll(async () => {
    const log = new FileDecisionLog(LOG, { clock: steppingClock() });
    expect(await runUnderA(log)).toBe('k\nEACCES\n');
    log.close();
  });

  it('under the policy that wrote it, nothing changes; the kernel’s own decision is kept', () => {
    const s = replayed(LOG, A.loaded);
    expect(s).toMatchObject({ changed: 0, undecidable: 0, otherRule: 0, kernel: 1 });
    expect(s.replayed).toBe(s.decisions - 1);
    expect(s.unchanged).toBe(s.replayed);
    expect(s.replayed).toBeGreaterThan(15);
  });

  it('under a candidate, exactly the expected records change: a deny, a question by label, a limit', () => {
    const s = replayed(LOG, CANDIDATES.b.loaded);
    expect(seqsOf(s)).toEqual([
      'SYS_OPEN /agent/fin/mem/secret/key.txt: allow/own-files -> deny/no-secrets',
      'SYS_OPEN /agent/fin/mem/secret/key.txt: allow/own-files -> deny/no-secrets',
      'SYS_EXEC time.now: allow/clock -> deny/clock-once',
      'SYS_EXEC time.now: allow/clock -> deny/clock-once',
      'SYS_UNLINK /agent/fin/mem/note.txt: allow/own-files -> require_approval/ask-unlink',
    ]);
    expect(s.directions).toEqual({ 'allow→deny': 4, 'allow→require_approval': 1 });
    expect(s.byRule).toEqual({ 'own-files → no-secrets': 2, 'clock → clock-once': 2, 'own-files → ask-unlink': 1 });
    expect(s.bySyscall).toEqual({ SYS_OPEN: 2, 'time.now': 2, SYS_UNLINK: 1 });
    expect(s.byAgent).toEqual({ fin: 5 });
    expect(s.kernel).toBe(1);
  });

  it('rates and time windows are evaluated at the recorded times, not now', () => {
    expect(seqsOf(replayed(LOG, CANDIDATES.rate.loaded))).toEqual(['SYS_EXEC time.now: allow/clock -> deny/clock-slow']);
    const slow = replayed(LOG, CANDIDATES.rate.loaded).changes[0]!;
    expect(slow.after.reason).toMatch(/rate 1 per minute/);
    expect(replayed(LOG, CANDIDATES.monday.loaded).changed).toBe(0);
    const tuesday = replayed(LOG, CANDIDATES.tuesday.loaded);
    expect(tuesday.changed).toBe(3);
    expect(tuesday.byRule).toEqual({ 'clock → default-deny': 3 });
  });

  it('arguments kept in the clear decide; a rule on one kept only as a digest makes its records undecidable, never unchanged', () => {
    expect(seqsOf(replayed(LOG, CANDIDATES.flags.loaded))).toEqual([
      'SYS_OPEN /agent/fin/mem/note.txt: allow/own-files -> deny/no-open-for-write',
      'SYS_OPEN /agent/fin/mem/secret/key.txt: allow/own-files -> deny/no-open-for-write',
    ]);
    const data = replayed(LOG, CANDIDATES.data.loaded);
    const writes = readFileSync(LOG, 'utf8').split('\n').filter((l) => l.includes('"syscall":"SYS_WRITE","access"')).length;
    expect(writes).toBeGreaterThanOrEqual(4);
    expect(data.undecidable).toBe(writes);
    expect(data.changed).toBe(0);
    expect(data.undecidables[0]!.why).toMatch(/rule no-secret-data matches argument 'data', which the record keeps only as a digest/);
  });

  it("contracts' counters count the calls that ran in the log and that the candidate lets through", () => {
    const s = replayed(LOG, CANDIDATES.contract.loaded);
    expect(seqsOf(s)).toEqual(['SYS_OPEN /agent/fin/mem/secret/key.txt: allow/own-files -> deny/contract:one-write-open']);
  });

  it('the CLI prints the summary, --json, and --fail-on-change exits 1 on a change or an undecidable record', async () => {
    const paths = Object.fromEntries(Object.entries(CANDIDATES).map(([name, p]) => [name, files.write(`${name}.yaml`, p.text)]));
    const same = files.write('a.yaml', A.text);
    const quiet = await agentctl(['replay', LOG, '--policy', same, '--fail-on-change']);
    expect(quiet.status).toBe(0);
    expect(quiet.stdout).toMatch(/unchanged \d+ \(0 by another rule\), changed 0/);
    const changed = await agentctl(['replay', LOG, '--policy', paths.b!, '--fail-on-change']);
    expect(changed.status).toBe(1);
    expect(changed.stdout).toContain('allow→deny              4');
    expect(changed.stdout).toContain('allow (own-files) → deny (no-secrets: denied by rule no-secrets)');
    expect(changed.stderr).toContain('--fail-on-change: 5 decisions change, 0 cannot be re-decided');
    const json = await agentctl(['replay', LOG, '--policy', paths.b!, '--json', '--show', '1']);
    expect(json.status).toBe(0);
    const summary = JSON.parse(json.stdout) as ReplaySummary;
    expect(summary).toMatchObject({ changed: 5, kernel: 1, policy: CANDIDATES.b.loaded.version });
    expect(summary.changes).toHaveLength(1);
    expect((await agentctl(['replay', LOG, '--policy', paths.data!, '--fail-on-change'])).status).toBe(1);
    expect((await agentctl(['replay', LOG, '--policy', paths.data!])).status).toBe(0);
    const verified = await agentctl(['replay', LOG, '--policy', same, '--verify']);
    expect(verified.status).toBe(0);
  });

  it('refuses, with one line and status 2: a log from before req, a torn or truncated log, a missing segment, another format, an edited log with --verify, a bad policy', async () => {
    const same = files.write('a2.yaml', A.text);
    const lines = readFileSync(LOG, 'utf8').trimEnd().split('\n');
    // An older agent-kernel's log: the same records, chained, without req.
    let prev = GENESIS;
    const old = lines.map((line) => {
      const { req: _req, hash: _hash, ...rest } = JSON.parse(line) as ChainRecord;
      const sealed = seal(body({ ...rest, prev } as unknown as Record<string, unknown>));
      prev = sealed.hash;
      return sealed.line;
    });
    const cases: [string, string, RegExp][] = [
      ['old.jsonl', old.join(''), /old\.jsonl:3: record 3 \(SYS_OPEN, rule own-files\) does not carry the question the policy was asked \(no 'req' field\): the log was written by an agent-kernel older than replay/],
      ['torn.jsonl', `${lines.slice(0, 5).join('\n')}\n${lines[5]!.slice(0, 40)}`, /torn\.jsonl:6: the log ends inside a record/],
      ['cut.jsonl', `${lines.slice(3).join('\n')}\n`, /cut\.jsonl:1: the log starts at record 4, not 1: its beginning is missing/],
      ['hole.jsonl', `${[...lines.slice(0, 4), ...lines.slice(6)].join('\n')}\n`, /hole\.jsonl:5: record 7 follows record 4: records are missing or out of order/],
      ['other.jsonl', '{"level":"info","msg":"hello"}\n', /other\.jsonl:1: not a decision record \(no seq, prev and hash\)/],
      ['text.log', 'GET / 200\n', /text\.log:1: not JSON: not a decision log/],
      ['empty.jsonl', '', /empty\.jsonl: no records: nothing to replay/],
    ];
    for (const [name, text, message] of cases) {
      const r = await agentctl(['replay', files.write(name, text), '--policy', same]);
      expect(r.status, name).toBe(2);
      expect(r.stderr.trim().split('\n'), name).toHaveLength(1);
      expect(r.stderr, name).toMatch(message);
    }
    // A segmented log whose second segment is gone: the first and the third are there.
    files.write('seg.jsonl', `${lines.slice(0, 5).join('\n')}\n`);
    files.write('seg.000003.jsonl', `${lines.slice(5).join('\n')}\n`);
    const gone = await agentctl(['replay', join(files.dir, 'seg.jsonl'), '--policy', same]);
    expect(gone.status).toBe(2);
    expect(gone.stderr.trim().split('\n')).toHaveLength(1);
    expect(gone.stderr).toMatch(/seg\.000002\.jsonl: segment missing: the log goes on in seg\.000003\.jsonl; a replay needs every segment/);
    const edited = files.write('edited.jsonl', `${lines.map((l, i) => (i === 2 ? l.replace('"agent":"fin"', '"agent":"fim"') : l)).join('\n')}\n`);
    const refused = await agentctl(['replay', edited, '--policy', same, '--verify']);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/does not verify, so it is not replayed: record 3 .*edited/);
    const badPolicy = await agentctl(['replay', LOG, '--policy', files.write('bad.yaml', 'version: 1\nrules:\n  - { id: x, effect: maybe }\n')]);
    expect(badPolicy.status).toBe(2);
    expect(badPolicy.stderr).toMatch(/bad\.yaml:3/);
    expect((await agentctl(['replay', join(files.dir, 'none.jsonl'), '--policy', same])).stderr).toMatch(/none\.jsonl: no such file or directory/);
    const away = await agentctl(['replay', '--redis', 'redis://user:hunter2@127.0.0.1:1', '--policy', same]);
    expect(away.status).toBe(2);
    expect(away.stderr).toMatch(/^agentctl: redis:\/\/user:\*\*\*@127\.0\.0\.1:1: /);
    expect(away.stderr).not.toContain('hunter2');
  });
});

const env = await redisForTests('replay');
afterAll(() => env?.cleanup());

describe.skipIf(env === undefined)('agentctl replay --redis: a decision stream re-decided', () => {
  it('replays a node’s stream as it does a file: nothing changes under A, the same five under the candidate', async () => {
    const client = await env!.client();
    const prefix = env!.prefix;
    const log = await RedisStreamLog.open(client, { prefix, node: 'replay-1', clock: steppingClock() });
    await runUnderA(log);
    await log.close();
    const under = async (p: LoadedPolicy) => {
      const replayer = new Replayer(p);
      await replayStreams(client, prefix, replayer);
      return replayer.summary();
    };
    expect(await under(A.loaded)).toMatchObject({ changed: 0, undecidable: 0, kernel: 1 });
    const b = await under(CANDIDATES.b.loaded);
    expect(seqsOf(b)).toEqual(seqsOf(replayed(LOG, CANDIDATES.b.loaded)));
    // A stream dropped from the list of nodes is still found (as audit verify finds it), not left out of the replay.
    await client.srem(nodesKey(prefix), 'replay-1');
    expect(seqsOf(await under(CANDIDATES.b.loaded))).toEqual(seqsOf(b));
    const cli = await agentctl(['replay', '--redis', REDIS_URL, '--prefix', prefix, '--node', 'replay-1', '--policy', files.write('b-redis.yaml', CANDIDATES.b.text), '--verify', '--json']);
    expect(cli.status).toBe(0);
    expect(JSON.parse(cli.stdout)).toMatchObject({ changed: 5, kernel: 1 });
    const missing = await agentctl(['replay', '--redis', REDIS_URL, '--prefix', prefix, '--node', 'nobody', '--policy', files.write('a-redis.yaml', A.text)]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/node nobody's decision stream does not exist/);
  });
});

const at = () => 'log:1';

/** run runs `program` as agent fin under `loaded`, its records to `recorder`; every question is granted. */
async function run(recorder: DecisionRecorder, loaded: LoadedPolicy, program: string, manifest: Record<string, unknown> = {}): Promise<string> {
  const kernel = new Kernel({ policy: loaded, recorder, stdout: () => {}, stderr: () => {}, approver: async () => ({ approved: true, approver: 'test', reason: 'ok' }) });
  let out = '';
  const proc = kernel.spawn(programFromSource('counted.js', program), { agentId: 'fin', manifest: { capabilities: ['tool:time.now'], ...manifest }, stdout: (c) => void (out += new TextDecoder().decode(c)) });
  await kernel.wait(proc.pid);
  await kernel.shutdown();
  return out;
}

describe('replay counts as the original kernels did', () => {
  const clockOnce = policy('clock-twice', `${SELF}${OWN}  - { id: clock, effect: allow, syscalls: [SYS_EXEC], tools: [time.now], limits: { max_calls: 2 } }\n`);

  it('a kernel that starts again (its start record) starts its limits from zero, as the original did', async () => {
    const path = join(files.dir, 'restarts.jsonl');
    for (let i = 0; i < 2; i++) {
      const log = new FileDecisionLog(path, { clock: steppingClock() });
      expect(await run(log, clockOnce.loaded, "sys.exec('time.now'); sys.exec('time.now'); console.log('ok');")).toBe('ok\n');
      log.close();
    }
    const starts = readFileSync(path, 'utf8').split('\n').filter((l) => l.includes('"agent":"kernel"') && l.includes('kernel started'));
    expect(starts).toHaveLength(2);
    expect(replayed(path, clockOnce.loaded)).toMatchObject({ changed: 0, undecidable: 0 });
  });

  it('an agent at autonomy supervised has the allowed changes of a candidate turned into questions, as the kernel would', async () => {
    const sup = policy('sup', `${SELF}${OWN.replace('SYS_OPEN, SYS_UNLINK', 'SYS_OPEN')}  - { id: ask-unlink, effect: require_approval, syscalls: [SYS_UNLINK], paths: ["/agent/*/mem/a.txt"] }\n  - { id: no-unlink-b, effect: deny, syscalls: [SYS_UNLINK], paths: ["/agent/*/mem/b.txt"] }\n`);
    const path = join(files.dir, 'supervised.jsonl');
    const log = new FileDecisionLog(path, { clock: steppingClock() });
    const out = await run(log, sup.loaded, "sys.writeFile('mem/a.txt', 'a'); sys.writeFile('mem/b.txt', 'b'); sys.unlink('mem/a.txt'); try { sys.unlink('mem/b.txt'); } catch (e) { console.log(e.errno); }", { autonomy: 'supervised' });
    log.close();
    expect(out).toBe('EACCES\n');
    // Under a candidate allowing both unlinks, the kernel would have asked about both: the deny becomes a question, the question stays one.
    const s = replayed(path, policy('both', `${SELF}${OWN}`).loaded);
    expect(seqsOf(s)).toEqual(['SYS_UNLINK /agent/fin/mem/b.txt: deny/no-unlink-b -> require_approval/kernel.autonomy']);
    expect(s.otherRule).toBeGreaterThanOrEqual(1);
  });

  it('a call that cannot be re-decided makes the later calls its limits or contracts counted undecidable too, never a false change', async () => {
    const counted = `contracts:\n  - { id: two-changes, syscalls: [SYS_OPEN, SYS_WRITE], pre: ["counters.calls < 3"] }\n`;
    const original = policy('counted', `${SELF}${OWN}`, counted);
    const path = join(files.dir, 'counted.jsonl');
    const log = new FileDecisionLog(path, { clock: steppingClock() });
    await run(log, original.loaded, "sys.writeFile('mem/a.txt', 'a'); try { sys.readFile('mem/a.txt'); } catch (e) { console.log(e.errno); }");
    log.close();
    // The contract reads counters, not arguments: the same policy re-decides every call.
    expect(replayed(path, original.loaded)).toMatchObject({ changed: 0, undecidable: 0 });
    // A rule on the write's data (a digest in the record) makes the write undecidable, and the open after it, whose contract counted it.
    const s = replayed(path, policy('on-data', `  - { id: no-secret-data, effect: deny, syscalls: [SYS_WRITE], args: [{ arg: data, contains: secret }] }\n${SELF}${OWN}`, counted).loaded);
    expect(s.changed).toBe(0);
    expect(s.undecidables.map((u) => u.syscall)).toEqual(['SYS_WRITE', 'SYS_OPEN']);
    expect(s.undecidables[1]!.why).toMatch(/contract:two-changes counts this agent's calls, and record \d+'s call \(undecidable\) may have been counted/);
  });

  it('keeps a cluster store being out of reach as the kernel decided it; refuses a record whose time is no moment; tells capability lists apart', () => {
    const r = new Replayer(A.loaded);
    const record = (seq: number, extra: Record<string, unknown>) => ({ type: 'syscall', seq, time: START + seq, pid: 1, agent: 'x', syscall: 'SYS_EXEC', access: 'write', req: { tool: 'time.now' }, ...extra });
    r.feed(record(1, { decision: 'deny', rule: 'kernel.shared-limits' }), at);
    expect(r.summary()).toMatchObject({ kernel: 1, replayed: 0 });
    expect(() => r.feed(record(2, { decision: 'allow', rule: 'clock', time: 1e20 }), at)).toThrow(/log:1: record 2 has a time \(100000000000000000000\) that is no moment/);
    const caps = new Replayer(policy('caps', `  - { id: needs-both, effect: allow, syscalls: [x.act], capabilities: [net:a, net:b] }\n`).loaded);
    caps.feed({ type: 'syscall', seq: 1, time: START, pid: 0, agent: 'x', syscall: 'x.act', access: 'none', decision: 'deny', rule: 'default-deny', req: { caps: ['net:a\nnet:b'] } }, at);
    caps.feed({ type: 'syscall', seq: 2, time: START, pid: 0, agent: 'x', syscall: 'x.act', access: 'none', decision: 'allow', rule: 'needs-both', req: { caps: ['net:a', 'net:b'] } }, at);
    // A list that is the start of another, the same list again, one that goes on from it, and none at all are each their own set.
    const more = [[['net:a'], 'deny'], [['net:a', 'net:b'], 'allow'], [['net:a', 'net:b', 'net:c'], 'allow'], [['net:b', 'net:a'], 'allow'], [[], 'deny'], [['net:a'], 'deny']] as const;
    more.forEach(([list, decision], i) => caps.feed({ type: 'syscall', seq: 3 + i, time: START, pid: 0, agent: 'x', syscall: 'x.act', access: 'none', decision, rule: decision === 'allow' ? 'needs-both' : 'default-deny', req: { caps: list } }, at));
    caps.feed({ type: 'syscall', seq: 9, time: START, pid: 0, agent: 'x', syscall: 'x.act', access: 'none', decision: 'deny', rule: 'default-deny', req: {} }, at);
    expect(caps.summary()).toMatchObject({ replayed: 9, changed: 0 });
  });
});
