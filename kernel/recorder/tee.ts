/**
 * TeeRecorder writes every record to two recorders, each with its own
 * chain: the primary, whose sequence numbers it returns (a node's file log,
 * which agentd's API reads and verifies), and a mirror (the node's Redis
 * stream, which every node's operator can verify). An allowed effect waits
 * until both hold its record; a record either cannot take is an error, and
 * the dispatcher then denies.
 */
import type { DecisionInput, DecisionRecorder } from '../../syscalls/context.ts';

/** A mirror says how far its own chain has got, so a wait can cover the record just made. */
export interface MirrorRecorder extends DecisionRecorder {
  readonly count: number;
}

export class TeeRecorder implements DecisionRecorder {
  readonly primary: DecisionRecorder;
  readonly mirror: MirrorRecorder;

  constructor(primary: DecisionRecorder, mirror: MirrorRecorder) {
    this.primary = primary;
    this.mirror = mirror;
  }

  record(entry: DecisionInput): number {
    const seq = this.primary.record(entry);
    this.mirror.record(entry);
    return seq;
  }

  /** beforeAction waits for the primary's record `seq` and for everything the mirror holds so far (which covers the same record). */
  beforeAction(seq: number): Promise<void> | undefined {
    const primary = this.primary.beforeAction?.(seq);
    const mirror = this.mirror.beforeAction?.(this.mirror.count);
    if (primary === undefined) return mirror;
    if (mirror === undefined) return primary;
    return Promise.all([primary, mirror]).then(() => undefined);
  }

  async whenWritten(seq: number): Promise<void> {
    await Promise.all([this.primary.whenWritten?.(seq), this.mirror.whenWritten?.(this.mirror.count)]);
  }
}
