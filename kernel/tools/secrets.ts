/**
 * Secrets that never enter ring 3. A program granted secret NAME sees
 * `process.env.NAME` as a placeholder (`agent-kernel-secret:NAME:<random>`,
 * fresh per process); only http.fetch turns the placeholder back into the
 * value, and only in the headers of a request to a host the configuration
 * binds NAME to (`tools.builtin.http.fetch.secrets`), over https or to a
 * loopback address; in the body only where the binding says `body: true`.
 * Any other request carrying it — another host, plain http, the URL itself,
 * a body — is refused (EACCES), other tools get the placeholder as plain
 * text, and the decision log only ever sees the placeholder (records keep
 * argument digests). A response that echoes the value has it replaced by
 * `[secret NAME]`, but only where it comes back whole: redaction is a last
 * resort, not the guard. An attacker pass had a model repeat a chat message
 * holding the placeholder, three characters per streamed event, and read
 * the key; so the body takes no secret unless the operator says so.
 */
import { randomBytes } from 'node:crypto';
import { KernelError } from '../../abi/errno.ts';
import { isLoopbackHost } from './address-ranges.ts';

/** ProcessSecret is one secret as a process holds it: its placeholder and, host-side only, the value. */
export interface ProcessSecret {
  readonly name: string;
  readonly placeholder: string;
  readonly value: string;
}

/** SECRET_NAME is what a secret's name may be: an environment variable name. */
export const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** isPlaceholderFor: `text` is a placeholder of the form processSecrets makes for secret `name` (an environment variable name). */
export function isPlaceholderFor(name: string, text: string): boolean {
  if (!SECRET_NAME.test(name)) return false;
  const head = `agent-kernel-secret:${name}:`;
  return text.length === head.length + 24 && text.startsWith(head) && /^[0-9a-f]{24}$/.test(text.slice(head.length));
}

/**
 * processSecrets makes placeholders for `values` (name → value): fresh ones,
 * or those `given` names (a replay's recorded ones, so the program sees the
 * environment it saw). EINVAL for a given placeholder not of the form made
 * here for its name.
 */
export function processSecrets(values: Readonly<Record<string, string>>, given: Readonly<Record<string, string>> = {}): ProcessSecret[] {
  return Object.entries(values).map(([name, value]) => {
    const kept = Object.hasOwn(given, name) ? given[name]! : undefined;
    if (kept !== undefined && !isPlaceholderFor(name, kept)) throw new KernelError('EINVAL', `the placeholder given for secret ${name} is not one (agent-kernel-secret:${name}: and 24 hex digits)`);
    return { name, value, placeholder: kept ?? `agent-kernel-secret:${name}:${randomBytes(12).toString('hex')}` };
  });
}

/** hostOf is a URL's host as bindings name it: hostname, with :port when it is not the scheme's default. */
function hostOf(url: URL): string {
  return url.port === '' ? url.hostname : `${url.hostname}:${url.port}`;
}

/** SecretBinding is where the configuration lets a secret go: its hosts, whether in a request's body too, and whether over plain http to a host that is not loopback. */
export interface SecretBinding {
  readonly hosts: readonly string[];
  readonly body: boolean;
  readonly http: boolean;
}

/** bindingOf reads a configuration's binding: a list of hosts (headers only, https or loopback), or `{ hosts, body, http }`. */
export function bindingOf(raw: readonly string[] | { readonly hosts: readonly string[]; readonly body?: boolean; readonly http?: boolean }): SecretBinding {
  if (Array.isArray(raw)) return { hosts: raw, body: false, http: false };
  const given = raw as { readonly hosts: readonly string[]; readonly body?: boolean; readonly http?: boolean };
  return { hosts: given.hosts, body: given.body === true, http: given.http === true };
}

/**
 * substitute replaces the caller's placeholders in a request to `url` — its
 * header values, and its body where the binding allows — with their values,
 * after checking each secret may go there. EACCES for a placeholder in the
 * URL or where its binding does not let it go: another host, plain http to
 * a host that is not loopback, a body.
 */
export function substitute(url: URL, request: { readonly body: string; readonly headers: readonly string[] }, secrets: readonly ProcessSecret[], bindings: ReadonlyMap<string, SecretBinding>): { body: string; headers: string[] } {
  if (secrets.length === 0) return { body: request.body, headers: [...request.headers] };
  for (const s of secrets) {
    if (url.href.includes(s.placeholder)) throw new KernelError('EACCES', `http.fetch: secret ${s.name} cannot go in a URL`);
  }
  const host = hostOf(url);
  const put = (text: string, inBody: boolean) => {
    let out = text;
    for (const s of secrets) {
      if (!out.includes(s.placeholder)) continue;
      const binding = bindings.get(s.name) ?? { hosts: [], body: false, http: false };
      if (!binding.hosts.includes(host)) throw new KernelError('EACCES', `http.fetch: secret ${s.name} may only be sent to ${binding.hosts.length === 0 ? 'no host' : binding.hosts.join(', ')} (tools.builtin.http.fetch.secrets), not ${host}`);
      if (url.protocol !== 'https:' && !isLoopbackHost(url.hostname) && !binding.http) {
        throw new KernelError('EACCES', `http.fetch: secret ${s.name} goes only over https (or to a loopback address; its binding says http: true for a network the operator trusts), not ${url.protocol}//${host}`);
      }
      if (inBody && !binding.body) throw new KernelError('EACCES', `http.fetch: secret ${s.name} may only go in headers (its binding in tools.builtin.http.fetch.secrets says body: true to let it go in a body, where an endpoint may echo it in pieces)`);
      out = out.replaceAll(s.placeholder, s.value);
    }
    return out;
  };
  return { body: put(request.body, true), headers: request.headers.map((h) => put(h, false)) };
}

/** redact replaces any secret value in `text` (a response the agent will read). */
export function redact(text: string, secrets: readonly ProcessSecret[]): string {
  let out = text;
  for (const s of secrets) if (s.value !== '' && out.includes(s.value)) out = out.replaceAll(s.value, `[secret ${s.name}]`);
  return out;
}

/**
 * Redactor redacts a streamed body chunk by chunk, holding back the last
 * (longest value − 1) bytes of each chunk so a value split across chunks is
 * still found. Bytes are handled as latin1 text (one character per byte).
 */
export class Redactor {
  private readonly secrets: readonly ProcessSecret[];
  private readonly hold: number;
  private carry = '';

  constructor(secrets: readonly ProcessSecret[]) {
    this.secrets = secrets.map((s) => ({ ...s, value: Buffer.from(s.value, 'utf8').toString('latin1') }));
    this.hold = Math.max(0, ...this.secrets.map((s) => s.value.length - 1));
  }

  push(chunk: Uint8Array): Uint8Array {
    const text = redact(this.carry + Buffer.from(chunk).toString('latin1'), this.secrets);
    const keep = Math.min(this.hold, text.length);
    this.carry = text.slice(text.length - keep);
    return Buffer.from(text.slice(0, text.length - keep), 'latin1');
  }

  end(): Uint8Array {
    const rest = Buffer.from(redact(this.carry, this.secrets), 'latin1');
    this.carry = '';
    return rest;
  }
}

/** redactBytes redacts a whole binary body. */
export function redactBytes(bytes: Uint8Array, secrets: readonly ProcessSecret[]): Uint8Array {
  const redactor = new Redactor(secrets);
  return Buffer.concat([redactor.push(bytes), redactor.end()]);
}
