/**
 * redis: the Redis VFS backend and decision stream against memfs and the
 * file log, in the same run, on loopback (REDIS_URL, default
 * redis://127.0.0.1:6379). Backend figures: one open file, 64-byte writes at
 * position 0 and 64-byte reads at position 0, one call at a time, each call
 * timed on its own (hrtime) and awaited only when the backend answered with
 * a promise — the way the kernel chains a MaybePromise; median over every
 * call of every round. Syscall figures: an agent in a real kernel writing 64
 * bytes per SYS_WRITE to an fd on `mem/semantic` (Redis mount) or
 * `mem/working` (memfs), µs per call from inside the isolate. Stream
 * figures: one allowed write record at a time from record() to
 * beforeAction() resolving (what an effectful syscall waits for), and the
 * rate of a burst of records written with group commit. Without Redis the
 * memfs figures are still reported and the rest is skipped.
 */
import { connectRedis, whenReady, type RedisClient } from '../kernel/redis/connect.ts';
import { RedisStreamLog } from '../kernel/recorder/redis-stream-log.ts';
import type { DecisionInput } from '../syscalls/records.ts';
import type { BackendFile, VfsBackend } from '../vfs/backend.ts';
import { MemfsBackend } from '../vfs/memfs-backend.ts';
import { RedisBackend } from '../vfs/redis-backend.ts';
import { unlinkMatching } from '../test/redis.ts';
import { type Bench, type BenchOptions, type Figure, median, nowNs, quietKernel, runReporting, spread } from './stats.ts';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const CALLS = 2000;
const WARMUP = 200;
const SYSCALLS = 2000;
const BURST = 50_000;

/** backendCalls times `CALLS` 64-byte writes or reads at position 0 on one open file, µs each. */
async function backendCalls(backend: VfsBackend, op: 'write' | 'read'): Promise<number[]> {
  const opened = backend.open('/bench.bin', 'w+');
  const file: BackendFile = opened instanceof Promise ? await opened : opened;
  const data = new Uint8Array(64).fill(0x61);
  const first = file.write(data, 0);
  if (first instanceof Promise) await first;
  const samples: number[] = [];
  for (let i = 0; i < WARMUP + CALLS; i++) {
    const t0 = nowNs();
    const r = op === 'write' ? file.write(data, 0) : file.read(64, 0);
    if (r instanceof Promise) await r;
    const us = Number(nowNs() - t0) / 1e3;
    if (i >= WARMUP) samples.push(us);
  }
  const closed = file.close();
  if (closed instanceof Promise) await closed;
  return samples;
}

/** The agent: opens a file under `dir`, makes SYSCALLS 64-byte writes, prints µs per write. */
const WRITER = (dir: string) => `
const fd = sys.open('${dir}/bench.bin', 'w');
const data = new Uint8Array(64).fill(97);
for (let i = 0; i < 50; i++) syscall(SYS.SYS_WRITE, fd, data);
const t0 = Date.now();
for (let i = 0; i < ${SYSCALLS}; i++) syscall(SYS.SYS_WRITE, fd, data);
const ms = Date.now() - t0;
sys.close(fd);
console.log(JSON.stringify({ us: (ms * 1000) / ${SYSCALLS} }));
`;

const WRITE_RECORD: DecisionInput = { type: 'syscall', pid: 1, agentId: 'bench', syscall: 'SYS_WRITE', access: 'write', effect: 'allow', rule: 'own-fds', reason: 'bench', args: { fd: 3, data: new Uint8Array(64) } };

async function streamFigures(client: RedisClient, prefix: string, rounds: number): Promise<{ appendUs: number[]; perSecond: number[] }> {
  const appendUs: number[] = [];
  const perSecond: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const log = await RedisStreamLog.open(client, { prefix, node: `bench-${r}` });
    for (let i = 0; i < WARMUP + CALLS / 4; i++) {
      const t0 = nowNs();
      const pending = log.beforeAction(log.record(WRITE_RECORD));
      if (pending) await pending;
      if (i >= WARMUP) appendUs.push(Number(nowNs() - t0) / 1e3);
    }
    // A burst as agents make it: many records per event-loop turn, group commit underneath.
    const t0 = nowNs();
    for (let made = 0; made < BURST; ) {
      for (let i = 0; i < 250; i++, made++) log.record(WRITE_RECORD);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await log.flush();
    perSecond.push(BURST / (Number(nowNs() - t0) / 1e9));
    await log.close();
  }
  return { appendUs, perSecond };
}

