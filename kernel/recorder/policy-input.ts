/**
 * What a decision record keeps of the question the policy was asked, so
 * that `agentctl replay` can ask a candidate policy the same question: the
 * record's `req` field. The agent, syscall, access and path are the
 * record's own fields; `req` adds the rest of what rules match on.
 *
 * Kept in the clear: the agent's labels and capabilities, its lineage, the
 * tool, the guarded flows, its trust score and the LLM tokens it had used
 * when it asked, and each argument whose text is at most CLEAR_VALUE_CHARS
 * characters, up to CLEAR_TOTAL_CHARS for the record (names included).
 * Kept only in the record's `args` digest (their names listed in
 * `withheld`): byte arguments (file contents, always), longer values, and
 * arguments past the record's total. Names count against the same total: an
 * argument whose name no longer fits is counted in `unnamed` instead, so no
 * argument list an agent sends makes `req` longer than about
 * CLEAR_TOTAL_CHARS plus one value. A rule that matches on a withheld
 * argument (or on any argument not kept, when some are unnamed) cannot be
 * re-decided from the log; replay says so for every record it concerns.
 */
import { nestedPast } from '../nesting.ts';
import type { PolicyRequest } from '../../abi/policy-request.ts';

/** An argument whose text (a string as it is, anything else as JSON) is longer than this stays a digest. */
export const CLEAR_VALUE_CHARS = 1024;
/** Arguments past this many characters of text in one record stay digests. */
export const CLEAR_TOTAL_CHARS = 4096;

/** PolicyInput is a record's `req`: absent fields take their usual value (no labels, no capabilities, root, trust 1000, no tokens). */
export interface PolicyInput {
  labels?: Readonly<Record<string, string>>;
  caps?: readonly string[];
  lineage?: 'child';
  tool?: string;
  flows?: readonly string[];
  trust?: number;
  tokens?: number;
  /** The agent was at autonomy supervised and the call is a change: an allow of it was a question (kernel/autonomy.ts). */
  supervised?: true;
  args?: Readonly<Record<string, unknown>>;
  withheld?: readonly string[];
  /** How many withheld arguments past the record's total are not even named. */
  unnamed?: number;
}

/** Capability lists as recorded, per set: an agent's set is made once and asked about on every call. */
const capsOf = new WeakMap<ReadonlySet<string>, readonly string[]>();

function capsList(set: ReadonlySet<string> | undefined): readonly string[] | undefined {
  if (set === undefined || set.size === 0) return undefined;
  let list = capsOf.get(set);
  if (list === undefined) capsOf.set(set, (list = [...set]));
  return list;
}

/**
 * Labels as recorded, per labels object. The kernel's are frozen and have no
 * prototype (kernel/capabilities.ts Identity), which JSON.stringify writes
 * off its fast path: ~0.6 µs more a decision record (bench/_scr, 2026-12-07).
 * A frozen object of string values cannot change, so a plain copy of it is
 * made once and serialises to the same text.
 */
const labelsOf = new WeakMap<object, Readonly<Record<string, string>>>();

function labelsKept(labels: Readonly<Record<string, string>>): Readonly<Record<string, string>> {
  if (Object.getPrototypeOf(labels) === Object.prototype || !Object.isFrozen(labels)) return labels;
  let plain = labelsOf.get(labels);
  if (plain === undefined) labelsOf.set(labels, (plain = plainCopy(labels)));
  return plain;
}

/** plainCopy is a frozen plain object with the labels' own enumerable string values, or the labels themselves when one is anything else (a getter, an object). */
function plainCopy(labels: Readonly<Record<string, string>>): Readonly<Record<string, string>> {
  const copy: Record<string, string> = {};
  for (const key of Object.keys(labels)) {
    const held = Object.getOwnPropertyDescriptor(labels, key)!;
    if (!('value' in held) || typeof held.value !== 'string') return labels;
    if (key === '__proto__') Object.defineProperty(copy, key, { value: held.value, enumerable: true, writable: true, configurable: true });
    else copy[key] = held.value;
  }
  return Object.freeze(copy);
}

function hasAny(record: Readonly<Record<string, unknown>> | undefined): boolean {
  for (const _ in record) return true;
  return false;
}

