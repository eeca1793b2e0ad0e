/**
 * readTape reads a recorded run back (DIR/tape.jsonl and DIR/policy.yaml)
 * and checks every line against the tape's format before anything replays
 * it: the header's fields, each event's kind and fields, calls numbered 1,
 * 2, … with a reply each (a reply line merged into its waiting call),
 * replies that are wire replies of their call's form, signal names the
 * kernel knows, one end, last. Anything else is refused with file, line and
 * field (EINVAL); a missing tape with ENOENT.
 *
 * Memory stays flat whatever the tape's size: the check reads the file in
 * chunks and keeps only what a replay needs before it starts (counts, the
 * end, and where each waiting call's reply line is); `events()` then reads
 * the events again, in chunks, one at a time, checking each again (a tape
 * changed in between ends in a `cut` event that says so), and fetches a
 * waiting call's reply from where the check found it.
 */
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { SIGNALS } from '../../signals/signal-table.ts';
import { KernelError } from '../../abi/errno.ts';
import { LineSplitter, readChunks } from '../recorder/line-reader.ts';
import { decode, type Encoded } from './codec.ts';
import { POLICY_FILE, TAPE_FILE, TAPE_FORMAT, TAPE_VERSIONS, type CutEvent, type EndEvent, type TapeEvent, type TapeHeader } from './events.ts';
import { TAPE_LIMIT_BYTES } from './tape-file.ts';

export interface Tape {
  readonly dir: string;
  readonly header: TapeHeader;
  readonly policySource: string;
  /** How many calls the recording holds. */
  readonly calls: number;
  /** The highest id a queued call was given (0: none). */
  readonly lastQueuedId: number;
  /** How the run ended: the tape's last event. */
  readonly end: EndEvent;
  /** The call after which only output (and children's decisions) came before the end (the kernel ended the run during it, when the end has a signal). */
  readonly lastBeforeEnd: number | undefined;
  /** events reads the tape's events from the start, one at a time, reply lines merged into their calls. */
  events(): TapeCursor;
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 1;
const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isSignal = (v: unknown): v is string => typeof v === 'string' && Object.hasOwn(SIGNALS, v);
const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');
const isStringMap = (v: unknown): v is Record<string, string> => isObject(v) && Object.values(v).every((s) => typeof s === 'string');

/** wireProblem says what is wrong with a recorded reply for a call of `mode` ('b', 'a', or 'completion'), if anything. */
function wireProblem(r: unknown, mode: 'b' | 'a' | 'completion'): string | undefined {
  if (!isObject(r)) return 'not a reply';
  if (r.sig !== undefined && !(Array.isArray(r.sig) && r.sig.every(isSignal))) return 'sig: not a list of signal names';
  switch (r.t) {
    case 'value':
      // v may be absent: a call that completes with undefined (a timer).
      return undefined;
    case 'fault':
      return typeof r.errno === 'string' && typeof r.message === 'string' ? undefined : 'errno and message: want text';
    case 'queued':
      return mode !== 'a' ? 'queued: only an asynchronous call is queued' : isCount(r.id) ? undefined : 'id: want a whole number from 1';
    case 'busy':
      return mode !== 'a' ? 'busy: only an asynchronous call is answered busy' : typeof r.why === 'string' ? undefined : 'why: want text';
    default:
      return 't: want value, fault, queued or busy';
  }
}

function headerProblem(h: Json): string | undefined {
  if (h.format !== TAPE_FORMAT) return `format: not an agent-kernel run tape (want "${TAPE_FORMAT}")`;
  if (typeof h.version !== 'number' || !TAPE_VERSIONS.includes(h.version)) return `version: ${String(h.version)} is not one this agent-kernel reads (${TAPE_VERSIONS.join(', ')})`;
  if (!isObject(h.program) || typeof h.program.path !== 'string' || typeof h.program.hash !== 'string') return 'program: want { path, hash }';
  if (!isStrings(h.argv)) return 'argv: want a list of text';
  if (!isStringMap(h.env)) return 'env: want names and text values';
  if (h.agentId !== undefined && typeof h.agentId !== 'string') return 'agentId: want text';
  const m = h.manifest;
  if (!isObject(m) || (m.labels !== undefined && !isStringMap(m.labels)) || (m.capabilities !== undefined && !isStrings(m.capabilities)) || (m.autonomy !== undefined && typeof m.autonomy !== 'string')) return 'manifest: want { labels, capabilities, autonomy }';
  if (typeof h.policyVersion !== 'string') return 'policyVersion: want text';
  if (!isTime(h.started)) return 'started: want a time';
  if (!isObject(h.limits) || !Object.values(h.limits).every((v) => typeof v === 'number' && v >= 0)) return 'limits: want names and numbers';
  return undefined;
}

/** A line the writer cannot have written: past the tape's own limit. */
const MAX_LINE_BYTES = TAPE_LIMIT_BYTES + 1024 * 1024;

/** Where a waiting call's reply line is in the file. */
interface ReplyLine {
  readonly offset: number;
  readonly bytes: number;
  readonly line: number;
}

/**
 * TapeCheck follows a tape's lines in order and says what is wrong with
 * each (the format above): the same rules for the first reading and for
 * every later one.
 */
class TapeCheck {
  calls = 0;
  private cut = false;
  private ended = false;
  /** Blocking calls whose reply line has not come, by number, with their line. */
  readonly waiting = new Map<number, number>();

