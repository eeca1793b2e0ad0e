/**
 * The flight recorder: FileDecisionLog writes a hash chain that verifyLog
 * accepts, reopening continues it, and every kind of tampering is reported
 * with its kind and the first bad sequence number — in-process and through
 * `agentctl audit verify|show`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { body, type ChainRecord, GENESIS, seal, sealRecord } from '../../kernel/recorder/chain.ts';
import { FileDecisionLog } from '../../kernel/recorder/file-log.ts';
import { MemoryDecisionLog } from '../../kernel/decision-log.ts';
import { verifyLog } from '../../kernel/recorder/verify.ts';
import type { DecisionInput } from '../../syscalls/records.ts';
import { agentctl, scratch } from './helpers.ts';

const files = scratch();
afterAll(() => files.remove());

/** T0 is the fake clock's start; record i (1-based) is stamped T0 + i seconds. */
const T0 = Date.UTC(2026, 10, 23, 12);

/** entry returns the i-th (1-based) of a repeating mix of records from agents a and b. */
function entry(i: number): DecisionInput {
  const agentId = i % 2 === 0 ? 'b' : 'a';
  const pid = i % 2 === 0 ? 2 : 1;
  if (i % 5 === 1) return { type: 'spawn', pid, agentId, detail: 'agent.ts', policyVersion: 'sha256:p' };
  if (i % 5 === 0) return { type: 'approval', pid, agentId, detail: 'granted SYS_UNLINK by operator: ok', policyVersion: 'sha256:p' };
  const [syscall, access, effect] = i % 5 === 2 ? ['SYS_OPEN', 'read', 'allow'] as const : i % 5 === 3 ? ['SYS_WRITE', 'write', 'allow'] as const : ['SYS_UNLINK', 'write', 'deny'] as const;
  return { type: 'syscall', pid, agentId, syscall, access, effect, rule: `r${i % 5}`, reason: 'because', policyVersion: 'sha256:p', path: `/agent/${agentId}/mem/${i}`, args: { path: `/agent/${agentId}/mem/${i}`, data: new Uint8Array([i & 255]) } };
}

/** writeLog records entries from..to into `path` with the fake clock, closes it and returns the head. */
function writeLog(path: string, from: number, to: number, options: { durable?: boolean } = {}): string {
  let i = from;
  const log = new FileDecisionLog(path, { clock: () => T0 + i * 1000, ...options });
  for (; i <= to; i++) log.record(entry(i));
  const head = log.head;
  expect(log.count).toBe(to);
  log.close();
  return head;
}

const N = 12;
const good = (() => {
  const path = files.write('good.jsonl', '');
  const head = writeLog(path, 1, N);
  return { path, head, text: readFileSync(path, 'utf8') };
})();
const lines = good.text.trimEnd().split('\n');
const records = lines.map((l) => JSON.parse(l) as ChainRecord);
const joined = (ls: readonly string[]) => `${ls.join('\n')}\n`;

