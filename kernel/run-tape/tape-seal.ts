/**
 * A recorded run's seal (DIR/seal.json), written when the recording closes:
 * the SHA-256 and size of DIR/tape.jsonl and the SHA-256 of DIR/policy.yaml,
 * as the recorder wrote them, and — when the operator gave a key
 * (`agentctl run --record DIR --seal-key KEY.pem`) — an Ed25519 signature
 * over those. A replay compares the files it read with their seal before it
 * runs anything (checkSeal):
 *
 * - an unsigned seal finds a tape or policy changed after the run, unless
 *   whoever changed it rewrote the seal too: it guards against accidents and
 *   careless edits, not against forgery;
 * - a signed seal also finds a rewritten seal: only the private key makes a
 *   signature its public key verifies. `--verify-key PUB.pem` requires the
 *   seal to be signed with that key, so a tape from someone else can be
 *   trusted as theirs, unedited.
 *
 * The signed text is the seal without `signed`, as canonical JSON (sorted
 * keys), so the file's own layout does not matter.
 */
import { createPrivateKey, createPublicKey, hash, type KeyObject, sign, verify } from 'node:crypto';
import { join } from 'node:path';
import { KernelError } from '../../abi/errno.ts';
import { canonicalJson } from '../canonical-json.ts';
import { POLICY_FILE, TAPE_FILE } from './events.ts';
import { MAX_KEY_BYTES, readRegular } from '../regular-file.ts';
import { isObject } from './tape-check.ts';

export const SEAL_FILE = 'seal.json';
export const SEAL_FORMAT = 'agent-kernel-run-seal';
export const SEAL_VERSION = 1;
/** A seal file is a few hundred bytes; anything much larger is not one. */
const MAX_SEAL_BYTES = 16 * 1024;
const SHA256 = /^[0-9a-f]{64}$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** What a seal vouches for. */
export interface SealBody {
  readonly format: typeof SEAL_FORMAT;
  readonly version: typeof SEAL_VERSION;
  readonly tape: { readonly sha256: string; readonly bytes: number };
  readonly policy: { readonly sha256: string };
}

/** An Ed25519 signature over a seal's body: the signer's public key (SPKI DER, base64) and the signature (base64). */
export interface SealSignature {
  readonly algorithm: 'ed25519';
  readonly publicKey: string;
  readonly signature: string;
}

export interface Seal extends SealBody {
  readonly signed?: SealSignature;
}

/** What checkSeal found: no seal, or a seal the files match (signed or not, and by which key). */
export type SealVerdict = { readonly sealed: false } | { readonly sealed: true; readonly signed: false } | { readonly sealed: true; readonly signed: true; readonly key: string };

/** sha256 is the hex SHA-256 of `bytes`. */
export function sha256(bytes: Uint8Array | string): string {
  return hash('sha256', bytes);
}

/** fingerprint names a public key: the first 16 hex digits of its SPKI's SHA-256, as `agentctl` prints it. */
export function fingerprint(key: KeyObject): string {
  return `ed25519:${sha256(key.export({ type: 'spki', format: 'der' })).slice(0, 16)}`;
}

/** A key file is a few hundred bytes. */

/**
 * readKey reads an Ed25519 key from a PEM file with `make` (createPrivateKey
 * or createPublicKey), `what` naming what it wants: EINVAL for another kind
 * of key, an encrypted one (agentctl asks for no passphrase), or no key.
 */
