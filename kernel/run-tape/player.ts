/**
 * Player replays a recorded run into a fresh process: the program runs again
 * in a real isolate, and each crossing of its boundary is checked against
 * the recording and answered from it — time and randomness, timers in their
 * order, tool calls and fetches, signals, other processes — while the calls
 * that build kernel state (the VFS, the fd table, signal dispositions) also
 * run in the replaying kernel, their answers checked (classes.ts). Entries
 * into the isolate (completion batches, signal deliveries) come in the
 * recorded order. The first call that differs in syscall or arguments, or
 * comes where the recording has none, is the divergence: the replay ends
 * there and says both sides. What the program writes to the operator's fd 1
 * and 2 is written, and must be the output the recording has next (an edited
 * or missing output line is a divergence), and waits where the recorded
 * write waited for its reader (sink-waits.ts); output children wrote (they
 * do not run again) is written from the recording where it was.
 *
 * From call forkAt + 1 on the run is live: every call goes to the kernel;
 * calls issued before the fork complete with their recorded results, as
 * soon as the isolate is idle, and what only the recorded run had (a fetch
 * body streaming at the fork, children spawned before it) is answered from
 * the recording (after-fork.ts).
 */
import type { Reply } from '../../syscalls/dispatch.ts';
import { ROW_BY_NR, SYSCALL_NUMBERS } from '../../syscalls/table.ts';
import type { Completion } from '../async-calls.ts';
import { wire, type WireReply } from '../wire-reply.ts';
import { AfterFork } from './after-fork.ts';
import { passThrough, type BoundaryTape, type Entry, type TapeDriver, type TapedCall } from './boundary-tape.ts';
import { REPLAY_CLASS } from './classes.ts';
import { decode, text, type Encoded } from './codec.ts';
import { type CandidateJudge, Judging } from './judging.ts';
import { type Divergence, describeCall, describeEvent, describeOutput, describeReply, sameAnswer } from './divergence.ts';
import { bodyFd, queuedId, refused, sameBytes } from './recorded-replies.ts';
import { SinkWaits } from './sink-waits.ts';
import type { TapeCursor } from './tape-cursor.ts';
import type { Tape } from './tape-read.ts';

/** What the player needs of the replaying kernel. */
export interface PlayerHost {
  /** The kind of what `fd` is in the live fd table ('file', 'sink', 'pipe', 'stdin'), if open. */
  fdKind(fd: number): string | undefined;
  /** reserve keeps fd number `fd` taken (a fed fetch body) so live opens number as the recording did; release frees it. */
  reserve(fd: number): void;
  release(fd: number): void;
  /** output writes to the operator's fd 1 or 2: what the program wrote, or a child's recorded output. */
  output(fd: 1 | 2, bytes: Uint8Array): void;
  /** The candidate policy, if any: what it would not have let through is kept in the player's `judging`. */
  readonly candidate?: CandidateJudge;
  /** diverged ends the run: the replay no longer follows the recording. */
  diverged(divergence: Divergence): void;
  /** forked: the run goes live from here (the candidate policy, if any, takes over). */
  forked(): void;
  /** signal ends the run, at once, the way the recorded one was ended (a recorded SIGKILL, say). */
  signal(name: string): void;
}

const CLOSE_NR = SYSCALL_NUMBERS.SYS_CLOSE;
const SPAWN_NR = SYSCALL_NUMBERS.SYS_SPAWN;

export class Player implements BoundaryTape {
  readonly firstCallId: number;
  /** What the candidate policy, if any, would not have let through. */
  readonly judging: Judging;
  divergence: Divergence | undefined;
  private readonly tape: Tape;
  /** The recording's events still to come. */
  private readonly events: TapeCursor;
  private readonly forkAt: number;
  private readonly host: PlayerHost;
  private calls = 0;
  /** The last recorded call the replay followed (a child's decision after it is judged as made after it). */
  private followed = 0;
  private live = false;
  /** Fed asynchronous calls whose recorded completions are still to be delivered. */
  private readonly pending = new Set<number>();
  /** Live asynchronous calls (before the fork) whose completions wait for the recorded batch. */
  private readonly held = new Map<number, Promise<Reply>>();
  /** Writes to the operator's stdout and stderr that waited for the reader in the recorded run. */
  private readonly sinks = new SinkWaits();
  private readonly fedFds = new Set<number>();
  /** Children the recording's spawns made before the fork (fed: they never ran in the replaying kernel), by pid; and spawns whose pid comes in a completion. */
  private readonly fedChildren = new Set<number>();
  private readonly spawning = new Set<number>();
  /** After the fork: what the recording still answers (after-fork.ts). */
  private after: AfterFork | undefined;
  private ended = false;