/**
 * longerThan says whether the JSON text of `value` is longer than `limit`
 * characters, from a lower bound of it (each value at least one character, a
 * string its length and quotes, a key its length, quotes and colon) that
 * stops growing once past the limit: a structure of any size costs about
 * `limit` steps to rule out, not a serialisation of all of it.
 */
function longerThan(value: object, limit: number): boolean {
  let chars = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    chars += typeof v === 'string' ? v.length + 2 : 1;
    if (chars > limit) return true;
    if (v === null || typeof v !== 'object') continue;
    if (Array.isArray(v)) {
      for (const item of v as unknown[]) {
        stack.push(item);
        if (stack.length > limit) return true;
      }
      continue;
    }
    for (const key in v) {
      const item = (v as Record<string, unknown>)[key];
      // JSON leaves out what it cannot write (undefined, functions, symbols): no characters to count.
      if (item === undefined || typeof item === 'function' || typeof item === 'symbol') continue;
      chars += key.length + 3;
      if (chars > limit) return true;
      stack.push(item);
    }
  }
  return false;
}

/**
 * clearChars is how many characters of the record an argument takes in the
 * clear (a string's length, anything else's JSON text), or undefined when it
 * is kept only as a digest: bytes, always, and anything longer than
 * CLEAR_VALUE_CHARS. A structure past the limit is found without serialising
 * it (the argument digest already does, once).
 */
function clearChars(value: unknown): number | undefined {
  if (value instanceof Uint8Array) return undefined;
  if (typeof value === 'string') return value.length <= CLEAR_VALUE_CHARS ? value.length : undefined;
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return 8;
  if (typeof value === 'object' && longerThan(value, CLEAR_VALUE_CHARS)) return undefined;
  const chars = (JSON.stringify(value) ?? '').length;
  return chars <= CLEAR_VALUE_CHARS ? chars : undefined;
}

/** policyInput is what a record keeps of `request` beyond its own fields (see the module comment). */
export function policyInput(request: PolicyRequest): PolicyInput {
  const tokens = request.tokens ?? 0;
  let args: Record<string, unknown> | undefined;
  let withheld: string[] | undefined;
  let unnamed = 0;
  let total = 0;
  const given = request.args;
  for (const key in given) {
    const value = given[key];
    // A name takes its length and quotes; past the total even the name is left out (counted in `unnamed`).
    const name = key.length + 3;
    const chars = clearChars(value);
    if (chars === undefined || total + name + chars > CLEAR_TOTAL_CHARS) {
      if (total + name > CLEAR_TOTAL_CHARS) unnamed++;
      else {
        total += name;
        (withheld ??= []).push(key);
      }
      continue;
    }
    total += name + chars;
    // A plain object (JSON.stringify writes a null-prototype one at half the speed); an argument named __proto__ is defined, so it stays an argument.
    args ??= {};
    if (key === '__proto__') Object.defineProperty(args, key, { value, enumerable: true, writable: true, configurable: true });
    else args[key] = value;
  }
  const caps = capsList(request.capabilities);
  // Fields set one by one in the order they are written (one object, not one per field spread in).
  const input: { -readonly [K in keyof PolicyInput]: PolicyInput[K] } = {};
  if (hasAny(request.labels)) input.labels = labelsKept(request.labels!);
  if (caps !== undefined) input.caps = caps;
  if (request.lineage === 'child') input.lineage = 'child';
  if (request.tool !== undefined) input.tool = request.tool;
  if (request.flows !== undefined && request.flows.length > 0) input.flows = request.flows;
  if (request.trust !== undefined && request.trust !== 1000) input.trust = request.trust;
  if (tokens > 0) input.tokens = tokens;
  if (request.supervised === true) input.supervised = true;
  if (args !== undefined) input.args = args;
  if (withheld !== undefined) input.withheld = withheld;
  if (unnamed > 0) input.unnamed = unnamed;
  return input;
}

/** RecordedQuestion is a request rebuilt from a record, with what the record could not keep. */
export interface RecordedQuestion {
  readonly request: PolicyRequest;
  /** LLM tokens the agent had used when it asked. */
  readonly tokens: number;
  /** Arguments kept only as a digest. */
  readonly withheld: readonly string[];
  /** Arguments kept only as a digest and not named: any argument not in the request's args may be one. */
  readonly unnamed: number;
}