describe('FileDecisionLog writes a chain verifyLog accepts', () => {
  it('one JSON line per record, seq from 1, each naming the previous hash', () => {
    expect(verifyLog(good.text)).toEqual({ ok: true, records: N, head: good.head });
    expect(records.map((r) => r.seq)).toEqual(Array.from({ length: N }, (_, i) => i + 1));
    expect(records[0]!.prev).toBe(GENESIS);
    for (let i = 1; i < N; i++) expect(records[i]!.prev).toBe(records[i - 1]!.hash);
    expect(records.map((r) => r.time)).toEqual(records.map((r) => T0 + r.seq * 1000));
  });

  it('sealRecord writes the bytes seal(body()) writes, whatever the strings, keys and absent fields', () => {
    const awkward = ['', 'plain', 'quote " and \\ backslash', 'nl\n tab\t nul\u0000', 'lone \ud800 surrogate', 'é 中 🙂', '{"seq":1}', '\u2028\u2029'];
    let prev = GENESIS;
    let text = '';
    for (let i = 0; i < 200; i++) {
      const s = (k: number) => awkward[(i + k) % awkward.length]!;
      const fields: Omit<ChainRecord, 'seq' | 'time' | 'prev' | 'hash'> =
        i % 3 === 0
          ? { type: 'syscall', pid: i, agent: s(0), syscall: s(1), access: 'write', path: i % 2 === 0 ? s(2) : undefined, args: `sha256:${s(3)}`, req: { labels: { [s(4)]: s(5) }, caps: [s(6), s(7)], args: { [s(1)]: [s(2), i, null, { x: s(3) }] }, ...(i % 2 === 0 ? { withheld: [s(0)], unnamed: 2 } : {}) }, decision: 'allow', rule: s(4), reason: s(5), policy: s(6) }
          : { type: i % 3 === 1 ? 'outcome' : 'approval', pid: i, agent: s(1), syscall: i % 2 === 0 ? s(2) : undefined, detail: s(3), policy: i % 2 === 0 ? undefined : s(4) };
      const sealed = sealRecord(fields, i + 1, T0 + i, prev);
      expect(sealed.line).toBe(seal(body({ seq: i + 1, time: T0 + i, ...fields, prev })).line);
      prev = sealed.hash;
      text += sealed.line;
    }
    expect(verifyLog(text)).toEqual({ ok: true, records: 200, head: prev });
  });

  it('keeps a digest of the arguments, never the data', () => {
    const write = records.find((r) => r.syscall === 'SYS_WRITE')!;
    expect(write.args).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(lines.find((l) => l.includes('"data"'))).toBeUndefined();
  });

  it('reopening continues the chain where it stopped', () => {
    const path = files.write('reopen.jsonl', '');
    const first = writeLog(path, 1, 5);
    const second = writeLog(path, 6, 9);
    const text = readFileSync(path, 'utf8');
    expect(verifyLog(text)).toEqual({ ok: true, records: 9, head: second });
    expect((JSON.parse(text.split('\n')[5]!) as ChainRecord).prev).toBe(first);
  });

  it('beforeAction writes a record and everything before it, before the action; --durable writes every record at once', () => {
    const path = files.write('timing.jsonl', '');
    const log = new FileDecisionLog(path);
    log.record(entry(2)); // an allowed read: may wait for the next tick
    const seq = log.record(entry(3)); // an allowed write: waits in the buffer until its action asks
    expect(readFileSync(path, 'utf8')).toBe('');
    expect(log.beforeAction(seq)).toBeUndefined();
    expect(verifyLog(readFileSync(path, 'utf8')).records).toBe(2);
    log.close();
    const durablePath = files.write('durable.jsonl', '');
    const durable = new FileDecisionLog(durablePath, { durable: true });
    durable.record(entry(1));
    durable.record(entry(2));
    expect(verifyLog(readFileSync(durablePath, 'utf8'))).toEqual({ ok: true, records: 2, head: durable.head });
    durable.close();
  });

  it('a log whose tail is torn, or whose last line is not a record, refuses to be reopened (EIO)', () => {
    const torn = files.write('torn-reopen.jsonl', good.text.slice(0, -20));
    expect(() => new FileDecisionLog(torn)).toThrow(expect.objectContaining({ errno: 'EIO' }));
    const garbage = files.write('garbage-reopen.jsonl', `${good.text}not a record\n`);
    expect(() => new FileDecisionLog(garbage)).toThrow(expect.objectContaining({ errno: 'EIO' }));
    expect(readFileSync(torn, 'utf8')).toBe(good.text.slice(0, -20));
  });
});

/** forge builds a record that hashes correctly, as someone rewriting the file would. */
function forge(fields: Omit<ChainRecord, 'hash'>): string {
  return seal(body(fields as unknown as Record<string, unknown>)).line.trimEnd();
}

const K = 6;
const { hash: _h, ...template } = records[K - 1]!;
// prettier-ignore
const TAMPERED: readonly [what: string, text: string, kind: string, seq: number][] = [
  ['edit a field', joined(lines.map((l, i) => (i === K - 1 ? l.replace('"agent":"b"', '"agent":"a"') : l))), 'edited', K],
  ['delete a middle record', joined(lines.filter((_, i) => i !== K - 1)), 'deleted', K],
  ['insert a duplicated record', joined(lines.flatMap((l, i) => (i === K - 1 ? [l, l] : [l]))), 'inserted', K],
  ['insert a forged record with a recomputed hash', joined(lines.flatMap((l, i) => (i === K - 1 ? [l, forge({ ...template, seq: K + 1, prev: records[K - 1]!.hash, detail: 'forged' })] : [l]))), 'inserted', K + 1],
  ['replace a record by a forged one with a recomputed hash', joined(lines.map((l, i) => (i === K - 1 ? forge({ ...template, decision: 'allow' }) : l))), 'broken-chain', K + 1],
  ['swap two records', joined(lines.map((l, i) => (i === K - 1 ? lines[K]! : i === K ? lines[K - 1]! : l))), 'reordered', K + 1],
  ['move a record to the end', joined([...lines.filter((_, i) => i !== K - 1), lines[K - 1]!]), 'reordered', K + 1],
  ['truncate mid-line (torn tail)', good.text.slice(0, good.text.length - Math.floor(lines[N - 1]!.length / 2)), 'torn-tail', N],
  ['truncate in the middle of the file', good.text.slice(0, joined(lines.slice(0, K - 1)).length + 10), 'torn-tail', K],
  ['a line that is not JSON', joined(lines.map((l, i) => (i === K - 1 ? 'x'.repeat(40) : l))), 'malformed', K],
];