  problem(e: Json, line: number): string | undefined {
    if (this.ended) return 'an event after the end (x)';
    if (this.cut && e.k !== 'x') return 'an event after the cut (only the end follows it)';
    switch (e.k) {
      case 'c': {
        if (e.n !== this.calls + 1) return `n: call ${String(e.n)} where call ${this.calls + 1} was due (a gap or an edit)`;
        this.calls++;
        if (e.m !== 'b' && e.m !== 'a') return 'm: want b (blocking) or a (asynchronous)';
        if (e.m === 'a' && !Number.isSafeInteger(e.f)) return 'f: an asynchronous call\'s flags, want a whole number';
        if (!Number.isSafeInteger(e.s)) return 's: want a syscall number';
        if (!Array.isArray(e.a)) return 'a: want the arguments, a list';
        if (e.d !== undefined && !isTime(e.d)) return 'd: want a duration';
        if (e.r === undefined) {
          if (e.m !== 'b') return 'r: an asynchronous call without its reply';
          this.waiting.set(this.calls, line);
          return undefined;
        }
        if (!isTime(e.t)) return 't: want a time';
        const w = wireProblem(e.r, e.m);
        return w === undefined ? undefined : `r: ${w}`;
      }
      case 'r': {
        if (typeof e.n !== 'number' || !this.waiting.has(e.n)) return `n: no blocking call ${String(e.n)} waits for a reply`;
        const w = wireProblem(e.r, 'b');
        if (w !== undefined) return `r: ${w}`;
        if (!isTime(e.t) || (e.d !== undefined && !isTime(e.d))) return 't, d: want a time and a duration';
        this.waiting.delete(e.n);
        return undefined;
      }
      case 'b': {
        if (!Array.isArray(e.c)) return 'c: want the completions, a list';
        for (const c of e.c as unknown[]) {
          if (!isObject(c) || !isCount(c.id)) return 'c: each completion wants an id (a whole number from 1)';
          const w = wireProblem(c.r, 'completion');
          if (w !== undefined || (isObject(c.r) && (c.r.t === 'queued' || c.r.t === 'busy'))) return `c: the completion of id ${c.id}: ${w ?? 'a completion is a value or a fault'}`;
          if (c.d !== undefined && !isTime(c.d)) return 'c: d, want a duration';
        }
        return undefined;
      }
      case 'g':
        return Array.isArray(e.s) && e.s.length > 0 && e.s.every(isSignal) ? undefined : 's: want signal names';
      case 't':
        return isTime(e.v) ? undefined : 'v: want a time';
      case 'o':
        return (e.f === 1 || e.f === 2) && isObject(e.d) && typeof e.d.$b === 'string' ? undefined : 'f, d: want fd 1 or 2 and bytes';
      case 'd':
        if (!isCount(e.p) || !isTime(e.t)) return 'p, t: want a pid and a time';
        if (typeof e.agent !== 'string' || typeof e.syscall !== 'string' || typeof e.access !== 'string' || (e.path !== undefined && typeof e.path !== 'string')) return 'agent, syscall, access, path: want text';
        return isObject(e.req) && typeof e.effect === 'string' && typeof e.rule === 'string' ? undefined : 'req, effect, rule: want the question and the decision';
      case 'cut':
        this.cut = true;
        return typeof e.why === 'string' ? undefined : 'why: want text';
      case 'x':
        this.ended = true;
        if (!Number.isInteger(e.status) || (e.status as number) < 0 || (e.status as number) > 255) return 'status: want 0 to 255';
        if (typeof e.reason !== 'string') return 'reason: want text';
        return e.signal === undefined || isSignal(e.signal) ? undefined : `signal: ${String(e.signal)} is not a signal`;
      default:
        return `k: not an event kind (c, r, b, g, t, o, d, cut, x)`;
    }
  }
}

/** eachLine feeds every line of `file` to `take` with its number (from 1) and byte offset; an unterminated last line too. */
function eachLine(file: string, take: (bytes: Buffer, line: number, offset: number) => void): void {
  let line = 0;
  let offset = 0;
  const splitter = new LineSplitter((bytes, kind) => {
    line++;
    if (kind === 'overlong') throw new KernelError('EINVAL', `${file}:${line}: a line longer than any tape holds`);
    take(bytes, line, offset);
    offset += bytes.length + 1;
  }, MAX_LINE_BYTES);
  for (const chunk of readChunks(file)) splitter.push(chunk);
  splitter.end();
}

function parseLine(file: string, bytes: Buffer, line: number): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new KernelError('EINVAL', `${file}:${line}: not a JSON value (a torn or edited tape)`);
  }
}

