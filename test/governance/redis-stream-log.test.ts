/**
 * The recorder on Redis Streams: one stream per node in the file log's
 * record format and hash chain; records reach Redis before the effects they
 * allow (beforeAction), in order and exactly once across retries; a second
 * writer with the same node id is fenced; with Redis away effects fail
 * closed and the queued records land once it is back; verifyStreams and
 * `agentctl audit verify --redis` find edits, moves, broken chains, gaps and
 * missing streams on every node.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kernel } from '../../kernel/kernel.ts';
import type { RedisClient } from '../../kernel/redis/connect.ts';
import { body, seal, type ChainRecord } from '../../kernel/recorder/chain.ts';
import { RedisStreamLog, nodesKey, streamKey } from '../../kernel/recorder/redis-stream-log.ts';
import { decisionPrefixes, verifyStreams } from '../../kernel/recorder/redis-verify.ts';
import { StreamMirror } from '../../kernel/recorder/stream-mirror.ts';
import { FileDecisionLog } from '../../kernel/recorder/file-log.ts';
import { verifyLog } from '../../kernel/recorder/verify.ts';
import type { DecisionInput, DecisionRecorder } from '../../syscalls/records.ts';
import { KernelError } from '../../abi/errno.ts';
import type { BackendFile, VfsBackend } from '../../vfs/backend.ts';
import { MemfsBackend } from '../../vfs/memfs-backend.ts';
import { RedisProxy, redisForTests } from '../redis.ts';
import { hostPipe } from '../live-agents.ts';
import { report } from '../syscalls/harness.ts';
import { until } from '../until.ts';
import { agentctl } from './helpers.ts';

const env = await redisForTests('stream-log');
afterAll(() => env?.cleanup());

let nodes = 0;
const nextNode = () => `node-${++nodes}`;
const entry = (i: number): DecisionInput => ({ type: 'syscall', pid: 1, agentId: 'a', syscall: 'SYS_WRITE', access: 'write', effect: 'allow', rule: 'r', reason: `call ${i}`, args: { fd: 1, data: new Uint8Array([i & 0xff]) } });
const lifecycle = (detail: string): DecisionInput => ({ type: 'spawn', pid: 1, agentId: 'a', detail });

async function streamLines(client: RedisClient, prefix: string, node: string): Promise<[string, string][]> {
  return (await client.xrange(streamKey(prefix, node), '-', '+')).map(([id, fields]) => [id, fields[1]!]);
}

function errnoOf(err: unknown): string {
  return err instanceof KernelError ? err.errno : `not a KernelError: ${String(err)}`;
}

/** rebuild replaces a node's stream with `entries` (tampering as an attacker with Redis access would). */
async function rebuild(client: RedisClient, key: string, entries: [string, string][]): Promise<void> {
  await client.del(key);
  for (const [id, line] of entries) await client.xadd(key, id, 'rec', line);
}

/** A memfs backend that checks, at every effect, that Redis already holds every record made so far. */
function watchedBackend(log: RedisStreamLog, effects: string[]): VfsBackend {
  const inner = new MemfsBackend();
  const check = (what: string) => effects.push(`${what}:${log.written === log.count ? 'recorded' : `AHEAD (${log.written}/${log.count})`}`);
  return {
    kind: 'watched',
    stat: (p) => inner.stat(p),
    readdir: (p) => inner.readdir(p),
    mkdir: (p, r) => (check(`mkdir ${p}`), inner.mkdir(p, r)),
    unlink: (p) => (check(`unlink ${p}`), inner.unlink(p)),
    open: (p, mode) => {
      const file = inner.open(p, mode);
      const watched: BackendFile = { ...file, write: (data, pos) => (check(`write ${p}`), file.write(data, pos)), read: (n, pos) => file.read(n, pos), size: () => file.size(), close: () => file.close() };
      return watched;
    },
  };
}

/** strip leaves a record's content: its fields and time, without its place in a chain. */
const strip = ({ seq: _s, prev: _p, hash: _h, ...rest }: ChainRecord) => rest;

/** edit changes one record's line; `reseal` recomputes its own hash (the next record's prev then no longer matches). */
const edit = (line: string, f: (r: ChainRecord) => void, reseal: boolean): string => {
  const r = JSON.parse(line) as ChainRecord;
  f(r);
  return reseal ? seal(body(r as unknown as Record<string, unknown>)).line.slice(0, -1) : JSON.stringify(r);
};

