/**
 * An experiment file (agentctl experiment run EXP.yaml): a matrix of
 * programs × policies × repetitions, each cell one recorded run.
 *
 *   name: notes-policies
 *   programs: { notes: ../notes.ts }          # name → program file
 *   adversarial: adversarial/                 # every .ts/.js file in it is a program too, named adv/<file>
 *   policies: { notes: ../policies/notes.yaml, readonly: ../policies/notes-readonly.yaml }
 *   repetitions: 2                            # default 1
 *   parallel: 2                               # cells at once, default 2 (at most 16)
 *   args: ["buy milk"]                        # the programs' arguments
 *   manifest: agent.manifest.yaml             # id, labels, capabilities (optional)
 *   tools: tools.yaml                         # SYS_EXEC's tools (optional)
 *   limits: { wall_ms: 10000, cpu_ms: 2000 }  # each cell's kernel limits, any of LIMIT_TABLE (wall_ms default 30000)
 *
 * Paths are relative to the experiment file. A bad file is one line naming
 * file, line and field (ExperimentError).
 */
import { readdirSync, statSync } from 'node:fs';
import { dirname, extname, join, resolve } from 'node:path';
import { Ajv } from 'ajv';
import { LineCounter, parseDocument } from 'yaml';
import { dataOf, duplicateKey, fieldName, locate, schemaProblem, type PathKey } from '../yaml-positions.ts';
import { KernelError } from '../../abi/errno.ts';
import { readRegularText } from '../regular-file.ts';
import { limitsFromPolicy, SCHEMA_LIMITS, type LimitRequest } from '../limits.ts';

export class ExperimentError extends Error {}

export interface ExperimentSpec {
  readonly file: string;
  readonly name: string;
  /** Every program of the program axis, adversarial ones included (named adv/<file>). */
  readonly programs: readonly { readonly name: string; readonly file: string; readonly adversarial: boolean }[];
  readonly policies: readonly { readonly name: string; readonly file: string }[];
  readonly repetitions: number;
  readonly parallel: number;
  readonly args: readonly string[];
  readonly manifest?: string;
  readonly tools?: string;
  /** Each cell's kernel limits (as agentctl run --limit: they replace the defaults, so they may raise them). */
  readonly limits: LimitRequest & { readonly wallMs: number };
}

const NAME = '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$';
const FILES = { type: 'object', minProperties: 1, maxProperties: 64, propertyNames: { pattern: NAME }, additionalProperties: { type: 'string', minLength: 1 } } as const;

const SCHEMA = {
  type: 'object',
  required: ['name', 'policies'],
  additionalProperties: false,
  properties: {
    name: { type: 'string', pattern: NAME },
    programs: FILES,
    adversarial: { type: 'string', minLength: 1 },
    policies: FILES,
    repetitions: { type: 'integer', minimum: 1, maximum: 1000 },
    parallel: { type: 'integer', minimum: 1, maximum: 16 },
    args: { type: 'array', maxItems: 64, items: { type: 'string' } },
    manifest: { type: 'string', minLength: 1 },
    tools: { type: 'string', minLength: 1 },
    limits: { type: 'object', additionalProperties: false, properties: SCHEMA_LIMITS },
  },
} as const;

interface RawSpec {
  name: string;
  programs?: Record<string, string>;
  adversarial?: string;
  policies: Record<string, string>;
  repetitions?: number;
  parallel?: number;
  args?: string[];
  manifest?: string;
  tools?: string;
  limits?: Record<string, number>;
}

const validate = new Ajv({ allErrors: false, strict: false }).compile<RawSpec>(SCHEMA);
const PROGRAM_EXTENSIONS: ReadonlySet<string> = new Set(['.ts', '.js', '.mjs', '.mts', '.tsx', '.jsx']);
/** The most cells one experiment may have. */
export const MAX_CELLS = 10_000;

/** The largest experiment file read. */
const MAX_EXPERIMENT_BYTES = 16 * 1024 * 1024;

