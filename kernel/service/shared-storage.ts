/**
 * What an agentd node keeps in Redis besides the cluster directory: its
 * decision stream, a copy of every record of its file log (StreamMirror),
 * and the mounts the configuration puts on Redis. It has a connection of its own
 * (kernel/redis/connect.ts: fail closed, reconnecting), so the hot path of
 * decisions and files never queues behind the directory's traffic.
 *
 * Mount roots in Redis: `mem/semantic` for agent `alice` is the tree
 * `agent/alice/mem/semantic`, the same on every node, so the agent finds
 * its files whichever node runs it; `/shared` is the tree `shared`, one for
 * every agent of every node.
 */
import type { DecisionRecorder } from '../../syscalls/records.ts';
import { MemfsBackend } from '../../vfs/memfs-backend.ts';
import { RedisBackend } from '../../vfs/redis-backend.ts';
import { mountPoint, type KernelMount } from '../mounts.ts';
import type { FileDecisionLog } from '../recorder/file-log.ts';
import { RedisStreamLog } from '../recorder/redis-stream-log.ts';
import { StreamMirror } from '../recorder/stream-mirror.ts';
import { connectRedis, type RedisClient, type RedisConnection } from '../redis/connect.ts';
import { ConfigError, type MountSetting, type StreamSetting } from './config.ts';

export interface SharedStorageSettings {
  /** Where Redis is, and this node's place in it; absent: no Redis (memfs mounts only, no stream). */
  readonly redis?: RedisConnection & { readonly keyPrefix: string; readonly nodeId: string };
  readonly mounts: readonly MountSetting[];
  readonly stream: StreamSetting;
}

export interface SharedStorage {
  /** The kernel's recorder: the file log, waiting for the stream too in `before-action` mode. */
  readonly recorder: DecisionRecorder;
  readonly mounts: readonly KernelMount[];
  readonly stream?: RedisStreamLog;
  /** close writes what the stream has queued (briefly) and closes the connection. */
  close(): Promise<void>;
}

/** redisRoot is where a mount's tree lives under the key prefix, for agent `agentId`. */
export function redisRoot(path: string, agentId: string): string {
  return mountPoint(path, agentId).slice(1);
}

/**
 * openSharedStorage builds the recorder and mounts of a node. The stream
 * opens in the background (records are refused until it is open, see
 * RedisStreamLog.connect). ConfigError for a Redis mount without `redis:`.
 */
export function openSharedStorage(settings: SharedStorageSettings, log: FileDecisionLog): SharedStorage {
  const redis = settings.redis;
  if (redis === undefined) {
    const onRedis = settings.mounts.find((m) => m.backend === 'redis');
    if (onRedis !== undefined) throw new ConfigError(`mounts: ${onRedis.path} is on redis, but there is no redis: section`);
    return { recorder: log, mounts: settings.mounts.map((m) => ({ path: m.path, backend: (_agentId, quota) => new MemfsBackend(quota), readOnly: m.readOnly })), close: async () => {} };
  }
  const client: RedisClient = connectRedis(redis);
  const mounts: KernelMount[] = settings.mounts.map((m) => ({
    path: m.path,
    readOnly: m.readOnly,
    // A tree in an agent's own namespace gets the agent's quota (counted in Redis, across nodes); a shared one, the mount's.
    backend:
      m.backend === 'redis'
        ? (agentId: string, quota) =>
            new RedisBackend(client, {
              prefix: redis.keyPrefix,
              root: redisRoot(m.path, agentId),
              quota: m.quota ?? { bytes: quota.maxBytes, inodes: quota.maxInodes },
            })
        : (_agentId: string, quota) => new MemfsBackend(quota),
  }));
  const mode = settings.stream.mode;
  const stream = mode === 'off' ? undefined : RedisStreamLog.connect(client, { prefix: redis.keyPrefix, node: redis.nodeId, replicas: settings.stream.replicas, replicaTimeoutMs: settings.stream.replicaTimeoutMs });
  const mirror = stream === undefined || mode === 'off' ? undefined : new StreamMirror(log, stream, mode);
  return {
    recorder: mirror?.recorder ?? log,
    mounts,
    ...(stream !== undefined ? { stream } : {}),
    async close() {
      await stream?.close(1000);
      mirror?.stop();
      client.disconnect();
    },
  };
}
