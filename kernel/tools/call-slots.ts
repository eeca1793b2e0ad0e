/**
 * How many calls of one command tool run at once. Each call is a process
 * (a bubblewrap sandbox with up to 2 GiB of address space and a RAM-backed
 * scratch folder), and a tree can make about a thousand calls at once (16
 * outstanding per process, 64 children): found by an attacker pass, 60
 * sandboxes of one agent filling /tmp took 1.3 GB of the host's memory, and
 * nothing bounded it. A tool runs at most `max` calls at once (its
 * `max_concurrent`, DEFAULT_MAX_CONCURRENT) and one agent at most half of
 * them (at least one), so no agent takes the tool from the others. A call
 * past either waits, in order, within its own time limit (it holds no
 * process meanwhile), and starts when a slot it may take comes back.
 * (Agents' TypeScript compiles wait for theirs the same way, with no share
 * per agent: kernel/compile-process.ts.)
 */

/** The calls of one command tool that run at once unless its configuration says otherwise. */
export const DEFAULT_MAX_CONCURRENT = 4;

interface Waiting {
  readonly agentId: string;
  readonly start: (release: () => void) => void;
}

export class CallSlots {
  private readonly max: number;
  private readonly perAgent: number;
  private running = 0;
  private readonly byAgent = new Map<string, number>();
  private readonly queue: Waiting[] = [];

  /** `max` at once, one agent at most `perAgent` of them (default half, at least one). */
  constructor(max = DEFAULT_MAX_CONCURRENT, perAgent = Math.max(1, Math.floor(max / 2))) {
    this.max = max;
    this.perAgent = perAgent;
  }

  /** take resolves with the function that gives back the slot held for a call of agent `agentId` (once); it rejects with `signal`'s reason if the call is aborted while it waits. */
  take(agentId: string, signal: AbortSignal): Promise<() => void> {
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const waiting: Waiting = {
        agentId,
        start: (release) => {
          signal.removeEventListener('abort', aborted);
          resolve(release);
        },
      };
      const aborted = () => {
        const at = this.queue.indexOf(waiting);
        if (at >= 0) this.queue.splice(at, 1);
        reject(signal.reason);
      };
      signal.addEventListener('abort', aborted, { once: true });
      // In order, behind the calls already waiting, unless those wait for their agent's share (a review: an agent at
      // its share kept every other agent's call waiting while slots were free).
      this.queue.push(waiting);
      this.next();
    });
  }

  private free(agentId: string): boolean {
    return this.running < this.max && (this.byAgent.get(agentId) ?? 0) < this.perAgent;
  }

  private hold(agentId: string): () => void {
    this.running++;
    this.byAgent.set(agentId, (this.byAgent.get(agentId) ?? 0) + 1);
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.running--;
      const left = (this.byAgent.get(agentId) ?? 1) - 1;
      if (left === 0) this.byAgent.delete(agentId);
      else this.byAgent.set(agentId, left);
      this.next();
    };
  }

  /** next starts the first waiting calls that may run now (an agent at its share lets the ones behind it go first). */
  private next(): void {
    for (let i = 0; i < this.queue.length && this.running < this.max; ) {
      const waiting = this.queue[i]!;
      if (!this.free(waiting.agentId)) {
        i++;
        continue;
      }
      this.queue.splice(i, 1);
      waiting.start(this.hold(waiting.agentId));
    }
  }
}