  constructor(tape: Tape, forkAt: number, host: PlayerHost) {
    this.tape = tape;
    this.events = tape.events();
    this.forkAt = forkAt;
    this.host = host;
    this.judging = new Judging(host.candidate, tape.header);
    this.firstCallId = tape.lastQueuedId + 1;
  }

  /** close ends the replay's reading of the tape: why the tape is not the one checked, if it is not (the rest is read to know). */
  close(): string | undefined {
    return this.events.finish();
  }

  /** calls is how many calls the replay has made. */
  get made(): number {
    return this.calls;
  }

  /** wentLive: the run passed the fork. */
  get wentLive(): boolean {
    return this.live;
  }

  /** endedAs checks where the replayed run ended: before the recording's end (and not live), it diverged there. */
  endedAs(replayed: string): void {
    if (this.live || this.divergence !== undefined) return;
    this.passive(replayed);
    if (this.divergence !== undefined) return;
    const event = this.events.peek();
    if (event?.k === 'x') return;
    this.ended = false;
    this.diverge(describeEvent(event), replayed);
  }

  /** endedDifferently: the replay followed every call but ended otherwise (another status). */
  endedDifferently(recorded: string, replayed: string): void {
    this.ended = false;
    this.diverge(recorded, replayed);
  }

  /**
   * passive takes what the recording has between the root's crossings:
   * children's output (written) and their decisions (judged). The program's
   * own output follows its write's line and is taken by `wrote`; so output
   * here, with no child spawned, is output the program did not write: the
   * replay diverges, having done `instead`. Without `instead`, the output is
   * that of a call the replay fed (the kernel did not run it): written.
   */
  private passive(instead?: string): void {
    for (let e = this.events.peek(); e !== undefined && (e.k === 'o' || e.k === 'd'); e = this.events.peek()) {
      if (e.k === 'o' && instead !== undefined && !this.live && !this.hasChildren) {
        this.diverge(describeEvent(e), instead);
        return;
      }
      this.events.next();
      if (this.live) continue;
      if (e.k === 'o') this.host.output(e.f, decode(e.d) as Uint8Array);
      else this.judging.decision(e, this.followed);
    }
  }

  /** hasChildren: a spawn the replay fed made a child (or may have: its pid is in a completion still to come). */
  private get hasChildren(): boolean {
    return this.fedChildren.size > 0 || this.spawning.size > 0;
  }

  /**
   * wrote is what the replayed program wrote to the operator's fd 1 or 2
   * (through the replaying kernel's sinks): written, and before the fork
   * checked against the recording, where a write's output follows its call's
   * line. Output the recording does not have there, or has otherwise, is a
   * divergence: what the replay prints is what the program wrote, never a
   * tape's say-so. The write of a call the recording has `queued` (it waited
   * for the reader) waits too: the promise the sink returns (sink-waits.ts).
   */
  wrote(fd: 1 | 2, bytes: Uint8Array): Promise<void> | undefined {
    this.host.output(fd, bytes);
    if (this.live || this.ended) return undefined;
    const event = this.events.peek();
    if (event?.k === 'o' && event.f === fd && sameBytes(decode(event.d) as Uint8Array, bytes)) {
      this.events.next();
      return this.sinks.wait();
    }
    this.diverge(describeEvent(event), `call #${this.calls} wrote ${describeOutput(fd, bytes)}`);
    return undefined;
  }

  private diverge(recorded: string, replayed: string): void {
    if (this.divergence !== undefined || this.ended) return;
    this.divergence = { at: this.calls, recorded, replayed };
    this.ended = true;
    this.host.diverged(this.divergence);
  }

  private static readonly LOST: WireReply = { t: 'fault', errno: 'EIO', message: 'the replay left the recording here' };

  clock(): number {
    // Past call forkAt, every crossing is live: the clock too.
    if (!this.live && this.calls >= this.forkAt) this.goLive();
    if (this.live || this.ended) return Date.now();
    this.passive('a read of the clock');
    if (this.ended) return Date.now();
    const event = this.events.peek();
    if (event?.k !== 't') {
      this.diverge(describeEvent(event), 'a read of the clock');
      return Date.now();
    }
    this.events.next();
    return event.v;
  }