/** readTape reads DIR's tape (see above). */
export function readTape(dir: string): Tape {
  const file = join(dir, TAPE_FILE);
  let policySource: string;
  try {
    policySource = readFileSync(join(dir, POLICY_FILE), 'utf8');
    closeSync(openSync(file, 'r'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new KernelError('ENOENT', `${dir}: not a recorded run (no ${TAPE_FILE} or ${POLICY_FILE}; record one with agentctl run --record ${dir} PROGRAM)`);
    throw err;
  }
  const bad = (line: number, what: string): never => {
    throw new KernelError('EINVAL', `${file}:${line}: ${what}`);
  };
  let header: TapeHeader | undefined;
  const check = new TapeCheck();
  const replies = new Map<number, ReplyLine>();
  let lines = 0;
  let lastQueuedId = 0;
  let last: Json | undefined;
  let lastBeforeEnd: number | undefined;
  eachLine(file, (bytes, line, offset) => {
    lines = line;
    const e = parseLine(file, bytes, line);
    if (line === 1) {
      if (!isObject(e)) return bad(1, 'not a header');
      const wrong = headerProblem(e);
      if (wrong !== undefined) bad(1, wrong);
      header = e as unknown as TapeHeader;
      return;
    }
    if (!isObject(e)) return bad(line, 'not an event');
    const problem = check.problem(e, line);
    if (problem !== undefined) bad(line, problem);
    if (e.k === 'r') {
      replies.set(e.n as number, { offset, bytes: bytes.length, line });
      return;
    }
    last = e;
    if (e.k === 'c') {
      lastBeforeEnd = e.n as number;
      const reply = e.r === undefined ? undefined : (decode(e.r as Encoded) as { t?: unknown; id?: unknown });
      if (e.m === 'a' && reply?.t === 'queued' && typeof reply.id === 'number') lastQueuedId = Math.max(lastQueuedId, reply.id);
    } else if (e.k !== 'o' && e.k !== 'd' && e.k !== 'x') lastBeforeEnd = undefined;
  });
  if (header === undefined) return bad(1, 'empty: no header');
  const [first] = check.waiting;
  if (first !== undefined) bad(first[1], `r: call ${first[0]} has no reply`);
  if (last?.k !== 'x') bad(lines, 'the tape does not end with the run\'s end (the recording stopped short: was agentctl killed?)');
  return {
    dir,
    header,
    policySource,
    calls: check.calls,
    lastQueuedId,
    end: last as unknown as EndEvent,
    lastBeforeEnd,
    events: () => new TapeCursor(file, replies),
  };
}

/**
 * TapeCursor reads a checked tape's events in order, a chunk of the file at
 * a time: `peek` is the next event, `next` takes it. Each line is checked
 * again as it is read; one that no longer passes (the file changed since
 * readTape) ends the events with a `cut` event saying where and why.
 */
export class TapeCursor implements Iterable<TapeEvent> {
  private readonly file: string;
  private readonly replies: ReadonlyMap<number, ReplyLine>;
  private readonly check = new TapeCheck();
  private readonly chunks: Generator<Buffer, void, void>;
  private readonly splitter: LineSplitter;
  private queue: TapeEvent[] = [];
  private head = 0;
  private line = 0;
  private done = false;
  private broken = false;

  constructor(file: string, replies: ReadonlyMap<number, ReplyLine>) {
    this.file = file;
    this.replies = replies;
    this.chunks = readChunks(file);
    this.splitter = new LineSplitter((bytes, kind) => this.take(bytes, kind), MAX_LINE_BYTES);
  }

  /** peek is the next event (undefined past the last). */
  peek(): TapeEvent | undefined {
    while (this.head === this.queue.length && !this.done) this.fill();
    return this.queue[this.head];
  }

  /** next takes the next event. */
  next(): TapeEvent | undefined {
    const event = this.peek();
    if (event !== undefined) this.head++;
    return event;
  }

  /** close lets go of the file (a reader that stops before the end). */
  close(): void {
    this.done = true;
    this.chunks.return();
  }

  *[Symbol.iterator](): Iterator<TapeEvent> {
    for (let e = this.next(); e !== undefined; e = this.next()) yield e;
  }

  private fill(): void {
    this.queue = [];
    this.head = 0;
    let chunk: IteratorResult<Buffer, void>;
    try {
      chunk = this.chunks.next();
    } catch (err) {
      return this.stop(`the tape could not be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
    if (chunk.done === true) {
      this.splitter.end();
      this.done = true;
    } else this.splitter.push(chunk.value);
  }

  private take(bytes: Buffer, kind: string): void {
    this.line++;
    if (this.broken || this.line === 1) return;
    let e: unknown;
    try {
      e = kind === 'overlong' ? undefined : JSON.parse(bytes.toString('utf8'));
    } catch {
      e = undefined;
    }
    const problem = !isObject(e) ? 'not an event' : this.check.problem(e, this.line);
    if (problem !== undefined) return this.stop(`line ${this.line}: ${problem}`);
    const event = e as Json;
    if (event.k === 'r') return;
    if (event.k === 'c' && event.r === undefined) {
      const reply = this.replyOf(event.n as number);
      if (reply === undefined) return this.stop(`line ${this.line}: call ${String(event.n)}'s reply is no longer where it was`);
      Object.assign(event, { r: reply.r, t: reply.t, ...(reply.d !== undefined ? { d: reply.d } : {}) });
    }
    this.queue.push(event as unknown as TapeEvent);
  }

  /** replyOf reads the reply line of waiting call `n` from where readTape found it, checked again. */
  private replyOf(n: number): Json | undefined {
    const at = this.replies.get(n);
    if (at === undefined) return undefined;
    const bytes = Buffer.allocUnsafe(at.bytes);
    let e: unknown;
    try {
      const fd = openSync(this.file, 'r');
      try {
        if (readSync(fd, bytes, 0, at.bytes, at.offset) !== at.bytes) return undefined;
      } finally {
        closeSync(fd);
      }
      e = JSON.parse(bytes.toString('utf8'));
    } catch {
      return undefined;
    }
    if (!isObject(e) || e.k !== 'r' || e.n !== n || wireProblem(e.r, 'b') !== undefined || !isTime(e.t) || (e.d !== undefined && !isTime(e.d))) return undefined;
    return e;
  }

  /** stop ends the events with a cut that says why (the tape changed since it was checked). */
  private stop(why: string): void {
    this.broken = true;
    this.close();
    const cut: CutEvent = { k: 'cut', why: `${this.file} changed since it was checked: ${why}` };
    this.queue.push(cut);
  }
}