/** The deepest a recorded request's arguments nest: /v1/evaluate's bodies nest at most 64 (json-body.ts), syscall arguments less. */
const MAX_ARGS_NESTING = 64;

/** InputError is a record whose `req` is not one this module wrote: `field` names what is wrong. */
export class InputError extends Error {
  readonly field: string;
  constructor(field: string, why: string) {
    super(`${field} ${why}`);
    this.name = 'InputError';
    this.field = field;
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function isStringList(v: unknown): v is string[] {
  if (!Array.isArray(v)) return false;
  for (const s of v as unknown[]) if (typeof s !== 'string') return false;
  return true;
}

function isStringRecord(v: unknown): v is Record<string, string> {
  if (!isRecord(v)) return false;
  for (const key in v) if (typeof v[key] !== 'string') return false;
  return true;
}

/** The fields of a decision record the question is rebuilt from. */
export interface AskedFields {
  readonly agent: unknown;
  readonly syscall: unknown;
  readonly access: unknown;
  readonly path?: unknown;
  readonly req: unknown;
}

/**
 * questionOf rebuilds the question a record's decision answered.
 * `capabilities` interns capability sets (one per distinct list). InputError
 * naming the field when the record does not hold a question.
 */
export function questionOf(record: AskedFields, capabilities: (list: readonly string[]) => ReadonlySet<string>): RecordedQuestion {
  const { agent, syscall, access, path, req } = record;
  if (typeof agent !== 'string') throw new InputError('agent', 'is not a string');
  if (typeof syscall !== 'string') throw new InputError('syscall', 'is not a string');
  if (access !== 'read' && access !== 'write' && access !== 'none') throw new InputError('access', 'is not read, write or none');
  if (path !== undefined && typeof path !== 'string') throw new InputError('path', 'is not a string');
  if (!isRecord(req)) throw new InputError('req', 'is not an object');
  const { labels, caps, lineage, tool, flows, trust, tokens, supervised, args, withheld, unnamed } = req;
  if (labels !== undefined && !isStringRecord(labels)) throw new InputError('req.labels', 'is not an object of strings');
  if (caps !== undefined && !isStringList(caps)) throw new InputError('req.caps', 'is not a list of strings');
  if (lineage !== undefined && lineage !== 'child') throw new InputError('req.lineage', "is not 'child'");
  if (tool !== undefined && typeof tool !== 'string') throw new InputError('req.tool', 'is not a string');
  if (flows !== undefined && !isStringList(flows)) throw new InputError('req.flows', 'is not a list of strings');
  if (trust !== undefined && !(typeof trust === 'number' && Number.isFinite(trust))) throw new InputError('req.trust', 'is not a number');
  if (tokens !== undefined && !(typeof tokens === 'number' && Number.isFinite(tokens) && tokens >= 0)) throw new InputError('req.tokens', 'is not a count');
  if (args !== undefined && !isRecord(args)) throw new InputError('req.args', 'is not an object');
  // The policy's matchers read an argument by recursion (JSON.stringify): an edited record nested deeper than any
  // request the kernel records is refused, naming its field (an attacker pass: a stack overflow named no line).
  if (args !== undefined && nestedPast(args, MAX_ARGS_NESTING)) throw new InputError('req.args', `is nested deeper than ${MAX_ARGS_NESTING} (no recorded request is)`);
  if (withheld !== undefined && !isStringList(withheld)) throw new InputError('req.withheld', 'is not a list of strings');
  if (unnamed !== undefined && !(typeof unnamed === 'number' && Number.isSafeInteger(unnamed) && unnamed > 0)) throw new InputError('req.unnamed', 'is not a count');
  if (supervised !== undefined && supervised !== true) throw new InputError('req.supervised', 'is not true');
  // One shape for every rebuilt request (absent fields undefined), so that the engine's reads of it stay monomorphic.
  const request: PolicyRequest = {
    agentId: agent,
    syscall,
    access,
    path,
    labels,
    capabilities: capabilities(caps ?? []),
    lineage: lineage ?? 'root',
    tool,
    args: args ?? {},
    flows,
    trust: trust ?? 1000,
    supervised,
  };
  return { request, tokens: tokens ?? 0, withheld: withheld ?? [], unnamed: unnamed ?? 0 };
}