  call(mode: 'blocking' | 'async', flags: number, nr: unknown, args: readonly unknown[]): TapedCall {
    const n = ++this.calls;
    this.sinks.answering(undefined);
    if (this.ended) return { fed: Player.LOST, answered: () => Player.LOST };
    if (!this.live && n > this.forkAt) this.goLive();
    if (this.live) {
      const body = this.after?.answer(nr, args, (fd) => this.host.release(fd));
      return body === undefined ? passThrough : { fed: body, answered: () => body };
    }
    this.passive(describeCall(n, mode, nr, args));
    if (this.ended) return { fed: Player.LOST, answered: () => Player.LOST };
    const event = this.events.peek();
    if (event?.k !== 'c' || event.m !== (mode === 'blocking' ? 'b' : 'a') || text(nr) !== JSON.stringify(event.s) || text(args) !== JSON.stringify(event.a)) {
      this.diverge(describeEvent(event), describeCall(n, mode, nr, args));
      return { fed: Player.LOST, answered: () => Player.LOST };
    }
    this.events.next();
    this.followed = n;
    this.judging.call(event, nr, args);
    const recorded = decode(event.r) as WireReply;
    if (this.killedAfter(n)) return { fed: recorded, answered: () => recorded };
    if (!this.isLive(nr, args) || refused(recorded)) return { fed: this.feed(nr, args, recorded), answered: () => recorded };
    // A write to a sink while the kernel answers it waits if the recorded one did (it was answered queued).
    this.sinks.answering(mode === 'async' ? queuedId(recorded) : undefined);
    return {
      answered: (live) => {
        this.sinks.answering(undefined);
        return this.check(n, live, recorded);
      },
      hold: (later) => {
        this.sinks.answering(undefined);
        const id = queuedId(recorded);
        if (id === undefined) {
          this.diverge(`call #${n} answered at once: ${describeReply(recorded)}`, `call #${n} left waiting by the kernel`);
          return Player.LOST;
        }
        this.held.set(id, later);
        return recorded;
      },
    };
  }

  /**
   * killedAfter ends the replay as the recorded run ended when it ended by a
   * signal right after this call (a violation's SIGPOLICY, a limit's
   * SIGKILL): the kernel killed it then, during the call, before ring 3 saw
   * the reply — so the replay must not run on with it.
   */
  private killedAfter(n: number): boolean {
    const { end, lastBeforeEnd } = this.tape;
    if (lastBeforeEnd !== n || end.signal === undefined || this.forkAt <= this.calls) return false;
    this.passive();
    this.ended = true;
    this.host.signal(end.signal);
    return true;
  }

  /** isLive: the replaying kernel runs this call too (classes.ts). */
  private isLive(nr: unknown, args: readonly unknown[]): boolean {
    const row = typeof nr === 'number' ? ROW_BY_NR[nr] : undefined;
    if (row === undefined) return false;
    const kind = REPLAY_CLASS[row.name];
    if (kind !== 'by-fd') return kind === 'live';
    const fd = args[0];
    if (typeof fd !== 'number' || this.fedFds.has(fd)) return false;
    if (row.name === 'SYS_CLOSE') return this.host.fdKind(fd) !== undefined;
    const what = this.host.fdKind(fd);
    return what === 'file' || what === 'sink';
  }

  /** feed is a fed call's recorded reply, with what it implies: a completion to come, a fetch body's fd, a closed one. */
  private feed(nr: unknown, args: readonly unknown[], recorded: WireReply): WireReply {
    const id = queuedId(recorded);
    if (id !== undefined) this.pending.add(id);
    if (nr === SPAWN_NR) this.spawned(recorded, id);
    this.bodyFrom(recorded);
    const fd = args[0];
    if (nr === CLOSE_NR && typeof fd === 'number' && this.fedFds.delete(fd)) this.host.release(fd);
    return recorded;
  }

  /** spawned notes the child a fed spawn made (its pid in the reply, or in the completion of `id`). */
  private spawned(reply: WireReply, id: number | undefined): void {
    if (id !== undefined) this.spawning.add(id);
    else if (reply.t === 'value' && typeof reply.v === 'number') this.fedChildren.add(reply.v);
  }

