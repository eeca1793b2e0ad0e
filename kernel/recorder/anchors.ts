/**
 * Anchors: the chain head signed with an Ed25519 key (node:crypto), as a
 * record in the chain itself. A hash chain alone proves a log was not edited
 * only to someone who kept its head: whoever can write the file can rewrite a
 * record and recompute every hash after it. An anchor record names the seq
 * and hash of the record before it and signs them; without the private key
 * no one can sign the recomputed hash, so `agentctl audit verify --pubkey
 * KEY` catches a rewritten log (every anchor must verify and name the record
 * it follows, and there must be at least one). Records after the last anchor
 * are covered by the chain alone: agentd anchors every `log.anchor_ms`
 * (default 1 s) when records came in meanwhile, and once more as it stops.
 *
 * The record: type `log`, agent `agentd`, detail
 * `anchor ed25519 seq=<S> head=<H> sig=<base64>`; the signature is over
 * `agent-kernel anchor v1\n<S>\n<H>`.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign, verify } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DecisionRecorder } from '../../syscalls/records.ts';
import { MAX_KEY_BYTES, readRegularText } from '../regular-file.ts';

/** The private key's file in agentd's state dir (PKCS#8 PEM, 0600), and the public key beside it (SPKI PEM). */
export const ANCHOR_KEY_FILE = 'anchor.key';
export const ANCHOR_PUB_FILE = 'anchor.pub';

const ANCHOR = /^anchor ed25519 seq=(\d+) head=([0-9a-f]{64}) sig=([A-Za-z0-9+/]+={0,2})$/;

function message(seq: number, head: string): Buffer {
  return Buffer.from(`agent-kernel anchor v1\n${seq}\n${head}`);
}

/** anchorDetail is the detail of the anchor record that signs record `seq` with hash `head`. */
export function anchorDetail(key: KeyObject, seq: number, head: string): string {
  return `anchor ed25519 seq=${seq} head=${head} sig=${sign(null, message(seq, head), key).toString('base64')}`;
}

/** Anchor is an anchor record's claim: the record it signs and the signature. */
export interface Anchor {
  readonly seq: number;
  readonly head: string;
  readonly sig: Buffer;
}

/** parseAnchor reads an anchor record's detail; undefined if the detail is not an anchor. */
export function parseAnchor(detail: string): Anchor | undefined {
  const m = ANCHOR.exec(detail);
  return m === null ? undefined : { seq: Number(m[1]), head: m[2]!, sig: Buffer.from(m[3]!, 'base64') };
}

/** anchorVerifies: the signature is the key's over the anchor's seq and head. */
export function anchorVerifies(publicKey: KeyObject, anchor: Anchor): boolean {
  try {
    return verify(null, message(anchor.seq, anchor.head), publicKey, anchor.sig);
  } catch {
    return false;
  }
}

/** readPublicKey reads an Ed25519 public key (SPKI PEM, or the private key's PEM, from which it is derived). Throws naming the file. */
export function readPublicKey(file: string): KeyObject {
  const text = readRegularText(file, MAX_KEY_BYTES, 'key file');
  let key: KeyObject;
  try {
    key = text.includes('PRIVATE KEY') ? createPublicKey(createPrivateKey(text)) : createPublicKey(text);
  } catch (err) {
    throw new Error(`${file}: not a PEM public key (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`${file}: an ${key.asymmetricKeyType ?? 'unknown'} key, not Ed25519`);
  return key;
}

/** anchorKey loads agentd's signing key from `stateDir`, making a new key pair there on first use. */
export function anchorKey(stateDir: string): KeyObject {
  const file = join(stateDir, ANCHOR_KEY_FILE);
  try {
    return createPrivateKey(readFileSync(file, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`${file}: cannot load the anchor signing key (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  }
  const pair = generateKeyPairSync('ed25519');
  writeFileSync(file, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  writeFileSync(join(stateDir, ANCHOR_PUB_FILE), pair.publicKey.export({ type: 'spki', format: 'pem' }), { mode: 0o644 });
  return pair.privateKey;
}

/** The log an Anchorer signs: its head, and where anchors are recorded. */
export interface AnchoredLog extends DecisionRecorder {
  readonly count: number;
  readonly head: string;
}

/** Anchorer records an anchor every `intervalMs` when records came in since the last one, and on stop. */
export class Anchorer {
  private readonly log: AnchoredLog;
  private readonly key: KeyObject;
  private readonly timer: NodeJS.Timeout | undefined;
  private anchored = 0;

  constructor(log: AnchoredLog, key: KeyObject, intervalMs: number) {
    this.log = log;
    this.key = key;
    this.timer = intervalMs > 0 ? setInterval(() => this.anchor(), intervalMs) : undefined;
    this.timer?.unref();
  }

  /** anchor signs the head now, if anything was recorded since the last anchor. A log that cannot be written says so itself. */
  anchor(): void {
    const seq = this.log.count;
    if (seq === 0 || seq === this.anchored) return;
    try {
      this.log.record({ type: 'log', pid: 0, agentId: 'agentd', detail: anchorDetail(this.key, seq, this.log.head) });
      this.anchored = this.log.count;
    } catch {
      // the next interval tries again
    }
  }

  /** stop anchors what came in since the last anchor and stops the timer. */
  stop(): void {
    clearInterval(this.timer);
    this.anchor();
  }
}
