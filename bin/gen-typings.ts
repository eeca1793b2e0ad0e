/**
 * gen-typings writes userspace/agent.d.ts, the typings agent authors code
 * against, from the tables that define the ABI: SYSCALL_TABLE (names,
 * numbers, argument schemas, notes), ERRNO and SIGNALS; plus RESULTS below
 * and the template in bin/typings-template.ts for what no table holds (reply
 * shapes, the `sys` wrappers of userspace/runtime/sys.js).
 *
 *   node bin/gen-typings.ts           rewrite userspace/agent.d.ts and the README's tables of the ABI
 *   node bin/gen-typings.ts --check   exit 1, with a diff, if either is stale
 *
 * test/typings.test.ts runs the check, so a table change without a
 * regenerated agent.d.ts or README fails the suite (bin/readme-tables.ts
 * makes the README's tables).
 *
 * Schemas are closures, so describeDecoder recovers an argument's type by
 * feeding the decoder probes and reading the EINVAL messages the combinators
 * of syscalls/schema.ts produce; a decoder it cannot recognize stops the
 * generator rather than being typed `unknown`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ERRNO, KernelError } from '../abi/errno.ts';
import type { Decoded, Decoder } from '../syscalls/schema.ts';
import { type AnyRow, SYSCALL_TABLE, type SyscallName } from '../syscalls/table.ts';
import { SIGNAL_NAMES, SIGNALS } from '../signals/signal-table.ts';
import { withTables } from './readme-tables.ts';
import { SYS_TEMPLATE } from './typings-template.ts';

export const TYPINGS_PATH: string = fileURLToPath(new URL('../userspace/agent.d.ts', import.meta.url));
export const README_PATH: string = fileURLToPath(new URL('../README.md', import.meta.url));

/** RESULTS is what each syscall's reply carries (`v`) in ring 3: the handler's result, copied. */
const RESULTS: { readonly [N in SyscallName]: string } = {
  SYS_READ: 'Uint8Array',
  SYS_WRITE: 'number',
  SYS_OPEN: 'number',
  SYS_CLOSE: '0',
  SYS_STAT: 'FileStat',
  SYS_READDIR: 'DirEntry[]',
  SYS_MKDIR: '0',
  SYS_UNLINK: '0',
  SYS_GETPID: 'number',
  SYS_EXIT: '0',
  SYS_EXEC: 'ToolResult',
  SYS_SIGNAL: 'SignalOutcome',
  SYS_CHECKPOLICY: 'PolicyAnswer',
  SYS_SIGACTION: 'CatchableSignal',
  SYS_SIGPROCMASK: 'SignalName[]',
  SYS_SPAWN: 'number',
  SYS_WAIT: 'WaitResult',
  SYS_PIPE: '[number, number]',
  SYS_CHECKPOINT: 'CheckpointInfo',
  SYS_TIMER: 'undefined',
  SYS_CANCEL: 'boolean',
  SYS_RANDOM: 'Uint8Array',
};

type ArgsOf<N extends SyscallName> = Decoded<Extract<AnyRow, { name: N }>['args']>;
/** The fields of each `shape(...)` argument (a shape's keys cannot be probed); typed so the table and this list cannot disagree. */
const SHAPE_FIELDS: Readonly<Record<string, Readonly<Record<string, true>>>> = {
  'SYS_SPAWN.options': { capabilities: true, labels: true, stdin: true, stdout: true, stderr: true } satisfies Record<keyof ArgsOf<'SYS_SPAWN'>['options'], true>,
};

interface ArgType {
  readonly ts: string;
  readonly optional: boolean;
  /** What the type alone does not say: bounds, default. */
  readonly doc: string;
}

/** NOT_DATA fails every combinator's type check, so its message names the combinator. */
const NOT_DATA = (): void => undefined;
const LONG_TEXT = 'x'.repeat((1 << 20) + 1);

/** failure returns the decoder's complaint about `value` (`argument 'x' ` stripped), or undefined if it accepts it. */
function failure(decoder: Decoder<unknown>, value: unknown): string | undefined {
  try {
    decoder(value, 'x');
    return undefined;
  } catch (err) {
    if (!(err instanceof KernelError)) throw err;
    return err.message.replace(/^argument '[^']*' /s, '');
  }
}