describe('verifyLog finds each kind of tampering, with the first bad seq', () => {
  it.each(TAMPERED)('%s', (_what, text, kind, seq) => {
    const result = verifyLog(text);
    expect(result.ok).toBe(false);
    expect([result.problem!.kind, result.problem!.seq]).toEqual([kind, seq]);
    expect(result.problem!.message).toContain(String(seq));
  });

  it('the records before the problem still verify, with their head', () => {
    const result = verifyLog(good.text.slice(0, -5));
    expect([result.records, result.head]).toEqual([N - 1, records[N - 2]!.hash]);
  });

  it('expectHead catches a cleanly cut tail, which otherwise looks whole', () => {
    const cut = joined(lines.slice(0, N - 2));
    expect(verifyLog(cut).ok).toBe(true);
    const anchored = verifyLog(cut, { expectHead: good.head });
    expect([anchored.ok, anchored.problem?.kind, anchored.problem?.seq]).toEqual([false, 'edited', N - 2]);
    expect(verifyLog(good.text, { expectHead: good.head }).ok).toBe(true);
  });

  it('expectHead also catches a forged record appended at the end', () => {
    const appended = `${good.text}${forge({ ...template, seq: N + 1, prev: good.head })}\n`;
    expect(verifyLog(appended).ok).toBe(true);
    expect(verifyLog(appended, { expectHead: good.head }).ok).toBe(false);
  });
});

/** show runs `agentctl audit show` on the good log with `flags` and returns the seqs it printed. */
async function show(...flags: string[]): Promise<number[]> {
  const r = await agentctl(['audit', 'show', good.path, '--json', ...flags]);
  expect(r.status).toBe(0);
  return r.stdout.trimEnd().split('\n').filter(Boolean).map((l) => (JSON.parse(l) as ChainRecord).seq);
}

/** seqs lists the seqs of the good log's records that `keep` accepts. */
function seqs(keep: (r: ChainRecord) => boolean): number[] {
  return records.filter(keep).map((r) => r.seq);
}