function cleanup(client: RedisClient, prefix: string): Promise<void> {
  return unlinkMatching(client, [`${prefix}:*`]);
}

export const redisBench: Bench = {
  name: 'redis',
  keys: ['redis_vfs_write_us', 'redis_vfs_read_us', 'memfs_vfs_write_us', 'memfs_vfs_read_us', 'redis_syscall_write_64b_us', 'memfs_syscall_write_64b_us', 'redis_stream_append_us', 'redis_stream_records_per_s'],
  async run({ rounds, log }: BenchOptions): Promise<Figure[]> {
    const figures: Figure[] = [];
    let client: RedisClient | undefined;
    try {
      client = connectRedis({ url: REDIS_URL, commandTimeoutMs: 5000 });
      await whenReady(client, 3000);
    } catch (err) {
      log(`redis: Redis at ${REDIS_URL} does not answer (${err instanceof Error ? err.message : String(err)}): only the memfs figures; set REDIS_URL or start redis-server`);
      client?.disconnect();
      client = undefined;
    }
    const prefix = `akbench:${process.pid}`;
    const samples = { memfsWrite: [] as number[], memfsRead: [] as number[], redisWrite: [] as number[], redisRead: [] as number[], memfsSys: [] as number[], redisSys: [] as number[] };
    try {
      for (let r = 0; r < rounds; r++) {
        samples.memfsWrite.push(...(await backendCalls(new MemfsBackend(), 'write')));
        samples.memfsRead.push(...(await backendCalls(new MemfsBackend(), 'read')));
        if (client !== undefined) {
          samples.redisWrite.push(...(await backendCalls(new RedisBackend(client, { prefix, root: `bench/${r}` }), 'write')));
          samples.redisRead.push(...(await backendCalls(new RedisBackend(client, { prefix, root: `bench/${r}` }), 'read')));
        }
      }
      const redis = client;
      const kernel = quietKernel(redis === undefined ? {} : { mounts: [{ path: 'mem/semantic', backend: (agentId) => new RedisBackend(redis, { prefix, root: `agent/${agentId}/mem/semantic` }) }] });
      try {
        for (let r = 0; r < rounds; r++) {
          samples.memfsSys.push((await runReporting<{ us: number }>(kernel, WRITER('mem/working'))).result.us);
          if (redis !== undefined) samples.redisSys.push((await runReporting<{ us: number }>(kernel, WRITER('mem/semantic'))).result.us);
        }
      } finally {
        await kernel.shutdown();
      }
      const calls = `median of ${rounds} × ${CALLS} calls (${WARMUP} warm-up each)`;
      figures.push(
        { key: 'memfs_vfs_write_us', value: median(samples.memfsWrite), unit: 'µs', note: calls },
        { key: 'memfs_vfs_read_us', value: median(samples.memfsRead), unit: 'µs', note: calls },
      );
      if (client !== undefined) {
        figures.push(
          { key: 'redis_vfs_write_us', value: median(samples.redisWrite), unit: 'µs', note: `${calls}; one Lua script (SETRANGE) per write, loopback` },
          { key: 'redis_vfs_read_us', value: median(samples.redisRead), unit: 'µs', note: `${calls}; one GETRANGE per read, loopback` },
        );
      }
      figures.push({ key: 'memfs_syscall_write_64b_us', value: median(samples.memfsSys), unit: 'µs', note: `SYS_WRITE to mem/working from an agent, ${spread(samples.memfsSys, 2)} rounds of ${SYSCALLS}` });
      if (client !== undefined) {
        figures.push({ key: 'redis_syscall_write_64b_us', value: median(samples.redisSys), unit: 'µs', note: `SYS_WRITE to mem/semantic on Redis (a blocking call), ${spread(samples.redisSys, 1)} rounds of ${SYSCALLS}` });
        const stream = await streamFigures(client, prefix, rounds);
        figures.push(
          { key: 'redis_stream_append_us', value: median(stream.appendUs), unit: 'µs', note: `record() to beforeAction() resolving, one at a time, ${stream.appendUs.length} records` },
          { key: 'redis_stream_records_per_s', value: median(stream.perSecond), unit: 'records/s', note: `bursts of ${BURST} records, 250 per event-loop turn, until all are in the stream; ${spread(stream.perSecond)}` },
        );
      }
      log(`redis: ${client === undefined ? 'memfs only' : `Redis at ${REDIS_URL}`}`);
    } finally {
      if (client !== undefined) {
        await cleanup(client, prefix).catch(() => undefined);
        client.disconnect();
      }
    }
    return figures;
  },
};