describe.skipIf(env === undefined)('RedisStreamLog', () => {
  let client: RedisClient;
  let prefix: string;
  beforeAll(async () => {
    client = await env!.client();
    prefix = env!.prefix;
  });

  it('writes the file log format, one entry <seq>-0 per record, and the chain verifies', async () => {
    const node = nextNode();
    const log = await RedisStreamLog.open(client, { prefix, node });
    for (let i = 0; i < 10; i++) log.record(i % 3 === 0 ? lifecycle(`step ${i}`) : entry(i));
    await log.flush();
    const lines = await streamLines(client, prefix, node);
    expect(lines.map(([id]) => id)).toEqual(Array.from({ length: 10 }, (_, i) => `${i + 1}-0`));
    const text = lines.map(([, line]) => `${line}\n`).join('');
    expect(verifyLog(text)).toMatchObject({ ok: true, records: 10, head: log.head });
    expect(await client.sismember(nodesKey(prefix), node)).toBe(1);
    const result = await verifyStreams(client, prefix);
    expect(result.nodes.find((n) => n.node === node)).toMatchObject({ ok: true, records: 10, last: 10, head: log.head, gaps: [] });
  });

  it('a reopened node continues its chain', async () => {
    const node = nextNode();
    const first = await RedisStreamLog.open(client, { prefix, node });
    first.record(entry(1));
    first.record(entry(2));
    await first.close();
    const again = await RedisStreamLog.open(client, { prefix, node });
    expect([again.count, again.head]).toEqual([2, first.head]);
    expect(again.record(entry(3))).toBe(3);
    await again.flush();
    expect((await verifyStreams(client, prefix)).nodes.find((n) => n.node === node)).toMatchObject({ ok: true, records: 3 });
  });

  it('records of one tick go together; beforeAction is undefined once written, a promise before', async () => {
    const log = await RedisStreamLog.open(client, { prefix, node: nextNode() });
    const seqs = Array.from({ length: 100 }, (_, i) => log.record(entry(i)));
    const pending = log.beforeAction(seqs[99]!);
    expect(pending).toBeInstanceOf(Promise);
    await pending;
    expect(log.written).toBe(100);
    expect(log.beforeAction(50)).toBeUndefined();
    expect(await client.xlen(log.key)).toBe(100);
  });

  it('a second writer with the same node id is fenced, never interleaved', async () => {
    const node = nextNode();
    const a = await RedisStreamLog.open(client, { prefix, node });
    const b = await RedisStreamLog.open(client, { prefix, node });
    a.record(entry(1));
    await a.flush();
    b.record(entry(2));
    const err = await b.flush().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(errnoOf(err)).toBe('EIO');
    expect((err as Error).message).toMatch(/written by someone else/);
    expect(() => b.record(entry(3))).toThrow(/written by someone else/);
    a.record(entry(4));
    await a.flush();
    expect((await verifyStreams(client, prefix)).nodes.find((n) => n.node === node)).toMatchObject({ ok: true, records: 2 });
  });

  it('with replicas asked for, a record no replica holds is not written (EIO), and stays queued', async () => {
    const log = await RedisStreamLog.open(client, { prefix, node: nextNode(), replicas: 1, replicaTimeoutMs: 50 });
    const seq = log.record(entry(1));
    const err = await log.beforeAction(seq)!.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(errnoOf(err)).toBe('EIO');
    expect((err as Error).message).toMatch(/0 of 1 replicas/);
    expect(log.written).toBe(0);
    await log.close(100);
  });

  it('refuses a bad node id and a damaged stream tail', async () => {
    await expect(RedisStreamLog.open(client, { prefix, node: 'a:b' })).rejects.toThrow(KernelError);
    const node = nextNode();
    await client.xadd(streamKey(prefix, node), '1-0', 'rec', '{"seq":1,"nonsense":true}');
    await expect(RedisStreamLog.open(client, { prefix, node })).rejects.toThrow(/not an intact record/);
  });

  describe('in a kernel', () => {
    it('every effect an agent causes happens only after its decision is in the stream', async () => {
      const log = await RedisStreamLog.open(client, { prefix, node: nextNode() });
      const effects: string[] = [];
      const kernel = new Kernel({ recorder: log, mounts: [{ path: 'mem/semantic', backend: () => watchedBackend(log, effects) }], stdout: () => {}, stderr: () => {} });
      const { value } = await report<string>(`sys.mkdir('mem/semantic/d'); sys.writeFile('mem/semantic/d/f', 'x'); sys.unlink('mem/semantic/d/f'); report(sys.readdir('mem/semantic').map((e) => e.name).join());`, { kernel, agentId: 'w' });
      expect(value).toBe('d');
      expect(effects).toEqual(['mkdir /d:recorded', 'write /d/f:recorded', 'unlink /d/f:recorded']);
      await log.flush();
      const result = (await verifyStreams(client, prefix)).nodes.find((n) => n.node === log.node)!;
      expect(result).toMatchObject({ ok: true, records: log.count });
    });

    it('Redis away: writes fail with EIO and never happen, reads go on, and every queued record lands once Redis is back', async () => {
      const proxy = new RedisProxy(env!.url);
      await proxy.start();
      const viaProxy = await env!.client(proxy.url(env!.url), 500);
      const log = await RedisStreamLog.open(viaProxy, { prefix, node: nextNode() });
      // The syscalls recorded, in order: the test sees the agent reach its read of stdin.
      const recorded: string[] = [];
      const recorder: DecisionRecorder = {
        record: (e) => {
          recorded.push(e.type === 'syscall' ? `${e.pid} ${e.syscall}` : e.type);
          return log.record(e);
        },
        beforeAction: (seq) => log.beforeAction(seq),
        whenWritten: (seq) => log.whenWritten(seq),
      };
      const kernel = new Kernel({ recorder, stdout: () => {}, stderr: () => {} });
      await report(`sys.writeFile('mem/working/before.txt', 'one'); report('ok');`, { kernel, agentId: 'r' });
      await proxy.cut();
      // While Redis is away the agent cannot even print (a write to fd 1 is an effect too): it looks, waits for the test to say
      // Redis is back, retries printing until it can, then reports.
      const input = hostPipe();
      const during = report<{ write: string; read: string; exists: string; printed: string }>(
        `const seen = { write: errnoOf(() => sys.writeFile('mem/working/during.txt', 'two')), read: sys.readFile('mem/working/before.txt'), exists: errnoOf(() => sys.stat('mem/working/during.txt')), printed: errnoOf(() => sys.write(1, 'x')) };
         sys.read(0);
         const deadline = Date.now() + 15_000; // a hang guard
         while (Date.now() < deadline && errnoOf(() => sys.write(1, '')) !== 'ok') sys.sleep(20);
         report(seen);`,
        { kernel, agentId: 'r', fds: { stdin: input.stdin } },
      );
      const agent = () => kernel.ps().find((p) => p.agentId === 'r' && p.state !== 'exited');
      await until(() => agent()?.state === 'blocked' && recorded.at(-1) === `${agent()?.pid} SYS_READ`, () => `the agent to look and wait on stdin (recorded: ${recorded.slice(-5).join(', ')})`);
      expect(log.written).toBeLessThan(log.count);
      await proxy.restore();
      await input.send('go');
      // The write's open (creating the file) was refused before it happened; reads went on.
      expect((await during).value).toEqual({ write: 'EIO', read: 'one', exists: 'ENOENT', printed: 'EIO' });
      await until(() => log.written === log.count, () => `every queued record to land (${log.written} of ${log.count})`);
      const result = (await verifyStreams(client, prefix)).nodes.find((n) => n.node === log.node)!;
      expect(result).toMatchObject({ ok: true, records: log.count, gaps: [] });
      await proxy.cut();
    });

    it('past maxQueued records while Redis is away, record() refuses: every syscall is denied', async () => {
      const proxy = new RedisProxy(env!.url);
      await proxy.start();
      const viaProxy = await env!.client(proxy.url(env!.url), 500);
      const log = await RedisStreamLog.open(viaProxy, { prefix, node: nextNode(), maxQueued: 5 });
      await proxy.cut();
      for (let i = 0; i < 5; i++) log.record(entry(i));
      expect(() => log.record(entry(5))).toThrow(/redis unavailable: 5 decision records wait/);
      await proxy.restore();
      await until(() => log.written === 5, () => `the five queued records to land (${log.written} written)`);
      expect(log.record(entry(6))).toBe(6);
      await log.flush();
      await proxy.cut();
    });

    it('StreamMirror copies every file log record into the stream; before-action effects wait for the stream', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'stream-mirror-'));
      try {
        const file = new FileDecisionLog(join(dir, 'decisions.jsonl'));
        file.record(lifecycle('a record from before the stream'));
        const stream = await RedisStreamLog.open(client, { prefix, node: nextNode() });
        const mirror = new StreamMirror(file, stream, 'before-action');
        const effects: string[] = [];
        const kernel = new Kernel({ recorder: mirror.recorder, mounts: [{ path: 'mem/semantic', backend: () => watchedBackend(stream, effects) }], stdout: () => {}, stderr: () => {} });
        await report(`sys.writeFile('mem/semantic/m.txt', 'mirrored'); report('ok');`, { kernel, agentId: 'm' });
        file.record({ type: 'policy', pid: 0, agentId: 'agentd', detail: 'a record agentd makes itself' });
        await stream.flush();
        file.close();
        expect(effects).toEqual(['write /m.txt:recorded']);
        const fileRecords = readFileSync(join(dir, 'decisions.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as ChainRecord);
        const streamRecords = (await streamLines(client, prefix, stream.node)).map(([, l]) => JSON.parse(l) as ChainRecord);
        // Same records (fields and times) after the first, each chain its own.
        expect(streamRecords.map(strip)).toEqual(fileRecords.slice(1).map(strip));
        expect(streamRecords.at(-1)!.detail).toBe('a record agentd makes itself');
        expect(mirror.missed).toBe(0);
        mirror.stop();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('StreamMirror in mirror mode: with Redis away agents go on on the file log, and the stream catches up', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'stream-mirror-'));
      const proxy = new RedisProxy(env!.url);
      await proxy.start();
      try {
        const viaProxy = await env!.client(proxy.url(env!.url), 500);
        const file = new FileDecisionLog(join(dir, 'decisions.jsonl'));
        const stream = await RedisStreamLog.open(viaProxy, { prefix, node: nextNode() });
        const mirror = new StreamMirror(file, stream, 'mirror');
        const kernel = new Kernel({ recorder: mirror.recorder, stdout: () => {}, stderr: () => {} });
        await proxy.cut();
        const { value } = await report<string>(`sys.writeFile('mem/working/w.txt', 'still'); report(sys.readFile('mem/working/w.txt'));`, { kernel, agentId: 'mm' });
        expect(value).toBe('still');
        expect(stream.written).toBeLessThan(stream.count);
        await proxy.restore();
        await until(() => stream.written === stream.count, () => `the stream to catch up (${stream.written} of ${stream.count})`);
        file.close();
        expect(stream.count).toBe(readFileSync(join(dir, 'decisions.jsonl'), 'utf8').trim().split('\n').length);
        expect((await verifyStreams(client, prefix)).nodes.find((n) => n.node === stream.node)).toMatchObject({ ok: true, records: stream.count });
        mirror.stop();
      } finally {
        await proxy.cut();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('verifyStreams and agentctl audit verify --redis', () => {
    let tamperPrefix: string;
    let good: [string, string][];
    beforeAll(async () => {
      tamperPrefix = `${prefix}:tamper`;
      const log = await RedisStreamLog.open(client, { prefix: tamperPrefix, node: 'template' });
      for (let i = 0; i < 10; i++) log.record(entry(i));
      await log.flush();
      good = await streamLines(client, tamperPrefix, 'template');
      await client.del(streamKey(tamperPrefix, 'template'));
      await client.srem(nodesKey(tamperPrefix), 'template');
    });

    async function tampered(node: string, change: (entries: [string, string][]) => [string, string][]): Promise<void> {
      await rebuild(client, streamKey(tamperPrefix, node), change(good.map(([id, line]) => [id, line])));
      await client.sadd(nodesKey(tamperPrefix), node);
    }

    it('finds each kind of tampering on its node, and all gaps', async () => {
      await tampered('intact', (e) => e);
      await tampered('edited', (e) => e.map(([id, line], i) => [id, i === 3 ? edit(line, (r) => (r.reason = 'innocent'), false) : line]));
      await tampered('resealed', (e) => e.map(([id, line], i) => [id, i === 3 ? edit(line, (r) => (r.reason = 'innocent'), true) : line]));
      await tampered('gaps', (e) => e.filter((_, i) => i !== 2 && i !== 3 && i !== 7));
      await tampered('moved', (e) => e.map(([id, line], i) => [i === 9 ? '99-0' : id, line]));
      await tampered('unlisted', (e) => e.slice(0, 4));
      await client.srem(nodesKey(tamperPrefix), 'unlisted');
      await client.sadd(nodesKey(tamperPrefix), 'vanished');

      const result = await verifyStreams(client, tamperPrefix);
      const by = Object.fromEntries(result.nodes.map((n) => [n.node, n]));
      expect(result.ok).toBe(false);
      expect(Object.keys(by)).toEqual(['edited', 'gaps', 'intact', 'moved', 'resealed', 'unlisted', 'vanished']);
      expect(by.intact).toMatchObject({ ok: true, records: 10 });
      expect(by.unlisted).toMatchObject({ ok: true, records: 4 });
      expect(by.edited!.problems.map((p) => [p.kind, p.seq])).toEqual([['edited', 4]]);
      expect(by.resealed!.problems.map((p) => [p.kind, p.seq])).toEqual([['broken-chain', 5]]);
      expect(by.gaps).toMatchObject({ ok: false, gaps: [{ from: 3, to: 4 }, { from: 8, to: 8 }], problems: [], records: 7 });
      expect(by.moved!.problems.map((p) => [p.kind, p.seq])).toEqual([['moved', 10]]);
      expect(by.vanished!.problems.map((p) => p.kind)).toEqual(['missing-stream']);
    });

    it('agentctl prints each node and exits 1 on a problem, 0 when all verify, 2 when Redis does not answer', async () => {
      const bad = await agentctl(['audit', 'verify', '--redis', env!.url, '--prefix', tamperPrefix]);
      expect(bad.status).toBe(1);
      expect(bad.stdout).toMatch(/^intact: ok: 10 records verify/m);
      expect(bad.stdout).toMatch(/^gaps: FAILED: .*records missing \(gaps\): 3–4, 8$/m);
      expect(bad.stdout).toMatch(/^ {2}broken-chain at seq 5: /m);
      const json = JSON.parse((await agentctl(['audit', 'verify', '--redis', env!.url, '--prefix', tamperPrefix, '--json'])).stdout) as { ok: boolean; nodes: unknown[] };
      expect([json.ok, json.nodes.length]).toEqual([false, 7]);

      const okPrefix = `${prefix}:clean`;
      const log = await RedisStreamLog.open(client, { prefix: okPrefix, node: 'solo' });
      log.record(entry(1));
      await log.flush();
      const ok = await agentctl(['audit', 'verify', '--redis', env!.url, '--prefix', okPrefix]);
      expect([ok.status, ok.stdout]).toEqual([0, `solo: ok: 1 records verify; head ${log.head}\n`]);

      const down = await agentctl(['audit', 'verify', '--redis', 'redis://127.0.0.1:1']);
      expect(down.status).toBe(2);
      expect(down.stderr).toMatch(/redis unavailable/);
    }, 30_000);

    it('a prefix with no decision stream is not a clean log: exit 2 saying so and naming the prefixes that have streams', async () => {
      const withStreams = `${prefix}:elsewhere`;
      const log = await RedisStreamLog.open(client, { prefix: withStreams, node: 'n1' });
      log.record(entry(1));
      await log.flush();
      const empty = `${prefix}:no-such-prefix`;
      expect(await verifyStreams(client, empty)).toEqual({ ok: false, nodes: [] });
      expect(await decisionPrefixes(client, 10_000)).toContain(withStreams);

      const text = await agentctl(['audit', 'verify', '--redis', env!.url, '--prefix', empty]);
      expect([text.status, text.stdout]).toEqual([2, '']);
      expect(text.stderr).toMatch(new RegExp(`^agentctl: no decision streams under ${empty.replaceAll('.', '\\.')}:decisions:\\* in \\S+: nothing was verified; prefixes with decision streams there: \\S`));
      const json = await agentctl(['audit', 'verify', '--redis', env!.url, '--prefix', empty, '--json']);
      expect(json.status).toBe(2);
      expect(JSON.parse(json.stdout)).toMatchObject({ prefix: empty, ok: false, nodes: [], error: expect.stringContaining('nothing was verified') });
    }, 30_000);
  });
});
