/**
 * Principals: who is calling agentd. The operator token (agentd's token
 * file) is the operator principal, with full access. An agent credential is
 * a token bound to one agent id with the labels and capabilities the
 * operator granted; what each principal may reach is decided in
 * kernel/service/access.ts.
 *
 * agentd keeps only the SHA-256 of each agent token, in
 * `<state_dir>/principals.json` (mode 0600):
 *   { "version": 1, "principals": [{ "name", "agent", "labels", "capabilities", "sha256", "createdAt" }] }
 * so credentials survive a restart and the file never holds a usable token.
 */
import { hash, randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, statSync } from 'node:fs';
import { writeStateFile } from './state-file.ts';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { KernelError } from '../../abi/errno.ts';
import { ConfigError } from './config.ts';

/** The operator: the holder of agentd's token file. May do everything. */
export interface OperatorPrincipal {
  readonly kind: 'operator';
}

/** An agent credential: may act only as `agentId`, with the labels and capabilities granted here. */
export interface AgentPrincipal {
  readonly kind: 'agent';
  readonly name: string;
  readonly agentId: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly capabilities: readonly string[];
  readonly createdAt: number;
  /** The SHA-256 of the token, hex: the credential's identity. */
  readonly sha256: string;
}

export type Principal = OperatorPrincipal | AgentPrincipal;

export const OPERATOR: OperatorPrincipal = Object.freeze({ kind: 'operator' });

/** Grant is what the operator gives a new credential. */
export interface Grant {
  readonly agent: string;
  readonly name?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly capabilities?: readonly string[];
}

/** PrincipalInfo is a credential as listed: everything but its hash. */
export interface PrincipalInfo {
  readonly name: string;
  readonly agent: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly capabilities: readonly string[];
  readonly createdAt: number;
}

/** Names and agent ids: the kernel's agent id syntax (they name VFS trees and appear in records). */
export const NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$';
const NAME = new RegExp(NAME_PATTERN);
/** The most credentials agentd keeps; creating one more is refused. */
export const MAX_PRINCIPALS = 1000;
/** A presented bearer token longer than this is not hashed: it cannot be one of ours. */
const MAX_TOKEN_CHARS = 256;
const TOKEN_PREFIX = 'agk_';

const GRANTED = {
  labels: { type: 'object', propertyNames: { minLength: 1, maxLength: 128 }, additionalProperties: { type: 'string', maxLength: 256 }, maxProperties: 64 },
  capabilities: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 512 }, maxItems: 256 },
} as const;

/** The JSON Schema of a grant (POST /v1/principals). */
export const GRANT_SCHEMA = {
  type: 'object',
  required: ['agent'],
  additionalProperties: false,
  properties: {
    agent: { type: 'string', pattern: NAME_PATTERN, description: 'the agent id the credential may act as' },
    name: { type: 'string', pattern: NAME_PATTERN, description: 'the credential\'s name (default: the agent id)' },
    ...GRANTED,
  },
} as const;

const FILE_SCHEMA = {
  type: 'object',
  required: ['version', 'principals'],
  additionalProperties: false,
  properties: {
    version: { const: 1 },
    principals: {
      type: 'array',
      maxItems: MAX_PRINCIPALS,
      items: {
        type: 'object',
        required: ['name', 'agent', 'labels', 'capabilities', 'sha256', 'createdAt'],
        additionalProperties: false,
        properties: {
          name: { type: 'string', pattern: NAME_PATTERN },
          agent: { type: 'string', pattern: NAME_PATTERN },
          ...GRANTED,
          sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
          createdAt: { type: 'number' },
        },
      },
    },
  },
} as const;

interface StoredPrincipal {
  name: string;
  agent: string;
  labels: Record<string, string>;
  capabilities: string[];
  sha256: string;
  createdAt: number;
}

const validateFile = new Ajv({ strict: false }).compile<{ version: 1; principals: StoredPrincipal[] }>(FILE_SCHEMA);

/** sha256 is the hex digest of a token (the one-shot hash with a string result: ~0.5 µs, no Buffer). */
function sha256(token: string): string {
  return hash('sha256', token, 'hex');
}

/** principalsFile is where agentd keeps its credentials. */
export function principalsFile(stateDir: string): string {
  return join(stateDir, 'principals.json');
}

/** describePrincipal names a principal in records and messages: `operator`, or `principal NAME (agent ID)`. */
export function describePrincipal(principal: Principal): string {
  return principal.kind === 'operator' ? 'operator' : `principal ${principal.name} (agent ${principal.agentId})`;
}

/** answeredBy is the approver an answer records: the principal, and the display name it gave (never the display name alone). */
export function answeredBy(principal: Principal, displayName: string | undefined): string {
  const who = principal.kind === 'operator' ? 'operator' : `principal ${principal.name}`;
  return displayName === undefined || displayName === who ? who : `${who} (as ${displayName})`;
}

/** infoOf is a credential without its hash. */
export function infoOf(p: AgentPrincipal): PrincipalInfo {
  return { name: p.name, agent: p.agentId, labels: p.labels, capabilities: p.capabilities, createdAt: p.createdAt };
}

function freeze(stored: StoredPrincipal): AgentPrincipal {
  return Object.freeze({
    kind: 'agent',
    name: stored.name,
    agentId: stored.agent,
    labels: Object.freeze(Object.fromEntries(Object.entries(stored.labels))),
    capabilities: Object.freeze([...new Set(stored.capabilities)]),
    createdAt: stored.createdAt,
    sha256: stored.sha256,
  });
}

