/**
 * NodeRpc: requests from one node to another over Redis pub/sub. Each node
 * listens on its own channel; a request names the channel to answer on and
 * waits (with a deadline) for the reply. Pub/sub delivers at most once, so a
 * request that gets no answer fails with ETIMEDOUT — never a silent success.
 * A handler's KernelError travels back as its errno and message.
 */
import { randomUUID } from 'node:crypto';
import { isErrno, KernelError } from '../../abi/errno.ts';
import type { RedisHealth } from './health.ts';
import type { ClusterKeys, RedisClient } from './redis.ts';

type Message =
  | { readonly t: 'req'; readonly id: string; readonly from: string; readonly kind: string; readonly body: unknown }
  | { readonly t: 'res'; readonly id: string; readonly ok: true; readonly value: unknown }
  | { readonly t: 'res'; readonly id: string; readonly ok: false; readonly errno: string; readonly message: string };

export type RpcHandler = (body: unknown, from: string) => unknown;

interface Waiting {
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

export class NodeRpc {
  private readonly pub: RedisClient;
  private readonly keys: ClusterKeys;
  private readonly health: RedisHealth;
  private readonly node: string;
  private readonly handlers = new Map<string, RpcHandler>();
  private readonly waiting = new Map<string, Waiting>();
  /** Whether PUBLISH's receiver count is meaningful (not in Redis Cluster, where it counts one shard). */
  private readonly countsReceivers: boolean;

  constructor(pub: RedisClient, keys: ClusterKeys, health: RedisHealth, node: string, countsReceivers: boolean) {
    this.pub = pub;
    this.keys = keys;
    this.health = health;
    this.node = node;
    this.countsReceivers = countsReceivers;
  }

  /** channel is where this node listens. */
  get channel(): string {
    return this.keys.rpc(this.node);
  }

  handle(kind: string, handler: RpcHandler): void {
    this.handlers.set(kind, handler);
  }

  /**
   * request asks `node` to run `kind` with `body`. EIO while Redis is
   * unreachable or when nobody listens on the node's channel, ETIMEDOUT
   * when no answer comes within `timeoutMs`, else the handler's own error.
   */
  async request<T>(node: string, kind: string, body: unknown, timeoutMs = 2000): Promise<T> {
    this.health.check(`cannot reach node ${node}`);
    const id = randomUUID();
    const answer = new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new KernelError('ETIMEDOUT', `node ${node} did not answer ${kind} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(id, { resolve, reject, timer });
    });
    let receivers: number;
    try {
      receivers = await this.pub.publish(this.keys.rpc(node), JSON.stringify({ t: 'req', id, from: this.node, kind, body } satisfies Message));
    } catch (err) {
      this.health.failed(err);
      this.settle(id, new KernelError('EIO', `cannot reach node ${node}: ${err instanceof Error ? err.message : String(err)}`));
      return answer as Promise<T>;
    }
    if (receivers === 0 && this.countsReceivers) this.settle(id, new KernelError('EIO', `node ${node} is not listening (down or restarting)`));
    return answer as Promise<T>;
  }

  /** receive is fed every message on this node's channel. */
  receive(text: string): void {
    let message: Message;
    try {
      message = JSON.parse(text) as Message;
    } catch {
      return;
    }
    if (message.t === 'res') {
      this.settle(message.id, message.ok ? { value: message.value } : new KernelError(isErrno(message.errno) ? message.errno : 'EIO', message.message));
      return;
    }
    void this.serve(message);
  }

  private async serve(message: Extract<Message, { t: 'req' }>): Promise<void> {
    let reply: Message;
    try {
      const handler = this.handlers.get(message.kind);
      if (handler === undefined) throw new KernelError('ENOSYS', `node ${this.node} does not handle ${message.kind}`);
      reply = { t: 'res', id: message.id, ok: true, value: (await handler(message.body, message.from)) ?? null };
    } catch (err) {
      reply = err instanceof KernelError ? { t: 'res', id: message.id, ok: false, errno: err.errno, message: err.message } : { t: 'res', id: message.id, ok: false, errno: 'EIO', message: `node ${this.node}: ${err instanceof Error ? err.message : String(err)}` };
    }
    try {
      await this.pub.publish(this.keys.rpc(message.from), JSON.stringify(reply));
    } catch (err) {
      this.health.failed(err);
    }
  }

  private settle(id: string, outcome: { value: unknown } | Error): void {
    const waiting = this.waiting.get(id);
    if (waiting === undefined) return;
    this.waiting.delete(id);
    clearTimeout(waiting.timer);
    if (outcome instanceof Error) waiting.reject(outcome);
    else waiting.resolve(outcome.value);
  }

  /** close fails every request still waiting. */
  close(): void {
    for (const id of this.waiting.keys()) this.settle(id, new KernelError('EIO', 'the node is shutting down'));
  }
}
