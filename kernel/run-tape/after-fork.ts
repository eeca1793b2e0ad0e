/**
 * AfterFork is what a replay gone live (past --fork-at) still answers from
 * the recording, read in one pass over the rest of it at the fork:
 *   - the completions of calls issued before the fork (delivered at the next
 *     idle moment);
 *   - what a fetch body streamed to an fd before the fork still reads (the
 *     live kernel never had it), each read's reply in call order, then end of
 *     file;
 *   - waits for and signals to children that ran in the recorded run only
 *     (spawned before the fork, so fed): the recorded reply of the same call,
 *     in order, else ECHILD or ESRCH saying so.
 */
import { SYSCALL_NUMBERS } from '../../syscalls/table.ts';
import type { WireReply } from '../wire-reply.ts';
import { decode, text, type Encoded } from './codec.ts';
import type { TapeEvent } from './events.ts';

const CLOSE_NR = SYSCALL_NUMBERS.SYS_CLOSE;
const READ_NR = SYSCALL_NUMBERS.SYS_READ;
const WAIT_NR = SYSCALL_NUMBERS.SYS_WAIT;
const SIGNAL_NR = SYSCALL_NUMBERS.SYS_SIGNAL;

/** What the replay had at the fork. */
export interface AtFork {
  /** A call issued before the fork whose completion is still to come (fed or held). */
  issued(id: number): boolean;
  /** Fds of fetch bodies the recording handed over (the set is the player's: a close takes one out). */
  readonly fedFds: Set<number>;
  /** Children the recording's spawns made before the fork. */
  readonly children: ReadonlySet<number>;
}

/** A recorded reply, known once its line (or, for a queued call, its completion) is read. */
type Later = { reply: WireReply | undefined };

/** recordedKey is a recorded call's key: the JSON of its (encoded) values, which is what `text` makes of a live call's (Player.call compares them so). */
const recordedKey = (nr: Encoded, args: Encoded[]): string => `${JSON.stringify(nr)} ${JSON.stringify(args)}`;

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  (map.get(key) ?? map.set(key, []).get(key)!).push(value);
}

const known = (list: readonly Later[]): WireReply[] => list.flatMap((l) => (l.reply === undefined ? [] : [l.reply]));

export class AfterFork {
  private leftovers: { id: number; r: Encoded }[] = [];
  private readonly bodies = new Map<number, WireReply[]>();
  private readonly childCalls = new Map<string, WireReply[]>();
  private readonly fedFds: Set<number>;
  private readonly children: ReadonlySet<number>;

  constructor(rest: Iterable<TapeEvent>, at: AtFork) {
    this.fedFds = at.fedFds;
    this.children = at.children;
    const reads = new Map<number, Later[]>();
    const calls = new Map<string, Later[]>();
    const queued = new Map<number, Later>();
    const later = (reply: WireReply): Later => {
      const l = { reply: reply.t === 'queued' ? undefined : reply };
      if (reply.t === 'queued') queued.set(reply.id, l);
      return l;
    };
    for (const event of rest) {
      if (event.k === 'b') {
        for (const c of event.c) {
          if (at.issued(c.id)) this.leftovers.push(c);
          const l = queued.get(c.id);
          if (l !== undefined) l.reply = decode(c.r) as WireReply;
        }
        continue;
      }
      if (event.k !== 'c') continue;
      const nr = decode(event.s);
      const first = (event.a as unknown[])[0];
      if ((nr === WAIT_NR || nr === SIGNAL_NR) && typeof first === 'number' && this.children.has(first)) push(calls, recordedKey(event.s, event.a), later(decode(event.r) as WireReply));
      else if (nr === READ_NR && typeof first === 'number' && this.fedFds.has(first)) push(reads, first, later(decode(event.r) as WireReply));
    }
    for (const [fd, list] of reads) this.bodies.set(fd, known(list));
    for (const [key, list] of calls) this.childCalls.set(key, known(list));
  }

  /** takeLeftovers hands over the recorded completions still to deliver (once). */
  takeLeftovers(): { id: number; r: Encoded }[] {
    const batch = this.leftovers;
    this.leftovers = [];
    return batch;
  }

  /** answer is the recording's reply to a live call it still answers (see above), or undefined: the kernel's. `release` frees a fetch body's fd. */
  answer(nr: unknown, args: readonly unknown[], release: (fd: number) => void): WireReply | undefined {
    const first = args[0];
    if (typeof first !== 'number') return undefined;
    if ((nr === WAIT_NR || nr === SIGNAL_NR) && this.children.has(first)) {
      const recorded = this.childCalls.get(`${text(nr)} ${text(args)}`)?.shift();
      if (recorded !== undefined) return recorded;
      return { t: 'fault', errno: nr === WAIT_NR ? 'ECHILD' : 'ESRCH', message: `pid ${first} ran in the recorded run only (spawned before the fork), and the recording holds no more of this call for it` };
    }
    if ((nr !== READ_NR && nr !== CLOSE_NR) || !this.fedFds.has(first)) return undefined;
    if (nr === CLOSE_NR) {
      this.fedFds.delete(first);
      this.bodies.delete(first);
      release(first);
      return { t: 'value', v: 0 };
    }
    return this.bodies.get(first)?.shift() ?? { t: 'value', v: new Uint8Array(0) };
  }
}
