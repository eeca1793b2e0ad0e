/**
 * The flight recorder's record format. A record is one JSON line whose keys
 * come in the fixed order of RECORD_KEYS; its `hash` is SHA-256 over the line
 * without the hash (so over its content and the previous record's hash). The
 * verifier rebuilds each line byte for byte, so any edit shows.
 */
import { hash } from 'node:crypto';
import type { DecisionInput } from '../../syscalls/records.ts';
import { policyInput, type PolicyInput } from './policy-input.ts';

export const GENESIS = '0'.repeat(64);

export interface ChainRecord {
  seq: number;
  time: number;
  type: DecisionInput['type'];
  pid: number;
  agent: string;
  syscall?: string;
  access?: string;
  path?: string;
  /** `sha256:<hex>` over the decoded arguments (the data itself is never logged). */
  args?: string;
  /** The rest of the question the policy was asked, for replay: arguments in the clear up to a size, the others withheld (policy-input.ts). */
  req?: PolicyInput;
  decision?: string;
  rule?: string;
  reason?: string;
  policy?: string;
  detail?: string;
  prev: string;
  hash: string;
}

export const RECORD_KEYS = ['seq', 'time', 'type', 'pid', 'agent', 'syscall', 'access', 'path', 'args', 'req', 'decision', 'rule', 'reason', 'policy', 'detail', 'prev'] as const;

const EMPTY_ARGS = `sha256:${hash('sha256', '')}`;

/** Byte arguments up to this size are digested inline (base64) rather than hashed on their own. */
const INLINE_BYTES = 4096;

/**
 * digestArgs hashes decoded syscall arguments into `sha256:<hex>`: one
 * `key=JSON` line per argument, small byte arguments as base64, larger ones
 * by their own SHA-256 (the data itself is never logged).
 */
export function digestArgs(args: Readonly<Record<string, unknown>> | undefined): string {
  if (args === undefined) return EMPTY_ARGS;
  let text = '';
  for (const key in args) {
    const value = args[key];
    const part =
      value instanceof Uint8Array
        ? value.byteLength <= INLINE_BYTES
          ? `bytes:${value.byteLength}:${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64')}`
          : `bytes:${value.byteLength}:sha256:${hash('sha256', value)}`
        : JSON.stringify(value);
    text += text === '' ? `${key}=${part}` : `\n${key}=${part}`;
  }
  return text === '' ? EMPTY_ARGS : `sha256:${hash('sha256', text)}`;
}

/** digestResult says how large a result is and hashes it (`sha256:<hex>`), for an outcome record: the result itself is never logged. */
export function digestResult(result: unknown): string {
  let bytes: Buffer;
  try {
    bytes = result instanceof Uint8Array ? Buffer.from(result.buffer, result.byteOffset, result.byteLength) : Buffer.from(JSON.stringify(result) ?? 'undefined');
  } catch (err) {
    return `a result that cannot be serialised (${err instanceof Error ? err.message.slice(0, 200) : String(err)})`;
  }
  return `${bytes.byteLength} bytes, sha256:${hash('sha256', bytes)}`;
}

/** body serialises a record without its hash (and without the closing brace) in canonical key order. */
export function body(record: Readonly<Record<string, unknown>>): string {
  let out = '';
  for (const key of RECORD_KEYS) {
    const value = record[key];
    if (value === undefined) continue;
    out += `${out === '' ? '{' : ','}"${key}":${typeof value === 'number' ? String(value) : JSON.stringify(value)}`;
  }
  return out === '' ? '{' : out;
}

/** recordOf lays out the record of `fields` at place `seq` after `prev` as one object whose keys are in RECORD_KEYS order, so that V8 serialises it on its fast path. */
export function recordOf(fields: Omit<ChainRecord, 'seq' | 'time' | 'prev' | 'hash'>, seq: number, time: number, prev: string): Omit<ChainRecord, 'hash'> {
  return {
    seq,
    time,
    type: fields.type,
    pid: fields.pid,
    agent: fields.agent,
    syscall: fields.syscall,
    access: fields.access,
    path: fields.path,
    args: fields.args,
    req: fields.req,
    decision: fields.decision,
    rule: fields.rule,
    reason: fields.reason,
    policy: fields.policy,
    detail: fields.detail,
    prev,
  };
}