function readKey(file: string, make: (pem: string) => KeyObject, what: 'private key' | 'public or private key'): KeyObject {
  const text = readRegular(file, MAX_KEY_BYTES, 'key file').toString('utf8');
  let key: KeyObject;
  try {
    key = make(text);
  } catch (err) {
    if (text.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----') || (err as { code?: unknown }).code === 'ERR_MISSING_PASSPHRASE') throw new KernelError('EINVAL', `${file}: an encrypted key; give an unencrypted one (openssl pkey -in ${file} -out PLAIN.pem)`);
    throw new KernelError('EINVAL', `${file}: not a ${what} in PEM (${(err as Error).message})`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new KernelError('EINVAL', `${file}: a key of type ${key.asymmetricKeyType ?? 'unknown'}, not an Ed25519 ${what} (make one with: openssl genpkey -algorithm ed25519 -out KEY.pem)`);
  return key;
}

/** sealingKey reads an Ed25519 private key (PEM) to sign seals with; EINVAL for anything else. */
export function sealingKey(file: string): KeyObject {
  return readKey(file, createPrivateKey, 'private key');
}

/** verifyingKey reads an Ed25519 public key (PEM; a private key gives its public half); EINVAL for anything else. */
export function verifyingKey(file: string): KeyObject {
  return readKey(file, createPublicKey, 'public or private key');
}

function signedText(body: SealBody): Buffer {
  const { format, version, tape, policy } = body;
  return Buffer.from(canonicalJson({ format, version, tape: { sha256: tape.sha256, bytes: tape.bytes }, policy: { sha256: policy.sha256 } }));
}

/** sealOf makes the seal of `body`, signed with `key` if one is given. */
export function sealOf(body: SealBody, key?: KeyObject): Seal {
  if (key === undefined) return body;
  const publicKey = createPublicKey(key).export({ type: 'spki', format: 'der' }).toString('base64');
  return { ...body, signed: { algorithm: 'ed25519', publicKey, signature: sign(null, signedText(body), key).toString('base64') } };
}

/** sealText is a seal as its file holds it. */
export function sealText(seal: Seal): string {
  return `${JSON.stringify(seal, null, 2)}\n`;
}

/** parseSeal checks a seal file's text: the seal, or EINVAL naming the file and the field. */
export function parseSeal(file: string, text: string): Seal {
  const bad = (field: string, what: string): never => {
    throw new KernelError('EINVAL', `${file}: ${field}: ${what}`);
  };
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return bad('(file)', 'not JSON');
  }
  if (!isObject(v)) return bad('(file)', 'not an object');
  if (v.format !== SEAL_FORMAT) bad('format', `must be '${SEAL_FORMAT}'`);
  if (v.version !== SEAL_VERSION) bad('version', `must be ${SEAL_VERSION} (this agentctl reads no other)`);
  const tape = v.tape;
  if (!isObject(tape)) return bad('tape', 'must be an object');
  if (typeof tape.sha256 !== 'string' || !SHA256.test(tape.sha256)) bad('tape.sha256', 'must be 64 lowercase hex digits');
  if (typeof tape.bytes !== 'number' || !Number.isSafeInteger(tape.bytes) || tape.bytes < 0) bad('tape.bytes', 'must be a whole number of bytes');
  const policy = v.policy;
  if (!isObject(policy)) return bad('policy', 'must be an object');
  if (typeof policy.sha256 !== 'string' || !SHA256.test(policy.sha256)) bad('policy.sha256', 'must be 64 lowercase hex digits');
  const body: SealBody = { format: SEAL_FORMAT, version: SEAL_VERSION, tape: { sha256: tape.sha256 as string, bytes: tape.bytes as number }, policy: { sha256: policy.sha256 as string } };
  if (v.signed === undefined) return body;
  const signed = v.signed;
  if (!isObject(signed)) return bad('signed', 'must be an object');
  if (signed.algorithm !== 'ed25519') bad('signed.algorithm', "must be 'ed25519'");
  if (typeof signed.publicKey !== 'string' || !BASE64.test(signed.publicKey)) bad('signed.publicKey', 'must be base64');
  if (typeof signed.signature !== 'string' || !BASE64.test(signed.signature)) bad('signed.signature', 'must be base64');
  return { ...body, signed: { algorithm: 'ed25519', publicKey: signed.publicKey as string, signature: signed.signature as string } };
}

/** readSeal reads DIR's seal: undefined when there is none; EINVAL for a file that is not one (not a regular file, larger than any seal, or not a seal's text). */
export function readSeal(dir: string): Seal | undefined {
  const file = join(dir, SEAL_FILE);
  let text: Buffer;
  try {
    text = readRegular(file, MAX_SEAL_BYTES, 'seal');
  } catch (err) {
    if (err instanceof KernelError && err.errno === 'ENOENT') return undefined;
    throw err;
  }
  return parseSeal(file, text.toString('utf8'));
}

/** What was read back of a recorded run: its tape's SHA-256 and size, and its policy's bytes. */
export interface ReadRun {
  readonly dir: string;
  readonly tapeSha256: string;
  readonly tapeBytes: number;
  readonly policySha256: string;
}

/**
 * checkSeal compares a run read back with its seal, and the seal's signature
 * with `required` (a public key) when given. Any mismatch is EINVAL, saying
 * which file changed or why the signature is not the one required. With no
 * key required, a signed seal is still checked against its own key (a seal
 * edited after signing is found).
 */
export function checkSeal(run: ReadRun, required?: KeyObject): SealVerdict {
  const seal = readSeal(run.dir);
  const file = join(run.dir, SEAL_FILE);
  if (seal === undefined) {
    if (required !== undefined) throw new KernelError('EINVAL', `${run.dir}: not sealed (no ${SEAL_FILE}), so no signature can vouch for it`);
    return { sealed: false };
  }
  if (seal.tape.sha256 !== run.tapeSha256 || seal.tape.bytes !== run.tapeBytes) {
    throw new KernelError('EINVAL', `${join(run.dir, TAPE_FILE)} does not match its seal: it changed after the run was recorded (sealed ${seal.tape.bytes} bytes, sha256 ${seal.tape.sha256.slice(0, 16)}…; read ${run.tapeBytes} bytes, ${run.tapeSha256.slice(0, 16)}…)`);
  }
  if (seal.policy.sha256 !== run.policySha256) throw new KernelError('EINVAL', `${join(run.dir, POLICY_FILE)} does not match its seal: it changed after the run was recorded`);
  if (seal.signed === undefined) {
    if (required !== undefined) throw new KernelError('EINVAL', `${file}: not signed, and a signature by the key ${fingerprint(required)} is required`);
    return { sealed: true, signed: false };
  }
  let signer: KeyObject;
  try {
    signer = createPublicKey({ key: Buffer.from(seal.signed.publicKey, 'base64'), format: 'der', type: 'spki' });
  } catch {
    throw new KernelError('EINVAL', `${file}: signed.publicKey: not a public key`);
  }
  if (signer.asymmetricKeyType !== 'ed25519') throw new KernelError('EINVAL', `${file}: signed.publicKey: not an Ed25519 key`);
  if (required !== undefined && !signer.equals(required)) throw new KernelError('EINVAL', `${file}: signed by the key ${fingerprint(signer)}, not by ${fingerprint(required)}`);
  if (!verify(null, signedText(seal), signer, Buffer.from(seal.signed.signature, 'base64'))) throw new KernelError('EINVAL', `${file}: its signature does not verify: the seal was changed after it was signed`);
  return { sealed: true, signed: true, key: fingerprint(signer) };
}
