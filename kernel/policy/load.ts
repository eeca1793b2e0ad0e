/**
 * Loading a policy: parse YAML or JSON (JSON is read as YAML 1.2, which keeps
 * source positions), validate against POLICY_SCHEMA, then compile. Any
 * failure is a PolicyError naming the file, line, column and field; there is
 * no fallback policy.
 */
import { createHash } from 'node:crypto';
import { Ajv, type ErrorObject } from 'ajv';
import { LineCounter, parseDocument } from 'yaml';
import { dataOf, duplicateKey, fieldName, locate, schemaProblem as yamlSchemaProblem, type PathKey } from '../yaml-positions.ts';
import { ERRNO_TEXT, isErrno, KernelError } from '../../abi/errno.ts';
import { canonicalJson } from '../canonical-json.ts';
import { compilePolicy, compilePolicySliced, type CompiledPolicy } from './compile.ts';
import { PolicyFieldError } from './field-error.ts';
import { POLICY_SCHEMA, type PolicyDocument } from './schema.ts';
import { readRegularText, whyUnreadable } from '../regular-file.ts';

/** PolicyError says where a policy is wrong: `file:line:column: field: problem`, or `file: problem` (line 0) when it cannot be read. */
export class PolicyError extends Error {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly field: string;
  /** What is wrong, without where. */
  readonly problem: string;
  constructor(file: string, line: number, column: number, field: string, problem: string) {
    super(`${file}${line === 0 ? '' : `:${line}:${column}`}: ${field ? `${field}: ` : ''}${problem}`);
    this.name = 'PolicyError';
    this.file = file;
    this.line = line;
    this.column = column;
    this.field = field;
    this.problem = problem;
  }
}

const validate = new Ajv({ allErrors: false, strict: true }).compile<PolicyDocument>(POLICY_SCHEMA);
export const MAX_POLICY_BYTES = 64 * 1024 * 1024;

/** schemaProblem is yaml-positions' reading of an Ajv error, with the PDL's own word for an argument pattern. */
function schemaProblem(error: ErrorObject): { path: PathKey[]; key?: string; problem: string } {
  const found = yamlSchemaProblem(error);
  if ((error.keyword === 'minProperties' || error.keyword === 'maxProperties') && found.path.at(-2) === 'args') {
    return { path: found.path, problem: 'needs arg and exactly one of equals, contains, glob, regex' };
  }
  return found;
}

export interface LoadedPolicy {
  readonly file: string;
  readonly source: string;
  readonly document: PolicyDocument;
  /** `sha256:<hex>` over the document's canonical JSON. */
  readonly version: string;
  readonly compiled: CompiledPolicy;
}

/**
 * machineJson reads a policy written by a program (JSON.stringify's own
 * text, compact or indented by 2) without the YAML parser, which costs ~40×
 * more on a large policy. Its text is exactly the re-serialisation of what
 * it parsed to, which rules out duplicate keys (they would be lost on the
 * way back). Anything else — YAML, hand-written JSON — is undefined.
 */
function machineJson(source: string): unknown {
  if (source.charCodeAt(0) !== 123 /* { */) return undefined;
  let data: unknown;
  try {
    data = JSON.parse(source);
  } catch {
    return undefined;
  }
  const text = source.trimEnd();
  return text === JSON.stringify(data) || text === JSON.stringify(data, null, 2) ? data : undefined;
}

/**
 * parsePolicy parses, validates and compiles policy text; PolicyError on any
 * problem. A policy a program wrote as JSON takes a fast path; any problem
 * in it is found again by the YAML path, which names its line and column.
 */
export function parsePolicy(source: string, file: string): LoadedPolicy {
  if (source.length > MAX_POLICY_BYTES) throw new PolicyError(file, 1, 1, '', `is larger than ${MAX_POLICY_BYTES} bytes`);
  const data = machineJson(source);
  if (data !== undefined && validate(data)) {
    try {
      return loaded(file, source, data);
    } catch (err) {
      if (!(err instanceof PolicyFieldError)) throw err;
    }
  }
  return parsePositioned(source, file);
}

/** loaded compiles a validated document under its version (a SHA-256 of its canonical JSON); PolicyFieldError names a semantic problem. */
export function loaded(file: string, source: string, document: PolicyDocument): LoadedPolicy {
  const version = versionOf(document);
  return { file, source, document, version, compiled: compilePolicy(document, version) };
}

/** versionOf is a document's version: a SHA-256 of its canonical JSON. */
function versionOf(document: PolicyDocument): string {
  return `sha256:${createHash('sha256').update(canonicalJson(document)).digest('hex')}`;
}

/**
 * loadedSliced is loaded for a document a worker parsed and compiled once
 * already (so it compiles; `version` as the worker computed it), compiled in
 * slices of the event loop (compile.ts compilePolicySliced).
 */
export async function loadedSliced(file: string, source: string, document: PolicyDocument, version: string): Promise<LoadedPolicy> {
  return { file, source, document, version, compiled: await compilePolicySliced(document, version) };
}

/** parsePositioned is parsePolicy through the YAML parser, which knows where every node is (for errors). */
function parsePositioned(source: string, file: string): LoadedPolicy {
  const lines = new LineCounter();
  // Keys given twice are found in one pass (duplicateKey), not by the parser's check, which is quadratic.
  const doc = parseDocument(source, { lineCounter: lines, prettyErrors: false, uniqueKeys: false });
  const at = (offset: number) => lines.linePos(offset);
  if (doc.errors.length > 0) {
    const err = doc.errors[0]!;
    const pos = at(err.pos[0]);
    throw new PolicyError(file, pos.line, pos.col, '', `syntax error: ${err.message.split('\n')[0]}`);
  }
  const twice = duplicateKey(doc);
  if (twice !== undefined) {
    const pos = at(twice.offset);
    throw new PolicyError(file, pos.line, pos.col, fieldName(twice.path), `is given twice (first on line ${at(twice.first).line})`);
  }
  const read = dataOf(doc, source);
  if ('problem' in read) {
    const pos = at(read.offset);
    throw new PolicyError(file, pos.line, pos.col, '', read.problem);
  }
  const data = read.data;
  if (!validate(data)) {
    const { path, key, problem } = schemaProblem(validate.errors![0]!);
    const pos = at(locate(doc, key === undefined ? path : path.slice(0, -1), key));
    throw new PolicyError(file, pos.line, pos.col, fieldName(path), problem);
  }
  try {
    return loaded(file, source, data);
  } catch (err) {
    if (!(err instanceof PolicyFieldError)) throw err;
    const pos = at(locate(doc, err.path));
    throw new PolicyError(file, pos.line, pos.col, fieldName(err.path), err.problem);
  }
}

/** loadPolicyFile reads and parses a policy file; PolicyError (line 0) if it cannot be read: `FILE: no such file or directory`. */
export function loadPolicyFile(path: string): LoadedPolicy {
  let text: string;
  try {
    // A regular file of at most MAX_POLICY_BYTES: a FIFO would hang the read, a device (/dev/zero) never end.
    text = readRegularText(path, MAX_POLICY_BYTES, 'policy');
  } catch (err) {
    if (err instanceof KernelError) throw new PolicyError(path, 0, 0, '', whyUnreadable(err, path));
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? ERRNO_TEXT.ENOENT : `cannot read: ${typeof code === 'string' && isErrno(code) ? `${ERRNO_TEXT[code]} (${code})` : (code ?? String(err))}`;
    throw new PolicyError(path, 0, 0, '', why);
  }
  return parsePolicy(text, path);
}
