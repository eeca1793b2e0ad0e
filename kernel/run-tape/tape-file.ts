/**
 * The tape on disk: TapeWriter appends events as JSON lines (buffered,
 * written a batch at a time on a later turn of the event loop, all of it at
 * close), and stops at a size limit with a `cut` line; readTape reads a tape
 * back, refusing a damaged one with file, line and field.
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { KernelError } from '../../syscalls/errno.ts';
import { POLICY_FILE, TAPE_FILE, TAPE_FORMAT, TAPE_VERSION, type TapeEvent, type TapeHeader } from './events.ts';

/** The most bytes a tape keeps by default (the run goes on past it, unrecorded: replay stops at the cut). */
export const TAPE_LIMIT_BYTES = 256 * 1024 * 1024;
/** Queued text past this is written at once; below it, on a timer (a write a syscall would cost more than the rest of recording it). */
const FLUSH_AT = 1 << 18;
const FLUSH_MS = 20;

/** A line still to be written: a call whose reply has not come (it holds back the lines after it). */
export interface TapeSlot {
  /** fill gives the call's line (JSON of a CallEvent, without the newline). */
  fill(line: string): void;
}

type Queued = string | { line: string | undefined; readonly head: string };

/** The reply kept for a call the run ended during. */
const INTERRUPTED = JSON.stringify({ t: 'fault', errno: 'EINTR', message: 'the run ended during the call' });

export class TapeWriter {
  readonly dir: string;
  private readonly fd: number;
  private readonly limit: number;
  /** Lines not yet written, each a JSON value; an unfilled slot holds back those after it. */
  private queue: Queued[] = [];
  private bytes = 0;
  private cut = false;
  private closed = false;
  private scheduled = false;
  /** Characters queued since the last flush. */
  private queued = 0;

  /** TapeWriter makes DIR (new, or without a tape) with the policy's text; start() writes the header. EEXIST if DIR holds a tape. */
  constructor(dir: string, policySource: string, limitBytes: number = TAPE_LIMIT_BYTES) {
    this.dir = dir;
    this.limit = limitBytes;
    mkdirSync(dir, { recursive: true });
    try {
      this.fd = openSync(join(dir, TAPE_FILE), 'wx');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new KernelError('EEXIST', `${dir} already holds a recorded run (${TAPE_FILE}); record into a new directory`);
      throw err;
    }
    writeFileSync(join(dir, POLICY_FILE), policySource);
  }

  /** start writes the header: the first line, before any event. */
  start(header: TapeHeader): void {
    this.write(`${JSON.stringify(header)}\n`);
  }

  /** push appends an event. */
  push(event: TapeEvent): void {
    if (this.cut || this.closed) return;
    const line = JSON.stringify(event);
    this.queue.push(line);
    this.added(line.length);
  }

  /** hold keeps a place for a call whose line (`head`, then its reply) comes when its reply does; if the run ends first, as interrupted. */
  hold(head: string): TapeSlot {
    const slot = { line: undefined as string | undefined, head };
    if (!this.cut && !this.closed) this.queue.push(slot);
    return {
      fill: (line) => {
        slot.line = line;
        this.added(line.length);
      },
    };
  }

  /** added counts queued text: written at once past FLUSH_AT, else FLUSH_MS later. */
  private added(chars: number): void {
    this.queued += chars;
    if (this.queued >= FLUSH_AT) {
      this.flush();
      return;
    }
    if (this.scheduled) return;
    this.scheduled = true;
    setTimeout(() => {
      this.scheduled = false;
      this.flush();
    }, FLUSH_MS).unref();
  }

