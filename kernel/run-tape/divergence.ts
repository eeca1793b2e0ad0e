/**
 * How a replay tells where it left the recording: each side in words (a
 * recorded event, a replayed call, a reply, cut to a readable length), and
 * whether the replaying kernel answered a call as the recording says. Text
 * from the tape or the replayed program (an end's reason, a cut's why, a
 * fault's errno and message) is escaped (terminal-text.ts): the divergence
 * goes to the operator's terminal.
 */
import { syscallName } from '../../syscalls/table.ts';
import { printable } from '../terminal-text.ts';
import type { WireReply } from '../wire-reply.ts';
import { decode, text } from './codec.ts';
import type { TapeEvent } from './events.ts';

/** Where a replay left the recording: call `at` (1-based; 0 before the first), each side in words. */
export interface Divergence {
  readonly at: number;
  readonly recorded: string;
  readonly replayed: string;
}

const LONG = 160;

function short(value: string): string {
  return value.length <= LONG ? value : `${value.slice(0, LONG)}… (${value.length} characters)`;
}

/** said is text the tape or the program chose, escaped and cut to a readable length. */
const said = (value: string): string => short(printable(value));

/** describeEvent says what the recording has at a point, for a divergence. */
export function describeEvent(event: TapeEvent | undefined): string {
  if (event === undefined) return 'nothing more (the recorded run had ended)';
  switch (event.k) {
    case 'c':
      return `call #${event.n} ${syscallName(decode(event.s))}(${short(JSON.stringify(event.a))})${event.m === 'a' ? ' async' : ''}`;
    case 'b':
      return `completions of calls ${event.c.map((c) => `#id ${c.id}`).join(', ')}`;
    case 'g':
      return `signals ${event.s.join(', ')} delivered`;
    case 't':
      return 'a read of the clock';
    case 'o':
      return `output ${describeOutput(event.f, decode(event.d) as Uint8Array)}`;
    case 'd':
      return `a decision on a call of child pid ${event.p}`;
    case 'cut':
      return `the end of the tape (${said(event.why)})`;
    case 'x':
      return `the end of the run (status ${event.status}, ${said(event.reason)})`;
  }
}

/** describeOutput says what was written to fd 1 or 2, as JSON text (a terminal's escapes in it are not run). */
export function describeOutput(fd: 1 | 2, bytes: Uint8Array): string {
  return `to fd ${fd}: ${short(JSON.stringify(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')))}`;
}

export function describeCall(n: number, mode: 'blocking' | 'async', nr: unknown, args: readonly unknown[]): string {
  return `call #${n} ${syscallName(nr)}(${short(text(args))})${mode === 'async' ? ' async' : ''}`;
}

/** sameAnswer: the live kernel answered as the recording says (signals aside: the replay sends none). */
export function sameAnswer(live: WireReply, recorded: WireReply): boolean {
  if (live.t !== recorded.t) return false;
  if (live.t === 'value' && recorded.t === 'value') return text(live.v) === text(recorded.v);
  if (live.t === 'fault' && recorded.t === 'fault') return live.errno === recorded.errno;
  return text(live) === text(recorded);
}

export function describeReply(reply: WireReply): string {
  return reply.t === 'value' ? `value ${short(text(reply.v))}` : reply.t === 'fault' ? `${said(reply.errno)} (${said(reply.message)})` : reply.t;
}
