/**
 * decisionLine reads a syscall decision record as the recorder writes it
 * (chain.ts sealRecord: `{"seq":N,"time":N,"type":"syscall","pid":N,
 * "agent":"…","syscall":"…","access":"…"[,"path":"…"][,"args":"…"]
 * [,"req":{…}],"decision":"…","rule":"…",…}`) without parsing what replay
 * never reads: of the whole line only `req` goes through JSON.parse, the
 * other fields are cut out where the recorder puts them. That halves what a
 * record costs a replay (JSON.parse of the whole line was ~45% of it).
 *
 * Any line not exactly in that shape is undefined, and the caller parses it
 * in full as before. What this reader does not look at (reason, policy, a
 * field repeated later in the line) is what `agentctl audit verify`, and
 * `replay --verify`, check: a replay does not recompute hashes either.
 */
import type { LogRecord } from './replay.ts';

/** A record as replay reads it: one shape for every decision line, so that the replayer's reads stay monomorphic. */
interface DecisionLine {
  readonly seq: number;
  readonly time: number;
  readonly type: 'syscall';
  readonly pid: number;
  readonly agent: string;
  readonly syscall: string;
  readonly access: string;
  readonly path: string | undefined;
  readonly req: unknown;
  readonly decision: string;
  readonly rule: string;
}

/** The end of the JSON string that opens at `at` (the index of its closing quote), or -1. */
function stringEnd(text: string, at: number): number {
  let end = text.indexOf('"', at + 1);
  // A quote inside the string is escaped: the string ends at the first quote after an even run of backslashes.
  while (end >= 0) {
    let slashes = 0;
    while (text.charCodeAt(end - 1 - slashes) === 0x5c) slashes++;
    if (slashes % 2 === 0) return end;
    end = text.indexOf('"', end + 1);
  }
  return -1;
}

/** A reader over one line: each step checks the text it expects, or the reader fails (`ok` false). */
class Cursor {
  at: number;
  ok = true;
  private readonly text: string;

  constructor(text: string, at: number) {
    this.text = text;
    this.at = at;
  }

  /** has says whether `key` (`,"name":`) comes next, and steps over it. */
  has(key: string): boolean {
    if (!this.ok || !this.text.startsWith(key, this.at)) return false;
    this.at += key.length;
    return true;
  }

  /** int reads an integer after `key`. */
  int(key: string): number {
    if (!this.has(key)) return (this.ok = false), 0;
    const from = this.at;
    let i = from;
    if (this.text.charCodeAt(i) === 0x2d) i++;
    const digits = i;
    while (i < this.text.length && this.text.charCodeAt(i) >= 0x30 && this.text.charCodeAt(i) <= 0x39) i++;
    const value = Number(this.text.slice(from, i));
    if (i === digits || i - digits > 16 || !Number.isSafeInteger(value)) return (this.ok = false), 0;
    this.at = i;
    return value;
  }

  /** str reads a string after `key` (escapes decoded as JSON decodes them). */
  str(key: string): string {
    if (!this.has(key) || this.text.charCodeAt(this.at) !== 0x22) return (this.ok = false), '';
    const end = stringEnd(this.text, this.at);
    if (end < 0) return (this.ok = false), '';
    const raw = this.text.slice(this.at + 1, end);
    const from = this.at;
    this.at = end + 1;
    if (!raw.includes('\\')) return raw;
    try {
      return JSON.parse(this.text.slice(from, end + 1)) as string;
    } catch {
      return (this.ok = false), '';
    }
  }
}

/** The top-level field after `req`. */
const DECISION = ',"decision":"';

/** How many places of DECISION inside `req` (an argument of that name) are tried before the line is parsed in full. */
const MAX_TRIES = 4;

/**
 * reqEnd parses the object that starts at `from` and ends where DECISION
 * follows it: its value and end, or undefined. DECISION can occur inside it
 * only as a key of a nested object, and text cut there is never a whole
 * JSON object, so the first cut that parses is the object.
 */
function reqAt(text: string, from: number): { value: unknown; end: number } | undefined {
  let end = text.indexOf(DECISION, from);
  for (let tries = 0; end > from && tries < MAX_TRIES; tries++) {
    try {
      return { value: JSON.parse(text.slice(from, end)), end };
    } catch {
      end = text.indexOf(DECISION, end + 1);
    }
  }
  return undefined;
}

/** decisionLine is the syscall record on `text`, seq `seq`, whose time field starts at `timeAt` (right after seq); undefined when the line is in any other shape. */
export function decisionLine(text: string, seq: number, timeAt: number): LogRecord | undefined {
  const c = new Cursor(text, timeAt);
  const time = c.int(',"time":');
  if (!c.has(',"type":"syscall"')) return undefined;
  const pid = c.int(',"pid":');
  const agent = c.str(',"agent":');
  const syscall = c.str(',"syscall":');
  const access = c.str(',"access":');
  const path = text.startsWith(',"path":', c.at) ? c.str(',"path":') : undefined;
  if (text.startsWith(',"args":', c.at)) c.str(',"args":');
  if (!c.ok) return undefined;
  let req: unknown;
  if (c.has(',"req":')) {
    const found = reqAt(text, c.at);
    if (found === undefined) return undefined;
    req = found.value;
    c.at = found.end;
  }
  const decision = c.str(',"decision":');
  const rule = c.str(',"rule":');
  if (!c.ok || (text.charCodeAt(c.at) !== 0x2c && text.charCodeAt(c.at) !== 0x7d)) return undefined;
  const record: DecisionLine = { seq, time, type: 'syscall', pid, agent, syscall, access, path, req, decision, rule };
  return record as unknown as LogRecord;
}