const group = (ts: string): string => (/[|&]/.test(ts) ? `(${ts})` : ts);

/** describeDecoder turns one argument decoder into a TypeScript type; `where` (SYS_X.arg) names it in errors and SHAPE_FIELDS. */
export function describeDecoder(decoder: Decoder<unknown>, where: string): ArgType {
  const optional = failure(decoder, undefined) === undefined;
  const fallback = optional ? decoder(undefined, 'x') : undefined;
  const byDefault = optional && fallback !== undefined && !(typeof fallback === 'object' && fallback !== null && Object.keys(fallback).length === 0)
    ? `default ${typeof fallback === 'string' ? `'${fallback}'` : JSON.stringify(fallback)}`
    : '';
  const why = failure(decoder, NOT_DATA) ?? '';
  const notes = (...parts: string[]): string => [...parts, byDefault].filter(Boolean).join(', ');
  const made = (ts: string, ...doc: string[]): ArgType => ({ ts, optional, doc: notes(...doc) });
  if (why === 'must be an integer') {
    const range = /between (-?\d+) and (-?\d+)/.exec(failure(decoder, -Number.MAX_SAFE_INTEGER) ?? '');
    return made('number', range ? `integer ${range[1]}–${range[2]}` : 'integer');
  }
  if (why === 'must be a string') {
    const max = /longer than (\d+)/.exec(failure(decoder, LONG_TEXT) ?? '');
    return made('string', max ? `at most ${max[1]} characters` : '');
  }
  if (why === 'must be a string or a Uint8Array') {
    const max = /larger than (\d+)/.exec(failure(decoder, LONG_TEXT) ?? '');
    return made('string | Uint8Array', max ? `at most ${max[1]} bytes` : '');
  }
  if (why === 'must be a boolean') return made('boolean');
  if (why === 'must be plain JSON data') return made('JsonValue');
  const choices = /^must be one of (.*)$/.exec(why);
  if (choices) {
    const options = (choices[1] as string).split(', ');
    if (options.some((o) => failure(decoder, o) !== undefined)) throw new Error(`gen-typings: cannot split the choices of ${where}: ${why}`);
    return made(options.map((o) => JSON.stringify(o).replaceAll('"', "'")).join(' | '));
  }
  if (why === 'must be an array') {
    const item = describeDecoder((v, n) => (decoder([v], n) as unknown[])[0], `${where}[]`);
    const max = /at most (\d+) items/.exec(failure(decoder, Array.from({ length: 1 << 20 })) ?? '');
    return made(`readonly ${group(item.ts)}[]`, max ? `at most ${max[1]} items` : '', item.doc && `each ${item.doc}`);
  }
  if (why === 'must be a plain object') {
    if (!/has an unknown field/.test(failure(decoder, { '\u0001probe': 1 }) ?? '')) {
      const value = describeDecoder((v, n) => (decoder({ key: v }, n) as Record<string, unknown>)['key'], `${where}{}`);
      return made(`Readonly<Record<string, ${value.ts}>>`);
    }
    const fields = SHAPE_FIELDS[where];
    if (fields === undefined) throw new Error(`gen-typings: ${where} is a shape; list its fields in SHAPE_FIELDS`);
    const members = Object.keys(fields).map((field) => {
      if (failure(decoder, { [field]: undefined }) !== undefined) throw new Error(`gen-typings: ${where} has no field ${field}`);
      const type = describeDecoder((v, n) => (decoder(v === undefined ? {} : { [field]: v }, n) as Record<string, unknown>)[field], `${where}.${field}`);
      return `${field}?: ${type.ts}`;
    });
    return made(`{ ${members.join('; ')} }`);
  }
  throw new Error(`gen-typings: cannot describe the decoder of ${where} (${why || 'it accepts anything'}); teach describeDecoder about it`);
}

