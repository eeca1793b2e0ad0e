/**
 * RedisHealth watches the node's Redis connections and says whether shared
 * state can be reached: both connections (commands and subscriber) must be
 * ready and the last PING must have answered in time. A closed socket flips
 * it at once; a Redis that hangs is caught by the PING timeout. `changes`
 * publishes every flip so the node can resynchronise on recovery.
 */
import { Subject } from 'rxjs';
import { KernelError } from '../../abi/errno.ts';
import type { RedisClient } from './redis.ts';

export class RedisHealth {
  /** true when Redis came back, false when it went away. */
  readonly changes = new Subject<boolean>();
  private readonly clients: readonly RedisClient[];
  private readonly where: string;
  private pingOk = false;
  private up = false;
  private reason = 'not connected yet';
  /** The last connection error ioredis reported (ECONNREFUSED …). */
  private lastError: string | undefined;
  private since = 0;
  private readonly timer: NodeJS.Timeout;
  private pinging = false;

  constructor(clients: readonly RedisClient[], where: string, pingEveryMs: number) {
    this.clients = clients;
    this.where = where;
    for (const client of clients) {
      client.on('ready', () => void this.ping());
      client.on('close', () => this.update('connection closed'));
      client.on('end', () => this.update('connection ended'));
      client.on('error', (err: Error) => {
        this.lastError = err.message;
      });
    }
    this.timer = setInterval(() => void this.ping(), pingEveryMs);
    this.timer.unref();
  }

  /** ready is true while shared state can be reached. */
  get ready(): boolean {
    return this.up;
  }

  /** upSince is when Redis was last reached after being away (ms since the epoch), 0 while down. */
  get upSince(): number {
    return this.up ? this.since : 0;
  }

  /** problem says why shared state cannot be reached, or undefined while it can. */
  problem(): string | undefined {
    return this.up ? undefined : `Redis (${this.where}) is unreachable: ${this.reason}`;
  }

  /** check throws EIO unless shared state can be reached: the fail-closed gate for every cluster operation. */
  check(what: string): void {
    if (!this.up) throw new KernelError('EIO', `${what}: ${this.problem()}`);
  }

  /** failed records a command that failed on a connection problem (while up: once down, the first reason stays). */
  failed(err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    if (this.up && /timed? ?out|closed|ECONNREFUSED|ECONNRESET|writeable|Connection|EPIPE/i.test(message)) {
      this.pingOk = false;
      this.update(this.plain(message));
    }
  }

  /** plain says "not connected" for ioredis's refusal of a command while disconnected ("Stream isn't writeable …"). */
  private plain(message: string): string {
    return /writeable|enableOfflineQueue/.test(message) ? `not connected (${this.lastError ?? 'reconnecting'})` : message;
  }

  async ping(): Promise<boolean> {
    if (this.pinging) return this.up;
    this.pinging = true;
    try {
      await Promise.all(this.clients.slice(0, 1).map((c) => c.ping()));
      this.pingOk = true;
    } catch (err) {
      this.pingOk = false;
      const message = err instanceof Error ? err.message : String(err);
      // ioredis refuses commands while disconnected ("Stream isn't writeable …"): say so plainly.
      this.reason = this.plain(message);
    } finally {
      this.pinging = false;
    }
    this.update(this.reason);
    return this.up;
  }

  private update(reason: string): void {
    const connected = this.clients.every((c) => c.status === 'ready');
    const up = connected && this.pingOk;
    if (!up) this.reason = reason;
    if (up === this.up) return;
    this.up = up;
    if (up) this.since = Date.now();
    this.changes.next(up);
  }

  close(): void {
    clearInterval(this.timer);
    this.changes.complete();
  }
}