  /** flush writes every line up to the first call still waiting for its reply. */
  flush(): void {
    if (this.closed) return;
    this.queued = 0;
    let text = '';
    let at = 0;
    for (; at < this.queue.length; at++) {
      const queued = this.queue[at]!;
      const line = typeof queued === 'string' ? queued : queued.line;
      if (line === undefined) break;
      if (this.bytes + text.length + line.length + 1 > this.limit) {
        text += `${JSON.stringify({ k: 'cut', why: `the tape reached its limit of ${this.limit} bytes` })}\n`;
        this.cut = true;
        break;
      }
      text += `${line}\n`;
      if (text.length >= FLUSH_AT) {
        this.write(text);
        text = '';
      }
    }
    this.queue = this.cut ? [] : at === this.queue.length ? [] : this.queue.slice(at);
    if (text !== '') this.write(text);
  }

  private write(text: string): void {
    const buf = Buffer.from(text);
    let off = 0;
    while (off < buf.length) off += writeSync(this.fd, buf, off);
    this.bytes += buf.length;
  }

  /** close writes the end (and whatever is queued: a call still waiting as its fallback) and closes the file. */
  close(end: TapeEvent): void {
    if (this.closed) return;
    for (const q of this.queue) if (typeof q !== 'string' && q.line === undefined) q.line = `${q.head}${INTERRUPTED},"t":${Date.now()}}`;
    this.flush();
    this.write(`${JSON.stringify(end)}\n`);
    this.closed = true;
    closeSync(this.fd);
  }

  /** discard removes a tape whose run never started. */
  discard(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
    rmSync(join(this.dir, TAPE_FILE), { force: true });
    rmSync(join(this.dir, POLICY_FILE), { force: true });
  }
}

export interface Tape {
  readonly dir: string;
  readonly header: TapeHeader;
  readonly policySource: string;
  readonly events: readonly TapeEvent[];
}

const KINDS: ReadonlySet<string> = new Set(['c', 'b', 'g', 't', 'o', 'cut', 'x']);

/** readTape reads DIR's tape. EINVAL naming file, line and field for anything that is not one; ENOENT for a missing tape. */
export function readTape(dir: string): Tape {
  const file = join(dir, TAPE_FILE);
  let text: string;
  let policySource: string;
  try {
    text = readFileSync(file, 'utf8');
    policySource = readFileSync(join(dir, POLICY_FILE), 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new KernelError('ENOENT', `${dir}: not a recorded run (no ${TAPE_FILE} or ${POLICY_FILE}; record one with agentctl run --record ${dir} PROGRAM)`);
    throw err;
  }
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const bad = (line: number, what: string): never => {
    throw new KernelError('EINVAL', `${file}:${line}: ${what}`);
  };
  const parse = (line: number): unknown => {
    try {
      return JSON.parse(lines[line - 1]!);
    } catch {
      return bad(line, 'not a JSON value (a torn or edited tape)');
    }
  };
  if (lines.length === 0) bad(1, 'empty: no header');
  const header = parse(1) as Partial<TapeHeader> | null;
  if (header === null || typeof header !== 'object' || header.format !== TAPE_FORMAT) bad(1, `format: not an agent-kernel run tape (want "${TAPE_FORMAT}")`);
  if (header!.version !== TAPE_VERSION) bad(1, `version: ${String(header!.version)} is not one this agent-kernel reads (${TAPE_VERSION})`);
  if (typeof header!.program?.path !== 'string') bad(1, 'program.path: missing');
  const events: TapeEvent[] = [];
  let calls = 0;
  for (let line = 2; line <= lines.length; line++) {
    const event = parse(line) as { k?: unknown; n?: unknown; r?: unknown } | null;
    if (event === null || typeof event !== 'object' || typeof event.k !== 'string' || !KINDS.has(event.k)) bad(line, `k: not an event kind (${[...KINDS].join(', ')})`);
    if (event!.k === 'c') {
      if (event!.n !== ++calls) bad(line, `n: call ${String(event!.n)} where call ${calls} was due (a gap or an edit)`);
      if (event!.r === undefined) bad(line, 'r: a call without its reply');
    }
    events.push(event as TapeEvent);
  }
  const last = events.at(-1);
  if (last === undefined || last.k !== 'x') bad(lines.length, 'the tape does not end with the run\'s end (the recording stopped short: was agentctl killed?)');
  return { dir, header: header as TapeHeader, policySource, events };
}