/** rowTypes renders a row's arguments as a positional tuple, an object by name and a doc line. */
function rowTypes(row: AnyRow): { tuple: string; named: string; doc: string } {
  const args = row.argNames.map((name) => ({ name, ...describeDecoder((row.args as Record<string, Decoder<unknown>>)[name] as Decoder<unknown>, `${row.name}.${name}`) }));
  const lastRequired = args.findLastIndex((a) => !a.optional);
  const tuple = args.map((a, i) => (a.optional && i > lastRequired ? `${a.name}?: ${a.ts}` : a.optional ? `${a.name}: ${a.ts} | undefined` : `${a.name}: ${a.ts}`));
  const named = args.map((a) => `${a.name}${a.optional ? '?' : ''}: ${a.ts}`);
  const docs = args.filter((a) => a.doc).map((a) => `${a.name}: ${a.doc}`);
  return {
    tuple: `[${tuple.join(', ')}]`,
    named: named.length === 0 ? 'Record<string, never>' : `{ ${named.join('; ')} }`,
    doc: `${row.name}(${row.argNames.join(', ')}): ${row.note}${docs.length > 0 ? `. ${docs.join('; ')}` : ''}`,
  };
}

const union = (names: readonly string[], indent = '  '): string => names.map((n) => `\n${indent}| '${n}'`).join('');
const doc = (text: string, indent = '  '): string => `${indent}/** ${text.replaceAll('*/', '*\\/')} */\n`;

const HEADER = `/**
 * Typings for agent programs. GENERATED by bin/gen-typings.ts from
 * syscalls/table.ts, abi/errno.ts, signals/signal-table.ts and the
 * template in bin/typings-template.ts: do not edit; run
 * \`node bin/gen-typings.ts\` (\`--check\` reports drift; test/typings.test.ts fails on it).
 *
 * An agent program is a plain script (top-level \`await\` allowed) that runs
 * inside its own isolate. Reference this file from an agent with
 * \`/// <reference path="../userspace/agent.d.ts" />\` or list it in the agent
 * project's tsconfig \`files\`.
 *
 * Besides \`sys\`, \`SYS\` and \`syscall\` declared here, ring 3 has the web
 * globals (fetch, Request, Response, Headers, URL, TextEncoder, streams,
 * AbortController, EventTarget, DOMException, atob, structuredClone, crypto,
 * performance, Blob, console, setTimeout and friends, queueMicrotask) and
 * Node's \`process\`, \`Buffer\`, \`global\` and \`node:\` built-in modules. Their
 * types come from @types/node (referenced below; install it in the agent
 * project), which matches ring 3 more closely than TypeScript's DOM lib: the
 * timers return Node-shaped handles, and there is no \`window\` or \`document\`.
 * console.log/info/debug write to fd 1, console.error/warn to fd 2.
 */
/// <reference types="node" />
`;

