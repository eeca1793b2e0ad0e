/** Mapping kernel errors onto HTTP answers: one clear message, never a stack. */
import type { FastifyReply } from 'fastify';
import { KernelError, type Errno } from '../../abi/errno.ts';

const STATUS: Partial<Record<Errno, number>> = {
  ESRCH: 404,
  ENOENT: 404,
  ECHILD: 404,
  EPERM: 403,
  EACCES: 403,
  EEXIST: 409,
  EINVAL: 400,
  ENOEXEC: 400,
  ENAMETOOLONG: 400,
  EISDIR: 400,
  ENOTDIR: 400,
  EAGAIN: 429,
  EMFILE: 429,
  EIO: 503,
  ETIMEDOUT: 504,
};

/** sendError answers `err` as { error, errno } with a status derived from the errno. */
export function sendError(reply: FastifyReply, err: unknown): FastifyReply {
  if (err instanceof KernelError) return reply.code(STATUS[err.errno] ?? 500).send({ error: err.message, errno: err.errno });
  return reply.code(500).send({ error: 'internal error' });
}

/** SchemaError is one JSON Schema validation error as Ajv reports it (fastify's type, plus what Ajv adds with `verbose`). */
export interface SchemaError {
  readonly keyword: string;
  readonly instancePath: string;
  readonly schemaPath: string;
  readonly params: Record<string, unknown>;
  readonly message?: string;
  /** Set on an error about a property name (propertyNames). */
  readonly propertyName?: string;
  /** The schema object holding the failed keyword (Ajv's `verbose`). */
  readonly parentSchema?: unknown;
}

const COMPOSITE: ReadonlySet<string> = new Set(['oneOf', 'anyOf']);

/**
 * validationMessage turns the schema errors of one request part (`body`,
 * `querystring`, `params`, `headers`) into one line in which every error
 * names the field it is about, as `PART/PATH: what is wrong`:
 * `body/foo: unknown property 'foo' (known: agent, action)`,
 * `body/action: required property 'action' is missing`,
 * `querystring/since: must be number`. A value that fits none of a oneOf's
 * forms is explained by the form it came closest to (the one whose type it
 * has), or as `must be string or object` when it has none of their types.
 */
export function validationMessage(part: string, errors: readonly SchemaError[]): string {
  // Ajv lists a oneOf's branch errors before the oneOf error itself: they are explained with it.
  const branchesOf = (e: SchemaError) => errors.filter((b) => b !== e && b.schemaPath.startsWith(`${e.schemaPath}/`));
  const consumed = new Set(errors.filter((e) => COMPOSITE.has(e.keyword)).flatMap(branchesOf));
  const lines: string[] = [];
  for (const e of errors) {
    if (consumed.has(e)) continue;
    if (COMPOSITE.has(e.keyword)) {
      lines.push(...explainComposite(part, e, branchesOf(e)));
      continue;
    }
    if (e.keyword === 'propertyNames' && errors.some((x) => x !== e && x.propertyName !== undefined && x.instancePath === e.instancePath)) continue;
    lines.push(describe(part, e));
  }
  return [...new Set(lines)].join('; ') || `${part}: is not valid`;
}

/** explainComposite explains a oneOf/anyOf failure from its branches' errors. */
function explainComposite(part: string, composite: SchemaError, branches: readonly SchemaError[]): string[] {
  if (composite.params.passingSchemas != null) return [`${where(part, composite.instancePath)}: matches more than one of its allowed forms`];
  const wrongType = (b: SchemaError) => b.keyword === 'type' && b.instancePath === composite.instancePath;
  const closer = branches.filter((b) => !wrongType(b) && !COMPOSITE.has(b.keyword));
  if (closer.length > 0) return closer.map((b) => describe(part, b));
  const types = branches.filter(wrongType).flatMap((b) => typeNames(b.params.type));
  if (types.length > 0) return [`${where(part, composite.instancePath)}: must be ${[...new Set(types)].join(' or ')}`];
  return [`${where(part, composite.instancePath)}: ${composite.message ?? 'is not valid'}`];
}

/** describe is one error as `PART/PATH: what is wrong`, the path ending at the property the error is about. */
function describe(part: string, e: SchemaError): string {
  const at = where(part, e.instancePath);
  switch (e.keyword) {
    case 'additionalProperties': {
      const name = clipped(String(e.params.additionalProperty));
      const known = knownProperties(e.parentSchema);
      return `${at}/${pointerToken(name)}: unknown property '${name}'${known.length > 0 ? ` (known: ${known.join(', ')})` : ''}`;
    }
    case 'required': {
      const name = String(e.params.missingProperty);
      return `${at}/${pointerToken(name)}: required property '${name}' is missing`;
    }
    case 'type':
      return `${at}: must be ${typeNames(e.params.type).join(' or ')}`;
    case 'enum':
      return `${at}: must be one of ${(Array.isArray(e.params.allowedValues) ? e.params.allowedValues : []).map(quote).join(', ')}`;
    case 'const':
      return `${at}: must be ${quote(e.params.allowedValue)}`;
    default:
      return e.propertyName !== undefined ? `${at}: property name '${e.propertyName}' ${e.message ?? 'is not valid'}` : `${at}: ${e.message ?? 'is not valid'}`;
  }
}

function where(part: string, instancePath: string): string {
  return `${part}${clipped(instancePath, 256)}`;
}

/**
 * clipped is `text` cut to `most` characters, saying how long it was: a
 * request's property names are echoed in its 400, and one of 100,000
 * characters came back whole, twice (an attacker pass).
 */
export function clipped(text: string, most = 64): string {
  return text.length <= most ? text : `${text.slice(0, most)}… (${text.length} characters)`;
}

/** pointerToken escapes a property name as one JSON Pointer segment, as Ajv's instancePath does. */
function pointerToken(name: string): string {
  return name.replaceAll('~', '~0').replaceAll('/', '~1');
}

function quote(value: unknown): string {
  return typeof value === 'string' ? `'${value}'` : JSON.stringify(value);
}

function typeNames(type: unknown): string[] {
  return (Array.isArray(type) ? type : [type]).map(String);
}

function knownProperties(schema: unknown): string[] {
  if (schema === null || typeof schema !== 'object' || !('properties' in schema)) return [];
  const properties = (schema as { properties: unknown }).properties;
  return properties !== null && typeof properties === 'object' ? Object.keys(properties) : [];
}
