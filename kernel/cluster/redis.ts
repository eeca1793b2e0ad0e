/**
 * The cluster layer's Redis settings and key names. Connections come from
 * kernel/redis/connect.ts (one server, Sentinel or Cluster; fail closed: no
 * offline queue, no retries, a command timeout, reconnecting in the
 * background). Every key and channel sits under one hash tag, `{prefix}`,
 * so multi-key scripts and transactions stay on one slot in Redis Cluster.
 */
import type { RedisConnection } from '../redis/connect.ts';

export type { RedisClient } from '../redis/connect.ts';

/** RedisSettings is the `redis:` section of agentd's configuration: where Redis is, and this node's part in the cluster. */
export interface RedisSettings extends RedisConnection {
  /** Namespace of every key and channel; several clusters can share one Redis. Default `agentk`. */
  readonly keyPrefix: string;
  /** This node's name in the directory; unique among live nodes. */
  readonly nodeId: string;
  /** How often a node beats, ms (default 500). */
  readonly heartbeatMs: number;
  /** A node silent this long is dead and its processes are lost, ms (default 3000). */
  readonly nodeTtlMs: number;
}

/** describe names where the settings point, for logs and errors (never the password). */
export function describe(settings: RedisConnection): string {
  if (settings.cluster) return `cluster ${settings.cluster.map((n) => `${n.host}:${n.port}`).join(',')}`;
  if (settings.sentinels) return `sentinel ${settings.name ?? '?'} via ${settings.sentinels.map((n) => `${n.host}:${n.port}`).join(',')}`;
  const url = new URL(settings.url ?? 'redis://127.0.0.1:6379');
  return `${url.protocol}//${url.host}${url.pathname === '/' ? '' : url.pathname}`;
}

/** Keys and channels of one cluster, all under the `{prefix}` hash tag. */
export class ClusterKeys {
  readonly tag: string;
  constructor(prefix: string) {
    this.tag = `{${prefix}}`;
  }
  /** hash node id → node info (url, host, pid, startedAt): live nodes, and dead ones until they are forgotten */
  get nodes(): string {
    return `${this.tag}:nodes`;
  }
  /** sorted set node id → last beat (Redis server time, ms) */
  get beats(): string {
    return `${this.tag}:beats`;
  }
  /** sorted set node id → its last beat, for nodes found dead (they stay listed a while; directory.ts) */
  get dead(): string {
    return `${this.tag}:dead`;
  }
  /** a random tag the first node to beat sets: a new one means Redis lost its data (directory.ts) */
  get dataTag(): string {
    return `${this.tag}:data-tag`;
  }
  /** sorted set node id → when it joined (its first beat, Redis server time, ms): who was first when nodes' timing differs (directory.ts) */
  get joined(): string {
    return `${this.tag}:joined`;
  }
  /** hash pid → directory entry (JSON) */
  get procs(): string {
    return `${this.tag}:procs`;
  }
  /** the last pid handed out to any node */
  get pid(): string {
    return `${this.tag}:pid`;
  }
  /** set of approval ids asked from outside the kernel whose node stopped or was lost: the next node to beat adopts them (approval-relay.ts) */
  get orphanApprovals(): string {
    return `${this.tag}:approvals-orphaned`;
  }
  /** set (with a TTL) while no node may reserve new pids: after the pid counter was found lost (pids.ts) */
  get pidFence(): string {
    return `${this.tag}:pid-fence`;
  }
  /** hash: epoch, version, source, filename, node, at */
  get policy(): string {
    return `${this.tag}:policy`;
  }
  get policyChannel(): string {
    return `${this.tag}:policy-changed`;
  }
  /** hash: epoch, version, source ('' for none), filename, node, at — the shadow policy */
  get shadow(): string {
    return `${this.tag}:shadow`;
  }
  get shadowChannel(): string {
    return `${this.tag}:shadow-changed`;
  }
  /** sorted set of pending approval ids by request time */
  get approvals(): string {
    return `${this.tag}:approvals`;
  }
  approval(id: string): string {
    return `${this.tag}:approval:${id}`;
  }
  rpc(node: string): string {
    return `${this.tag}:rpc:${node}`;
  }
}