/** generateTypings returns the text of userspace/agent.d.ts. */
export function generateTypings(): string {
  const rows = SYSCALL_TABLE.map((row) => ({ row, ...rowTypes(row) }));
  const errnos = Object.entries(ERRNO).toSorted((a, b) => a[1] - b[1]);
  const notCatchable = SIGNAL_NAMES.filter((s) => !SIGNALS[s].catchable);
  const notMaskable = SIGNAL_NAMES.filter((s) => !SIGNALS[s].maskable);
  const catchable = SIGNAL_NAMES.filter((s) => SIGNALS[s].catchable);
  const out: string[] = [HEADER];

  out.push(`\n// --- errno (abi/errno.ts) ---\n\n/** Errno names a syscall can fail with. */\ntype Errno =`);
  out.push(`${errnos.map(([name, nr], i) => `\n  | '${name}'${i === errnos.length - 1 ? ';' : ''} // ${nr}`).join('')}\n`);

  out.push(`\n// --- signals (signals/signal-table.ts) ---\n\n`);
  out.push(doc(`Signal names. Never caught or ignored: ${notCatchable.join(', ')}; never masked: ${notMaskable.join(', ')}.`, ''));
  out.push(`type SignalName =${union(SIGNAL_NAMES)};\n`);
  out.push(doc('The signals an agent may handle, ignore or reset (`sys.signal`).', ''));
  out.push(`type CatchableSignal =${union(catchable)};\n`);

  out.push(`\n// --- syscalls (syscalls/table.ts) ---\n\ntype SyscallName =${union(SYSCALL_TABLE.map((r) => r.name))};\n\n`);
  out.push(`${doc('Syscall numbers by name: the type of `SYS`.', '')}interface SyscallNumbers {\n`);
  for (const r of rows) out.push(`${doc(r.doc)}  readonly ${r.row.name}: ${r.row.nr};\n`);
  out.push(`}\n\n${doc('Syscall names by number.', '')}interface SyscallsByNumber {\n`);
  for (const { row } of rows) out.push(`  ${row.nr}: '${row.name}';\n`);
  out.push(`}\n\n${doc("Each syscall's arguments, in order (as `syscall()` and SYS_CHECKPOLICY take them).", '')}interface SyscallArgs {\n`);
  for (const r of rows) out.push(`  ${r.row.name}: ${r.tuple};\n`);
  out.push(`}\n\n${doc("Each syscall's arguments by name (as SYS_CHECKPOLICY also takes them).", '')}interface SyscallArgsByName {\n`);
  for (const r of rows) out.push(`  ${r.row.name}: ${r.named};\n`);
  out.push(`}\n\n${doc("What each syscall's reply carries in `v`.", '')}interface SyscallResults {\n`);
  for (const { row } of rows) out.push(`  ${row.name}: ${RESULTS[row.name]};\n`);
  out.push('}\n');

  out.push(`\n// --- the sys wrappers and result shapes (bin/typings-template.ts) ---\n\n${SYS_TEMPLATE.trim()}\n`);
  return out.join('');
}

/** diffLines renders the lines that differ between `have` (-, its line numbers) and `want` (+, its line numbers), as a unified diff would. */
export function diffLines(have: string, want: string, limit = 40): string {
  const a = have.split('\n');
  const b = want.split('\n');
  // LCS table from the end, so the walk below goes forwards.
  const lcs = Array.from({ length: a.length + 1 }, () => new Uint32Array(b.length + 1));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const lines: string[] = [];
  let i = 0;
  let j = 0;
  while ((i < a.length || j < b.length) && lines.length < limit) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      i++;
      j++;
    } else if (j < b.length && (i === a.length || lcs[i]![j + 1]! > lcs[i + 1]![j]!)) {
      lines.push(`+${j + 1}: ${b[j++]}`);
    } else {
      lines.push(`-${i + 1}: ${a[i++]}`);
    }
  }
  return lines.length >= limit ? `${lines.join('\n')}\n…` : lines.join('\n');
}

/** checkTypings compares agent.d.ts with what the tables produce: ok, or a message with the differences. */
export function checkTypings(path: string = TYPINGS_PATH): { ok: boolean; message: string } {
  const want = generateTypings();
  let have = '';
  try {
    have = readFileSync(path, 'utf8');
  } catch {
    return { ok: false, message: `${path} is missing; run \`node bin/gen-typings.ts\`` };
  }
  if (have === want) return { ok: true, message: `${path} is up to date` };
  return {
    ok: false,
    message: `${path} is stale (- in the file, + generated); run \`node bin/gen-typings.ts\`:\n${diffLines(have, want)}`,
  };
}

/** checkReadme compares the README's tables of the ABI with what the tables produce. */
export function checkReadme(path: string = README_PATH): { ok: boolean; message: string } {
  const have = readFileSync(path, 'utf8');
  const want = withTables(have);
  if (have === want) return { ok: true, message: `${path}: its tables are up to date` };
  return { ok: false, message: `${path}: its tables are stale (- in the file, + generated); run \`node bin/gen-typings.ts\`:\n${diffLines(have, want)}` };
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  if (args.length > 1 || (args.length === 1 && args[0] !== '--check')) {
    process.stderr.write(`usage: node bin/gen-typings.ts [--check] (not ${args.join(' ')})\n`);
    process.exitCode = 2;
  } else if (args[0] === '--check') {
    const checks = [checkTypings(), checkReadme()];
    for (const { ok, message } of checks) (ok ? process.stdout : process.stderr).write(`${message}\n`);
    process.exitCode = checks.every((c) => c.ok) ? 0 : 1;
  } else {
    writeFileSync(TYPINGS_PATH, generateTypings());
    writeFileSync(README_PATH, withTables(readFileSync(README_PATH, 'utf8')));
    process.stdout.write(`wrote ${TYPINGS_PATH} and the tables of ${README_PATH}\n`);
  }
}
