/**
 * StreamMirror copies every record of a node's file log into the node's
 * Redis stream as it is appended — the kernel's decisions and agentd's own
 * records (evaluate answers, policy changes, refused requests) alike — each
 * re-sealed into the stream's own chain with the same fields and time. The
 * file log stays the node's primary record (the API reads and verifies it);
 * the stream is what every operator can verify across nodes
 * (`agentctl audit verify --redis`).
 *
 * `before-action`: `recorder` makes an allowed effect wait until the stream
 * holds its record (beforeAction), and a record the stream refuses (not open
 * yet, fenced, too far behind) is an error, so the dispatcher denies — with
 * Redis away, effects fail closed. `mirror`: effects wait for the file log
 * only; the stream catches up from its queue when Redis is back, and a
 * record it refuses is left out of its chain and counted in `missed` (the
 * file log still has it).
 */
import { Subscription } from 'rxjs';
import type { DecisionInput, DecisionRecorder } from '../../syscalls/records.ts';
import { KernelError } from '../../abi/errno.ts';
import type { FileDecisionLog } from './file-log.ts';
import type { RedisStreamLog } from './redis-stream-log.ts';

export type StreamMode = 'before-action' | 'mirror';

export class StreamMirror {
  readonly mode: StreamMode;
  /** The kernel's recorder: the file log, with the stream's wait in `before-action` mode. */
  readonly recorder: DecisionRecorder;
  /** Records the stream refused. */
  missed = 0;
  private lastError: KernelError | undefined;
  private readonly subscription: Subscription;
  private readonly losses: Subscription;

  constructor(log: FileDecisionLog, stream: RedisStreamLog, mode: StreamMode) {
    this.mode = mode;
    this.subscription = log.appended.subscribe((record) => {
      try {
        stream.mirror(record);
      } catch (err) {
        this.missed++;
        this.lastError = err instanceof KernelError ? err : new KernelError('EIO', String(err));
      }
    });
    // Redis came back without the stream: the file log (which has every record) says what the stream lost, and the stream gets that record too.
    this.losses = stream.lost.subscribe((loss) => {
      try {
        log.record({ type: 'log', pid: 0, agentId: 'agentd', detail: `decision stream ${loss.key} was gone when Redis answered again: Redis lost its records 1–${loss.through}; the stream goes on from ${loss.resumedAt} (this file log holds them all)` });
      } catch {
        // the file log cannot be written either: its own problem says so
      }
    });
    if (mode === 'mirror') {
      this.recorder = log;
      return;
    }
    this.recorder = {
      record: (entry: DecisionInput): number => {
        const missed = this.missed;
        const seq = log.record(entry);
        if (this.missed !== missed) throw this.lastError!;
        return seq;
      },
      // The file log writes the record first (it throws if it cannot); waiting for everything the stream has so far covers its copy.
      beforeAction: (seq: number) => {
        log.beforeAction(seq);
        return stream.barrier();
      },
      whenWritten: async (seq: number) => {
        await Promise.all([log.whenWritten(seq), stream.barrier()]);
      },
      get bytes() {
        return log.bytes;
      },
    };
  }

  /** stop ends the copying. */
  stop(): void {
    this.subscription.unsubscribe();
    this.losses.unsubscribe();
  }
}