describe('agentctl audit', () => {
  it('verify exits 0 on a good log and 1 naming the seq on a bad one', async () => {
    const bad = files.write('bad.jsonl', TAMPERED[1]![1]);
    const [ok, failed, json] = await Promise.all([agentctl(['audit', 'verify', good.path]), agentctl(['audit', 'verify', bad]), agentctl(['audit', 'verify', bad, '--json'])]);
    expect([ok.status, ok.stdout]).toEqual([0, `ok: ${N} records verify; head ${good.head}\n`]);
    expect(failed.status).toBe(1);
    expect(failed.stdout).toBe(`FAILED at seq ${K}: record ${K} is missing (found ${K + 1} at line ${K}): deleted\n`);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, records: K - 1, problem: { kind: 'deleted', seq: K } });
  });

  it('verify --head checks the anchor; a missing file exits 2', async () => {
    const cut = files.write('cut.jsonl', joined(lines.slice(0, N - 1)));
    const [plain, anchored, missing] = await Promise.all([
      agentctl(['audit', 'verify', cut]),
      agentctl(['audit', 'verify', cut, '--head', good.head]),
      agentctl(['audit', 'verify', `${files.dir}/nope.jsonl`]),
    ]);
    expect(plain.status).toBe(0);
    expect([anchored.status, anchored.stdout.startsWith(`FAILED at seq ${N - 1}:`)]).toEqual([1, true]);
    expect([missing.status, missing.stderr]).toEqual([2, `agentctl: ${files.dir}/nope.jsonl: no such file or directory\n`]);
  });

  it('show filters by agent, syscall, decision, type and time', async () => {
    const since = new Date(T0 + 4000).toISOString();
    const [all, byAgent, bySyscall, denyA, approvals, window] = await Promise.all([
      show(),
      show('--agent', 'b'),
      show('--syscall', 'SYS_WRITE'),
      show('--decision', 'deny', '--agent', 'a'),
      show('--type', 'approval'),
      show('--since', since, '--until', String(T0 + 8000)),
    ]);
    expect(all).toEqual(seqs(() => true));
    expect(byAgent).toEqual(seqs((r) => r.agent === 'b'));
    expect(bySyscall).toEqual(seqs((r) => r.syscall === 'SYS_WRITE'));
    expect(denyA).toEqual(seqs((r) => r.decision === 'deny' && r.agent === 'a'));
    expect(denyA.length).toBeGreaterThan(0);
    expect(approvals).toEqual(seqs((r) => r.type === 'approval'));
    expect(window).toEqual([4, 5, 6, 7]);
  });

  it('show prints readable lines and skips a torn tail', async () => {
    const torn = files.write('show-torn.jsonl', good.text.slice(0, -10));
    const r = await agentctl(['audit', 'show', torn, '--syscall', 'SYS_UNLINK']);
    const expected = records.filter((x) => x.syscall === 'SYS_UNLINK' && x.seq < N);
    expect(r.stdout.trimEnd().split('\n')).toHaveLength(expected.length);
    expect(r.stdout).toContain(`SYS_UNLINK ${expected[0]!.path} deny (r4)`);
    expect((await agentctl(['audit', 'show', good.path, '--since', 'yesterday-ish'])).status).toBe(2);
  });

  it('agentctl run --log, with and without --durable, leaves a log that verifies', async () => {
    const program = files.write('writer.ts', "for (let i = 0; i < 20; i++) sys.writeFile(`mem/f${i}`, 'x'.repeat(i));\nconsole.log('done');\n");
    for (const durable of [[], ['--durable']]) {
      const log = files.write(`run${durable.length}.jsonl`, '');
      const run = await agentctl(['run', program, '--log', log, '--approve=deny', ...durable]);
      expect([run.status, run.stdout]).toEqual([0, 'done\n']);
      const verified = await agentctl(['audit', 'verify', log, '--json']);
      expect(verified.status).toBe(0);
      const text = readFileSync(log, 'utf8');
      expect(verifyLog(text).records).toBe(JSON.parse(verified.stdout).records);
      const kinds = text.trimEnd().split('\n').map((l) => JSON.parse(l) as ChainRecord);
      // The kernel's start comes first (a replay resets its counters there), then the agent's spawn.
      expect([kinds[0]!.type, kinds[0]!.agent, kinds[1]!.type]).toEqual(['policy', 'kernel', 'spawn']);
      expect(kinds.at(-1)!.type).toBe('exit');
      expect(kinds.filter((r) => r.syscall === 'SYS_OPEN' && r.decision === 'allow')).toHaveLength(20);
    }
  });

  it('agentctl run refuses to append to a log with a torn tail', async () => {
    const torn = files.write('run-torn.jsonl', good.text.slice(0, -3));
    const program = files.write('noop.ts', "console.log('ran');\n");
    const run = await agentctl(['run', program, '--log', torn, '--approve=deny']);
    expect(run.status).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('torn record');
    writeFileSync(torn, good.text);
  });
});

describe('the in-memory decision log', () => {
  // Found by an attacker pass: it bounded the number of records only; an agent's stats of 4 KB paths at 10,000 a
  // second grew a kernel by ~33 MB a second until it died of heap exhaustion.
  it('keeps about its byte bound of records with long paths, counting every one', () => {
    const log = new MemoryDecisionLog(1_000_000, 1 << 20);
    const path = `/agent/a/${'x'.repeat(4000)}`;
    for (let i = 0; i < 2000; i++) log.record({ type: 'syscall', pid: 1, agentId: 'a', syscall: 'SYS_STAT', access: 'read', effect: 'deny', rule: 'r', reason: 'no', path: `${path}${i}` });
    expect(log.count).toBe(2000);
    const kept = log.list();
    expect(kept.length).toBeGreaterThan(50);
    expect(kept.length * 8000).toBeLessThanOrEqual((1 << 20) * 1.25 + 8192);
    // The newest are the ones kept, in order, their sequence numbers unchanged.
    expect(kept.at(-1)).toMatchObject({ seq: 2000, path: `${path}1999` });
    expect(kept[0]!.seq).toBe(2001 - kept.length);
  });
});