/** What sealing adds to a record's JSON text: its closing brace becomes `,"hash":"` (9), the hash (64) and `"}\n` (3). */
export const SEAL_ADDS = 75;

/**
 * sealRecord makes the line of a record with `fields` at place `seq` after
 * `prev`: the same bytes as seal(body(…)) (the verifier rebuilds a line as
 * JSON.stringify of its keys in canonical order), from recordOf's object.
 * Returns the record (for live followers), its hash, line and size in bytes.
 */
export function sealRecord(fields: Omit<ChainRecord, 'seq' | 'time' | 'prev' | 'hash'>, seq: number, time: number, prev: string): { record: Omit<ChainRecord, 'hash'>; hash: string; line: string; bytes: number } {
  const record = recordOf(fields, seq, time, prev);
  const json = JSON.stringify(record);
  const sealed = seal(json.slice(0, -1));
  // The line's size as written (UTF-8): measured on the flat JSON text, not on the line, which is a string built of
  // parts that measuring would first copy into one (~0.5 µs a record). The line is that text less its closing brace,
  // then `,"hash":"` (9), the hash (64) and `"}\n` (3).
  return { record, hash: sealed.hash, line: sealed.line, bytes: Buffer.byteLength(json, 'utf8') + SEAL_ADDS };
}

/**
 * sealInto writes the sealed line of `json` (a record's JSON text, as
 * sealRecord serialises it) into `out` at `at`: the same bytes as
 * seal(json.slice(0, -1)).line in UTF-8, hashed over the bytes as written
 * rather than over a second conversion of the text. `out` must have room for
 * json.length * 3 + SEAL_ADDS bytes from `at`. Returns the hash and the
 * line's size in bytes.
 */
export function sealInto(json: string, out: Buffer, at: number): { hash: string; bytes: number } {
  const written = out.write(json, at, 'utf8');
  const end = at + written - 1;
  const h = hash('sha256', out.subarray(at, end));
  out.write(`,"hash":"${h}"}\n`, end, 'latin1');
  return { hash: h, bytes: written + SEAL_ADDS };
}

/** seal returns the record's hash and its full line (with newline). */
export function seal(unsealed: string): { hash: string; line: string } {
  const h = hash('sha256', unsealed);
  return { hash: h, line: `${unsealed},"hash":"${h}"}\n` };
}

/** toChainFields maps a recorder input onto record fields (without seq, time, prev, hash). */
export function toChainFields(entry: DecisionInput): Omit<ChainRecord, 'seq' | 'time' | 'prev' | 'hash'> {
  if (entry.type === 'syscall') {
    return {
      type: 'syscall',
      pid: entry.pid,
      agent: entry.agentId,
      syscall: entry.syscall,
      access: entry.access,
      path: entry.path,
      args: digestArgs(entry.args),
      req: entry.asked === undefined ? undefined : policyInput(entry.asked),
      decision: entry.effect,
      rule: entry.rule,
      reason: entry.reason,
      policy: entry.policyVersion,
    };
  }
  if (entry.type === 'outcome') {
    const came = entry.errno === undefined ? `ok, ${digestResult(entry.result)}` : `${entry.errno}${entry.message === undefined ? '' : ` ${entry.message.slice(0, 500)}`}`;
    return { type: 'outcome', pid: entry.pid, agent: entry.agentId, syscall: entry.syscall, detail: `of ${entry.of}: ${came}` };
  }
  return { type: entry.type, pid: entry.pid, agent: entry.agentId, detail: entry.detail, policy: entry.policyVersion };
}
