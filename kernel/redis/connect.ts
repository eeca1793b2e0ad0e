/**
 * connectRedis opens the one ioredis client a kernel node shares between its
 * Redis VFS mounts, its decision stream and the cluster directory: a single
 * server (`url`), a Sentinel group (`sentinels` + `name`) or a Redis Cluster
 * (`cluster`). The client fails closed instead of waiting: a command issued
 * while the connection is down is refused at once (no offline queue), a
 * command in flight when it drops is failed (no retry, no resend), and a
 * command the server does not answer fails after `commandTimeoutMs`. The
 * client keeps reconnecting in the background, so everything works again
 * once Redis is back. Callers map these failures with redisUnavailable().
 */
import { Cluster, Redis, type ClusterNode, type RedisOptions } from 'ioredis';
import { KernelError } from '../../abi/errno.ts';

/** RedisClient is a connection to one server, a Sentinel-managed group or a cluster. */
export type RedisClient = Redis | Cluster;

export interface RedisAddress {
  readonly host: string;
  readonly port: number;
}

export interface RedisConnection {
  /** redis://[user:password@]host:port[/db] (or rediss:// for TLS) of a single server. */
  readonly url?: string;
  /** Sentinels to ask for the master named `name`. */
  readonly sentinels?: readonly RedisAddress[];
  /** The master group name the sentinels know (with `sentinels`). */
  readonly name?: string;
  /** Startup nodes of a Redis Cluster. */
  readonly cluster?: readonly RedisAddress[];
  /** Password for Sentinel-managed masters and cluster nodes (a url carries its own). */
  readonly password?: string;
  /** How long one command may wait for its answer, ms. Default 2000. */
  readonly commandTimeoutMs?: number;
  /** How long connecting may take, ms. Default 2000. */
  readonly connectTimeoutMs?: number;
}

/** The client options that make every command fail closed rather than hang or replay. */
function failClosed(connection: RedisConnection): RedisOptions {
  return {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    commandTimeout: connection.commandTimeoutMs ?? 2000,
    connectTimeout: connection.connectTimeoutMs ?? 2000,
    // Keep reconnecting, at most a second apart, for as long as the node runs.
    retryStrategy: (times) => Math.min(times * 100, 1000),
    ...(connection.password !== undefined ? { password: connection.password } : {}),
  };
}

/** connectRedis starts connecting and returns at once; see whenReady(). EINVAL for a connection that names no server. */
export function connectRedis(connection: RedisConnection): RedisClient {
  const options = failClosed(connection);
  let client: RedisClient;
  if (connection.cluster !== undefined && connection.cluster.length > 0) {
    const { retryStrategy: _single, ...perNode } = options;
    client = new Cluster(connection.cluster as ClusterNode[], {
      enableOfflineQueue: false,
      clusterRetryStrategy: (times) => Math.min(times * 100, 1000),
      redisOptions: perNode,
    });
  } else if (connection.sentinels !== undefined && connection.sentinels.length > 0) {
    if (connection.name === undefined) throw new KernelError('EINVAL', 'redis: sentinels need the master group name (name)');
    client = new Redis({ ...options, sentinels: [...connection.sentinels], name: connection.name });
  } else if (connection.url !== undefined) {
    client = new Redis(connection.url, options);
  } else {
    throw new KernelError('EINVAL', 'redis: give a url, sentinels with a name, or cluster nodes');
  }
  // Connection errors surface on the commands that need Redis; the event itself only says "reconnecting".
  client.on('error', () => {});
  return client;
}

/** whenReady resolves once `client` can take commands; EIO after `timeoutMs`. */
export function whenReady(client: RedisClient, timeoutMs = 5000): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('ready', ready);
      reject(new KernelError('EIO', `redis unavailable: not ready after ${timeoutMs} ms`));
    }, timeoutMs);
    const ready = () => {
      clearTimeout(timer);
      resolve();
    };
    client.once('ready', ready);
  });
}

/** redisUnavailable turns what a Redis command rejected with into EIO 'redis unavailable: …' (a KernelError passes through). */
export function redisUnavailable(err: unknown, what: string): KernelError {
  if (err instanceof KernelError) return err;
  return new KernelError('EIO', `redis unavailable: ${err instanceof Error ? err.message : String(err)} (${what})`);
}