  /** bodyFrom keeps the number of a fetch body's fd that a fed reply hands over, so live opens number as recorded. */
  private bodyFrom(recorded: WireReply): void {
    const fd = bodyFd(recorded);
    if (fd === undefined || this.fedFds.has(fd)) return;
    this.fedFds.add(fd);
    this.host.reserve(fd);
  }

  /** check compares a live call's answer with the recorded one; ring 3 gets the recorded one (with its signals). */
  private check(n: number, live: WireReply, recorded: WireReply): WireReply {
    if (sameAnswer(live, recorded)) return recorded;
    this.diverge(`call #${n} answered ${describeReply(recorded)}`, `call #${n} answered ${describeReply(live)} by the replaying kernel`);
    return live;
  }

  entering(_entry: Entry): void {
    // the recording's entries are what the player runs
  }

  idle(driver: TapeDriver, ending: boolean): boolean {
    if (!this.live && !this.ended && this.calls >= this.forkAt) this.goLive();
    if (this.live) return this.deliverLeftovers(driver);
    if (this.ended) return false;
    this.passive(`the program idle after call #${this.calls}`);
    if (this.ended) return true;
    const event = this.events.peek();
    if (event === undefined) return false;
    if (event.k === 'b') {
      this.events.next();
      this.deliver(event.c, driver);
      return true;
    }
    if (event.k === 'g') {
      this.events.next();
      driver.signals(event.s);
      return true;
    }
    if (event.k === 'x') {
      if (event.signal !== undefined) {
        this.ended = true;
        this.host.signal(event.signal);
        return true;
      }
      // The recorded run ended here on its own: so must the replay (else it waits for something the recording never had).
      if (ending) {
        this.ended = true;
        return false;
      }
      this.diverge(describeEvent(event), 'the program still waiting (main unsettled, or something keeps it)');
      return true;
    }
    if (event.k === 'cut') {
      this.diverge(describeEvent(event), 'the run going on past what was recorded');
      return true;
    }
    this.diverge(describeEvent(event), `the program idle after call #${this.calls}`);
    return true;
  }

  /** deliver runs a recorded batch once its live completions are in (a replay that cannot is a divergence, never an uncaught error). */
  private deliver(batch: readonly { id: number; r: Encoded }[], driver: TapeDriver): void {
    this.completions(batch).then(
      (completions) => (this.ended && !this.live ? undefined : driver.batch(completions)),
      (err: unknown) => this.diverge('a batch of completions', `a batch the replay could not deliver (${err instanceof Error ? err.message : String(err)})`),
    );
  }

  /** completions are a recorded batch's replies, live ones checked against them once the kernel has answered. */
  private async completions(recorded: readonly { id: number; r: Encoded }[]): Promise<Completion[]> {
    const out: Completion[] = [];
    for (const { id, r } of recorded) {
      const reply = decode(r) as WireReply;
      this.pending.delete(id);
      const held = this.held.get(id);
      if (held !== undefined) {
        this.held.delete(id);
        const final = await held;
        const live: WireReply = 'later' in final ? { t: 'fault', errno: 'EIO', message: 'unsettled reply' } : wire(final);
        // A write that waited for the reader completes as recorded: the reader is not replayed.
        if (!this.sinks.waitedFor(id) && !sameAnswer(live, reply)) this.diverge(`the completion of id ${id}: ${describeReply(reply)}`, `${describeReply(live)} from the replaying kernel`);
      }
      else this.bodyFrom(reply);
      if (this.spawning.delete(id)) this.spawned(reply, undefined);
      out.push({ id, reply, size: 0 });
    }
    return out;
  }

  /** goLive ends the replay at the fork: what was issued before it completes as recorded (after-fork.ts); everything after is the kernel's. */
  private goLive(): void {
    // Output that followed the last call replayed is a child's of that time (the call's own was checked as it was written): written before going live.
    this.passive(`going live after call #${this.calls}`);
    if (this.ended) return;
    this.live = true;
    this.after = new AfterFork(this.events, { issued: (id) => this.pending.has(id) || this.held.has(id), fedFds: this.fedFds, children: this.fedChildren });
    this.host.forked();
  }

  private deliverLeftovers(driver: TapeDriver): boolean {
    const batch = this.after?.takeLeftovers() ?? [];
    if (batch.length === 0) return false;
    this.deliver(batch, driver);
    return true;
  }
}
