/**
 * readTape reads a recorded run back (DIR/tape.jsonl and DIR/policy.yaml)
 * and checks every line against the tape's format before anything replays
 * it: the header's fields, each event's kind and fields, calls numbered 1,
 * 2, … with a reply each (a reply line merged into its waiting call),
 * replies that are wire replies of their call's form, signal names the
 * kernel knows, one end, last. Anything else is refused with file, line and
 * field (EINVAL); a missing tape with ENOENT.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SIGNALS } from '../../signals/signal-table.ts';
import { KernelError } from '../../abi/errno.ts';
import type { Encoded } from './codec.ts';
import { POLICY_FILE, TAPE_FILE, TAPE_FORMAT, TAPE_VERSION, type CallEvent, type TapeEvent, type TapeHeader } from './events.ts';

export interface Tape {
  readonly dir: string;
  readonly header: TapeHeader;
  readonly policySource: string;
  readonly events: readonly TapeEvent[];
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
  if (h.version !== TAPE_VERSION) return `version: ${String(h.version)} is not one this agent-kernel reads (${TAPE_VERSION})`;
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

/** readTape reads DIR's tape (see above). */
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
  const header = parse(1);
  if (!isObject(header)) return bad(1, 'not a header');
  const wrong = headerProblem(header);
  if (wrong !== undefined) bad(1, wrong);
  const events: TapeEvent[] = [];
  /** Blocking calls whose reply line has not come, by number. */
  const waiting = new Map<number, { event: CallEvent & { r?: Encoded }; line: number }>();
  let calls = 0;
  let cut = false;
  for (let line = 2; line <= lines.length; line++) {
    const e = parse(line);
    if (!isObject(e)) return bad(line, 'not an event');
    if (events.at(-1)?.k === 'x') bad(line, 'an event after the end (x)');
    if (cut && e.k !== 'x') bad(line, 'an event after the cut (only the end follows it)');
    const problem = ((): string | undefined => {
      switch (e.k) {
        case 'c': {
          if (e.n !== calls + 1) return `n: call ${String(e.n)} where call ${calls + 1} was due (a gap or an edit)`;
          calls++;
          if (e.m !== 'b' && e.m !== 'a') return 'm: want b (blocking) or a (asynchronous)';
          if (e.m === 'a' && !Number.isSafeInteger(e.f)) return 'f: an asynchronous call\'s flags, want a whole number';
          if (!Number.isSafeInteger(e.s)) return 's: want a syscall number';
          if (!Array.isArray(e.a)) return 'a: want the arguments, a list';
          if (e.d !== undefined && !isTime(e.d)) return 'd: want a duration';
          if (e.r === undefined) {
            if (e.m !== 'b') return 'r: an asynchronous call without its reply';
            waiting.set(calls, { event: e as unknown as CallEvent, line });
            return undefined;
          }
          if (!isTime(e.t)) return 't: want a time';
          const w = wireProblem(e.r, e.m);
          return w === undefined ? undefined : `r: ${w}`;
        }
        case 'r': {
          const held = typeof e.n === 'number' ? waiting.get(e.n) : undefined;
          if (held === undefined) return `n: no blocking call ${String(e.n)} waits for a reply`;
          const w = wireProblem(e.r, 'b');
          if (w !== undefined) return `r: ${w}`;
          if (!isTime(e.t) || (e.d !== undefined && !isTime(e.d))) return 't, d: want a time and a duration';
          waiting.delete(e.n as number);
          Object.assign(held.event, { r: e.r, t: e.t, ...(e.d !== undefined ? { d: e.d } : {}) });
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
        case 'cut':
          cut = true;
          return typeof e.why === 'string' ? undefined : 'why: want text';
        case 'x':
          if (!Number.isInteger(e.status) || (e.status as number) < 0 || (e.status as number) > 255) return 'status: want 0 to 255';
          if (typeof e.reason !== 'string') return 'reason: want text';
          return e.signal === undefined || isSignal(e.signal) ? undefined : `signal: ${String(e.signal)} is not a signal`;
        default:
          return `k: not an event kind (c, r, b, g, t, o, cut, x)`;
      }
    })();
    if (problem !== undefined) bad(line, problem);
    if (e.k !== 'r') events.push(e as unknown as TapeEvent);
  }
  const [first] = waiting.values();
  if (first !== undefined) bad(first.line, `r: call ${first.event.n} has no reply`);
  if (events.at(-1)?.k !== 'x') bad(lines.length, 'the tape does not end with the run\'s end (the recording stopped short: was agentctl killed?)');
  return { dir, header: header as unknown as TapeHeader, policySource, events };
}
