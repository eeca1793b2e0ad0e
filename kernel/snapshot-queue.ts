/**
 * SnapshotQueue runs one checkpoint of an agent at a time: a checkpoint asked
 * while one runs shares the one that follows it, so a flood of SIGUSR1s or
 * SYS_CHECKPOINTs costs at most two snapshots at once, one copying (found
 * by an attacker pass: 3,000 SIGUSR1s ran 520 snapshots of an 8 MiB file at
 * once, held the event loop 8 s and took 3.2 GiB).
 */
import type { CheckpointInfo } from '../syscalls/context.ts';

/** An agent's snapshot under way, and the one every checkpoint asked meanwhile shares. */
interface Slot {
  running: Promise<CheckpointInfo>;
  next: Promise<CheckpointInfo> | undefined;
}

const nothing = (): void => {};

export class SnapshotQueue {
  private readonly slots = new Map<string, Slot>();

  /** take runs `snapshot` for `agentId` now if none runs, else once the running one ends, shared by everyone who asks meanwhile. */
  take(agentId: string, snapshot: () => Promise<CheckpointInfo>): Promise<CheckpointInfo> {
    const slot = this.slots.get(agentId);
    if (slot === undefined) return this.start(agentId, snapshot, undefined);
    slot.next ??= slot.running.then(nothing, nothing).then(() => this.start(agentId, snapshot, slot));
    return slot.next;
  }

  private start(agentId: string, snapshot: () => Promise<CheckpointInfo>, slot: Slot | undefined): Promise<CheckpointInfo> {
    const running = snapshot();
    const entry = slot ?? { running, next: undefined };
    entry.running = running;
    entry.next = undefined;
    this.slots.set(agentId, entry);
    void running.then(nothing, nothing).then(() => {
      if (entry.running === running && entry.next === undefined) this.slots.delete(agentId);
    });
    return running;
  }
}
