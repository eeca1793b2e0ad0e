/**
 * BoundaryTape is what a sandbox tells a run's tape at each crossing of its
 * boundary, and what the tape may answer instead of the kernel: recording
 * keeps every crossing (RecordingTape, here); replay answers from the
 * recording and drives the isolate's entries in the recorded order
 * (player.ts). A sandbox without a tape crosses as before.
 */
import type { Reply } from '../../syscalls/dispatch.ts';
import type { Completion } from '../async-calls.ts';
import type { WireReply } from '../wire-reply.ts';
import { encode, text } from './codec.ts';
import type { DecisionEvent } from './events.ts';
import { INTERRUPTED, type TapeWriter } from './tape-file.ts';

/** One call as the tape sees it. */
export interface TapedCall {
  /** Replay: the reply the recording gives; the kernel is not asked. */
  readonly fed?: WireReply;
  /** The kernel's reply, immediate or final: kept (recording) or checked against the recording (replay); returns what ring 3 gets. */
  answered(reply: WireReply): WireReply;
  /** Replay: an asynchronous call the kernel answers later is held for the recording's schedule; returns ring 3's reply. */
  hold?(later: Promise<Reply>): WireReply;
  /** Recording: a blocking call waits for its reply (the isolate sleeps); its reply comes through answered() later. */
  waiting?(): void;
}

/** What a replaying tape runs in an idle isolate. */
export interface TapeDriver {
  batch(batch: Completion[]): void;
  signals(names: readonly string[]): void;
}

export type Entry = { readonly batch: readonly Completion[] } | { readonly signals: readonly string[] };

export interface BoundaryTape {
  /** The first id the sandbox gives an asynchronous call of its own (replay: past every id in the recording). */
  readonly firstCallId: number;
  /** clock is the time ring 3 reads (ms since the epoch, whole, as Date.now). */
  clock(): number;
  call(mode: 'blocking' | 'async', flags: number, nr: unknown, args: readonly unknown[]): TapedCall;
  /** entering: an entry (completions, signals) is about to run in the isolate, every earlier one having ended. */
  entering(entry: Entry): void;
  /**
   * idle: nothing runs in the isolate; true when the tape runs its next
   * entry through `driver`, false to leave it to the kernel. `ending`: were
   * it left to the kernel, the process would end now (main settled, nothing
   * outstanding).
   */
  idle(driver: TapeDriver, ending: boolean): boolean;
}

const PASS: TapedCall = { answered: (reply) => reply };

/** ms writes a duration in ms to the µs. */
function ms(value: number): string {
  return value.toFixed(3);
}

/** replyText is a wire reply's canonical text; a value reply without signals, written directly. */
function replyText(reply: WireReply): string {
  return reply.t === 'value' && reply.sig === undefined ? `{"t":"value","v":${text(reply.v)}}` : text(reply);
}

/** RecordingTape keeps every crossing of one process's boundary on a TapeWriter. */
export class RecordingTape implements BoundaryTape {
  readonly firstCallId = 1;
  private readonly writer: TapeWriter;
  private calls = 0;
  /** When each queued call was issued (performance.now), until its completion is delivered. */
  private readonly issued = new Map<number, number>();
  /** Blocking calls whose replies have not come. */
  private readonly waiting = new Set<number>();
  /** A call is being answered (between call() and its line): output it makes is written after the line. */
  private answering = false;
  private deferred: string[] = [];

  constructor(writer: TapeWriter) {
    this.writer = writer;
  }

  clock(): number {
    const v = Date.now();
    this.writer.push({ k: 't', v });
    return v;
  }

  call(mode: 'blocking' | 'async', flags: number, nr: unknown, args: readonly unknown[]): TapedCall {
    const n = ++this.calls;
    const head = `{"k":"c","n":${n},"m":"${mode === 'blocking' ? 'b' : 'a'}"${mode === 'async' ? `,"f":${flags}` : ''},"s":${text(nr)},"a":${text(args)}`;
    const started = performance.now();
    let waited = false;
    this.answering = true;
    return {
      // A call answered at once is one line; one that waits is its call line now, and a reply line (k r) when it comes.
      waiting: () => {
        waited = true;
        this.waiting.add(n);
        this.writer.line(`${head}}`);
        this.answeredNow();
      },
      answered: (reply: WireReply): WireReply => {
        const done = `,"t":${Date.now()}${reply.t === 'queued' ? '' : `,"d":${ms(performance.now() - started)}`}}`;
        // A queued call's time is its completion's (the batch that delivers it).
        if (reply.t === 'queued') this.issued.set(reply.id, started);
        if (!waited) {
          this.writer.line(`${head},"r":${replyText(reply)}${done}`);
          this.answeredNow();
        } else if (this.waiting.delete(n)) this.writer.line(`{"k":"r","n":${n},"r":${replyText(reply)}${done}`);
        return reply;
      },
    };
  }

  /** answeredNow writes the output the call just answered made, after its line (a replay writes a call's output once past it). */
  private answeredNow(): void {
    this.answering = false;
    for (const line of this.deferred) this.writer.line(line);
    this.deferred = [];
  }

  /** output keeps what reached the operator's fd 1 or 2 (the process's own, or a child's). */
  output(fd: 1 | 2, bytes: Uint8Array): void {
    const line = JSON.stringify({ k: 'o', f: fd, d: encode(bytes) });
    if (this.answering) this.deferred.push(line);
    else this.writer.line(line);
  }

  /**
   * decision keeps a decision the policy made (a replay's candidate judges a
   * child's; the process's own tells it the trust and tokens the agent had).
   * Written at once: the decision on a call comes before the call's line, so
   * a replay knows what it says before it judges the call.
   */
  decision(event: DecisionEvent): void {
    this.writer.line(JSON.stringify(event));
  }

  /** interrupted are the reply lines of the calls still waiting when the run ended. */
  interrupted(): string[] {
    return [...this.waiting].map((n) => `{"k":"r","n":${n},"r":${INTERRUPTED},"t":${Date.now()}}`);
  }

  entering(entry: Entry): void {
    const now = performance.now();
    const since = (id: number): { d?: number } => {
      const started = this.issued.get(id);
      if (started === undefined) return {};
      this.issued.delete(id);
      return { d: Number(ms(now - started)) };
    };
    if ('batch' in entry) this.writer.push({ k: 'b', c: entry.batch.map((c) => ({ id: c.id, r: encode(c.reply), ...since(c.id) })) });
    else this.writer.push({ k: 'g', s: [...entry.signals] });
  }

  idle(): boolean {
    return false;
  }
}

/** passThrough is the TapedCall of a call the tape only lets by (a replay gone live). */
export const passThrough: TapedCall = PASS;
