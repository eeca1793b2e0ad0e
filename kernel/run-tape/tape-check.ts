/**
 * What a run's tape must be, line by line (events.ts has the format): the
 * header's fields, each event's kind and fields, calls numbered 1, 2, …
 * with a reply each, replies that are wire replies of their call's form and
 * come in call order, signal names the kernel knows, decisions only from
 * version 2 on, one end, last. The same rules for readTape's check and for
 * the cursor that reads the tape again as it is replayed.
 */
import { isAbsolute } from 'node:path';
import { SIGNALS } from '../../signals/signal-table.ts';
import { inLimitRange, LIMIT_BOUNDS, limitRange, type ProcessLimits } from '../limits.ts';
import { nestedPast } from '../nesting.ts';
import { printable } from '../terminal-text.ts';
import { TAPE_FORMAT, TAPE_VERSIONS } from './events.ts';

export type Json = Record<string, unknown>;

export const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 1;
const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isSignal = (v: unknown): v is string => typeof v === 'string' && Object.hasOwn(SIGNALS, v);
const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');
/** shown is a bad value as a problem quotes it: as JSON (text quoted), escaped (it goes to a terminal) and cut short. */
function shown(v: unknown): string {
  const t = printable(JSON.stringify(v) ?? String(v));
  return t.length <= 40 ? t : `${t.slice(0, 40)}… (${t.length} characters)`;
}
const isStringMap = (v: unknown): v is Record<string, string> => isObject(v) && Object.values(v).every((s) => typeof s === 'string');

/**
 * limitsProblem says what is wrong with a header's limits, if anything: a
 * name that is no limit (ProcessLimits' names, as the recorder writes them),
 * a value that is no whole number or out of the range a policy's
 * `defaults.limits` may give it (LIMIT_BOUNDS): a replay runs under the
 * header's limits, so an edited one must not give it a 100 GB heap, nor a
 * heap isolated-vm refuses with no word of the tape.
 */
function limitsProblem(limits: unknown): string | undefined {
  if (!isObject(limits)) return 'limits: want names and numbers';
  for (const [name, value] of Object.entries(limits)) {
    const bound = LIMIT_BOUNDS.get(name as keyof ProcessLimits);
    if (bound === undefined) return `limits: ${shown(name)} is not a limit (${[...LIMIT_BOUNDS.keys()].join(', ')})`;
    if (!Number.isSafeInteger(value)) return `limits.${name}: ${shown(value)} is not a whole number`;
    if (!inLimitRange(bound, value)) return `limits.${name}: ${value as number} is out of range: ${limitRange(bound)}, as a policy's defaults.limits.${bound.name}`;
  }
  return undefined;
}

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

/** replyLineProblem says what is wrong with a reply line's reply, time and duration (k r; its call number aside), if anything. */
export function replyLineProblem(e: Json): string | undefined {
  const w = wireProblem(e.r, 'b');
  if (w !== undefined) return `r: ${w}`;
  return isTime(e.t) && (e.d === undefined || isTime(e.d)) ? undefined : 't, d: want a time and a duration';
}

/**
 * The deepest a tape's value may nest: deeper than a recording can be (the recorder writes a value's text by
 * recursion, which ends at a few thousand levels here), so a line nested deeper was edited. An honest tool reply of
 * 1,200 levels was refused at the first bound, 1,000 (a review); the codec decodes any depth.
 */
export const MAX_TAPE_NESTING = 20_000;

export function headerProblem(h: Json): string | undefined {
  if (h.format !== TAPE_FORMAT) return `format: not an agent-kernel run tape (want "${TAPE_FORMAT}")`;
  if (typeof h.version !== 'number' || !TAPE_VERSIONS.includes(h.version)) return `version: ${shown(h.version)} is not one this agent-kernel reads (${TAPE_VERSIONS.join(', ')})`;
  if (!isObject(h.program) || typeof h.program.path !== 'string' || typeof h.program.hash !== 'string') return 'program: want { path, hash }';
  // The recorder writes the path resolved; a relative one (hand-written) would be read from wherever replay-run is started.
  if (!isAbsolute(h.program.path)) return `program.path: ${shown(h.program.path)} is not an absolute path (the recorder writes the program's, resolved)`;
  if (!isStrings(h.argv)) return 'argv: want a list of text';
  if (!isStringMap(h.env)) return 'env: want names and text values';
  if (h.agentId !== undefined && typeof h.agentId !== 'string') return 'agentId: want text';
  const m = h.manifest;
  if (!isObject(m) || (m.labels !== undefined && !isStringMap(m.labels)) || (m.capabilities !== undefined && !isStrings(m.capabilities)) || (m.autonomy !== undefined && typeof m.autonomy !== 'string')) return 'manifest: want { labels, capabilities, autonomy }';
  if (typeof h.policyVersion !== 'string') return 'policyVersion: want text';
  if (!isTime(h.started)) return 'started: want a time';
  const limits = limitsProblem(h.limits);
  if (limits !== undefined) return limits;
  if (h.pid !== undefined && !isCount(h.pid)) return 'pid: want a pid';
  return undefined;
}

/**
 * TapeCheck follows a tape's lines in order and says what is wrong with
 * each (the format above): the same rules for the first reading and for
 * every later one.
 */
export class TapeCheck {
  calls = 0;
  private cut = false;
  private ended = false;
  /** Blocking calls whose reply line has not come, by number, with their line. */
  readonly waiting = new Map<number, number>();
  private readonly version: number;
  /** The call the last reply line answered: replies come in call order (a blocking call blocks its isolate). */
  private replied = 0;

  constructor(version: number) {
    this.version = version;
  }

  problem(e: Json, line: number): string | undefined {
    if (this.ended) return 'an event after the end (x)';
    // A line nested deeper than a recording can be is refused here, naming it (an attacker pass: a reply edited to
    // 100,000 levels overflowed the stack before the seal was compared).
    if (nestedPast(e, MAX_TAPE_NESTING)) return `nested deeper than ${MAX_TAPE_NESTING} levels, deeper than a recording can be (an edited tape)`;
    if (this.cut && e.k !== 'x') return 'an event after the cut (only the end follows it)';
    switch (e.k) {
      case 'c': {
        if (e.n !== this.calls + 1) return `n: call ${shown(e.n)} where call ${this.calls + 1} was due (a gap or an edit)`;
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
        if (typeof e.n !== 'number' || !this.waiting.has(e.n)) return `n: no blocking call ${shown(e.n)} waits for a reply`;
        if (e.n < this.replied) return `n: the reply of call ${e.n} after that of call ${this.replied} (replies come in call order)`;
        const problem = replyLineProblem(e);
        if (problem !== undefined) return problem;
        this.waiting.delete(e.n);
        this.replied = e.n;
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
        if (this.version < 2) return 'k: a tape of version 1 keeps no decisions (d)';
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
        return e.signal === undefined || isSignal(e.signal) ? undefined : `signal: ${shown(e.signal)} is not a signal`;
      default:
        return `k: not an event kind (c, r, b, g, t, o, d, cut, x)`;
    }
  }
}
