/**
 * OriginShares: each agent's share of the kernel's connections to one
 * origin (address-guard.ts CONNECTIONS_PER_ORIGIN, for all agents). A
 * streamed body an agent leaves unread keeps its connection until the
 * tool's deadline, so one agent holding 128 such streams (three processes
 * of 64 fds) took every connection to a shared origin, a model endpoint
 * say, and another agent's request waited out its whole timeout (an
 * attacker pass). Past its share an agent's request is refused at once
 * (EAGAIN) instead of waiting; a share is given back when the answer has
 * been read, or its stream ends.
 */
import { KernelError } from '../../abi/errno.ts';
import { CONNECTIONS_PER_ORIGIN } from './address-guard.ts';

/** The most requests one agent may have open to one origin: a quarter of the connections the kernel keeps to it. */
export const CONNECTIONS_PER_AGENT_ORIGIN = CONNECTIONS_PER_ORIGIN / 4;

export class OriginShares {
  private readonly open = new Map<string, number>();
  private readonly most: number;

  constructor(most: number) {
    this.most = most;
  }

  /** take counts one request of `agentId` to `origin` and returns what gives it back (once); EAGAIN past the share. */
  take(agentId: string, origin: string): () => void {
    const key = `${agentId}\0${origin}`;
    const now = this.open.get(key) ?? 0;
    if (now >= this.most) throw new KernelError('EAGAIN', `http.fetch: agent '${agentId}' already has ${now} requests open to ${origin}, its share of the kernel's ${CONNECTIONS_PER_ORIGIN} connections to an origin: read or cancel a response body first`);
    this.open.set(key, now + 1);
    let given = false;
    return () => {
      if (given) return;
      given = true;
      const left = (this.open.get(key) ?? 1) - 1;
      if (left === 0) this.open.delete(key);
      else this.open.set(key, left);
    };
  }
}