/**
 * PrincipalStore holds the operator's token digest and every agent
 * credential, by the SHA-256 of its token, in memory and in its file.
 */
export class PrincipalStore {
  readonly file: string;
  /** Every principal by the SHA-256 of its token: the operator and each agent credential. */
  private readonly byDigest = new Map<string, Principal>();
  private readonly byName = new Map<string, AgentPrincipal>();
  private readonly clock: () => number;

  private constructor(file: string, operatorToken: string, clock: () => number) {
    this.file = file;
    this.byDigest.set(sha256(operatorToken), OPERATOR);
    this.clock = clock;
  }

  /**
   * open loads the credentials in `file` (none if it does not exist) and
   * tightens its mode to 0600. ConfigError when the file cannot be read or
   * is not a principals file: agentd does not start on credentials it cannot
   * account for.
   */
  static open(file: string, operatorToken: string, clock: () => number = Date.now): PrincipalStore {
    const store = new PrincipalStore(file, operatorToken, clock);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return store;
      throw new ConfigError(`${file}: cannot read the credentials file: ${(err as Error).message}`);
    }
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      throw new ConfigError(`${file}: not JSON; agentd will not start on a credentials file it cannot read (restore it, or move it away to revoke every credential)`);
    }
    if (!validateFile(data)) throw new ConfigError(`${file}: not a principals file: ${validateFile.errors?.[0]?.instancePath || 'root'} ${validateFile.errors?.[0]?.message ?? ''}`);
    for (const stored of data.principals) {
      if (store.byName.has(stored.name) || store.byDigest.has(stored.sha256)) throw new ConfigError(`${file}: credential ${stored.name}: its name or token digest is already taken`);
      const principal = freeze(stored);
      store.byName.set(principal.name, principal);
      store.byDigest.set(principal.sha256, principal);
    }
    if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
    return store;
  }

  /**
   * authenticate maps an Authorization header to its principal, or
   * undefined: the token is hashed once and the digest looked up in a Map,
   * O(1) whatever the number of credentials. Tokens are never compared with
   * each other, only SHA-256 digests, so the time a comparison takes says
   * nothing about how much of a real token a guess shares (a caller cannot
   * steer a digest towards a stored one): constant time where it matters.
   */
  authenticate(header: string | undefined): Principal | undefined {
    if (header === undefined || !header.startsWith('Bearer ')) return undefined;
    const token = header.slice(7).trim();
    if (token.length === 0 || token.length > MAX_TOKEN_CHARS) return undefined;
    return this.byDigest.get(sha256(token));
  }

  /** list returns every credential, oldest first. */
  list(): AgentPrincipal[] {
    return [...this.byName.values()];
  }

  /** get finds a credential by name. */
  get(name: string): AgentPrincipal | undefined {
    return this.byName.get(name);
  }

  /**
   * create makes a credential for `grant` and returns it with its token,
   * the only time the token exists outside the caller. EINVAL for a bad name
   * or agent id, EEXIST when the name is taken, EMFILE past MAX_PRINCIPALS,
   * EIO when the file cannot be written (then nothing was created).
   */
  create(grant: Grant): { principal: AgentPrincipal; token: string } {
    const name = grant.name ?? grant.agent;
    if (!NAME.test(grant.agent)) throw new KernelError('EINVAL', `bad agent id '${grant.agent}': use letters, digits, '.', '_' and '-'`);
    if (!NAME.test(name)) throw new KernelError('EINVAL', `bad credential name '${name}': use letters, digits, '.', '_' and '-'`);
    if (this.byName.has(name)) throw new KernelError('EEXIST', `a credential named ${name} exists: revoke it first, or choose another name`);
    if (this.byName.size >= MAX_PRINCIPALS) throw new KernelError('EMFILE', `agentd keeps at most ${MAX_PRINCIPALS} credentials: revoke one first`);
    const token = `${TOKEN_PREFIX}${randomBytes(32).toString('hex')}`;
    const principal = freeze({
      name,
      agent: grant.agent,
      labels: { ...grant.labels },
      capabilities: [...(grant.capabilities ?? [])],
      sha256: sha256(token),
      createdAt: this.clock(),
    });
    this.byName.set(name, principal);
    this.byDigest.set(principal.sha256, principal);
    try {
      this.save();
    } catch (err) {
      this.byName.delete(name);
      this.byDigest.delete(principal.sha256);
      throw new KernelError('EIO', `credential ${name} not created: ${this.file} cannot be written (${(err as Error).message})`);
    }
    return { principal, token };
  }

  /**
   * revoke removes credential `name`: its token is refused from the next
   * request on. ESRCH if there is no such credential; EIO when the file
   * cannot be written (the credential is refused until agentd restarts, and
   * valid again after).
   */
  revoke(name: string): AgentPrincipal {
    const principal = this.byName.get(name);
    if (principal === undefined) throw new KernelError('ESRCH', `no credential named ${name}`);
    this.byName.delete(name);
    this.byDigest.delete(principal.sha256);
    try {
      this.save();
    } catch (err) {
      throw new KernelError('EIO', `credential ${name} is refused until agentd restarts, but ${this.file} cannot be written (${(err as Error).message}): revoke it again`);
    }
    return principal;
  }

  /** save writes every credential to a temporary file (0600, fsynced) and renames it over the file. */
  private save(): void {
    const principals: StoredPrincipal[] = this.list().map((p) => ({ name: p.name, agent: p.agentId, labels: { ...p.labels }, capabilities: [...p.capabilities], sha256: p.sha256, createdAt: p.createdAt }));
    writeStateFile(this.file, `${JSON.stringify({ version: 1, principals }, null, 2)}\n`);
  }
}