/** loadExperiment reads and checks an experiment file; ExperimentError naming file, line and field. */
export function loadExperiment(file: string): ExperimentSpec {
  let source: string;
  try {
    source = readRegularText(file, MAX_EXPERIMENT_BYTES, 'experiment');
  } catch (err) {
    throw new ExperimentError(err instanceof KernelError ? err.message : `${file}: ${String(err)}`);
  }
  const lines = new LineCounter();
  // Keys given twice are found in one pass (duplicateKey), not by the parser's check, which is quadratic.
  const doc = parseDocument(source, { lineCounter: lines, prettyErrors: false, uniqueKeys: false });
  const where = (path: readonly PathKey[], key?: string) => {
    const pos = lines.linePos(locate(doc, path, key));
    return `${file}:${pos.line}:${pos.col}`;
  };
  if (doc.errors.length > 0) {
    const pos = lines.linePos(doc.errors[0]!.pos[0]);
    throw new ExperimentError(`${file}:${pos.line}:${pos.col}: syntax error: ${doc.errors[0]!.message.split('\n')[0]}`);
  }
  const twice = duplicateKey(doc);
  if (twice !== undefined) throw new ExperimentError(`${file}:${lines.linePos(twice.offset).line}:${lines.linePos(twice.offset).col}: ${fieldName(twice.path)}: is given twice (first on line ${lines.linePos(twice.first).line})`);
  const read = dataOf(doc, source);
  if ('problem' in read) {
    const pos = lines.linePos(read.offset);
    throw new ExperimentError(`${file}:${pos.line}:${pos.col}: ${read.problem}`);
  }
  const data = read.data;
  if (!validate(data)) {
    const { path, key, problem } = schemaProblem(validate.errors![0]!);
    throw new ExperimentError(`${where(key === undefined ? path : path.slice(0, -1), key)}: ${fieldName(path)}: ${problem}`);
  }
  const base = dirname(resolve(file));
  const exists = (path: readonly PathKey[], relative: string, kind: 'file' | 'directory'): string => {
    const full = resolve(base, relative);
    let ok = false;
    try {
      ok = kind === 'file' ? statSync(full).isFile() : statSync(full).isDirectory();
    } catch {
      ok = false;
    }
    if (!ok) throw new ExperimentError(`${where(path)}: ${fieldName(path)}: no such ${kind}: ${relative}`);
    return full;
  };
  const programs = Object.entries(data.programs ?? {}).map(([name, f]) => ({ name, file: exists(['programs', name], f, 'file'), adversarial: false }));
  if (data.adversarial !== undefined) {
    const folder = exists(['adversarial'], data.adversarial, 'directory');
    for (const entry of readdirSync(folder).toSorted()) {
      if (PROGRAM_EXTENSIONS.has(extname(entry)) && !entry.endsWith('.d.ts')) programs.push({ name: `adv/${entry}`, file: join(folder, entry), adversarial: true });
    }
  }
  if (programs.length === 0) throw new ExperimentError(`${where([])}: programs: give at least one program (programs, or an adversarial folder with .ts or .js files)`);
  const policies = Object.entries(data.policies).map(([name, f]) => ({ name, file: exists(['policies', name], f, 'file') }));
  const repetitions = data.repetitions ?? 1;
  const cells = programs.length * policies.length * repetitions;
  if (cells > MAX_CELLS) throw new ExperimentError(`${where(['repetitions'])}: repetitions: ${programs.length} programs × ${policies.length} policies × ${repetitions} is ${cells} cells, more than ${MAX_CELLS}`);
  return {
    file,
    name: data.name,
    programs,
    policies,
    repetitions,
    parallel: data.parallel ?? 2,
    args: data.args ?? [],
    ...(data.manifest !== undefined ? { manifest: exists(['manifest'], data.manifest, 'file') } : {}),
    ...(data.tools !== undefined ? { tools: exists(['tools'], data.tools, 'file') } : {}),
    limits: { ...limitsFromPolicy(data.limits), wallMs: data.limits?.wall_ms ?? 30_000 },
  };
}
