/**
 * The tape on disk, written: TapeWriter appends events as JSON lines
 * (queued, written in batches — past 256 KiB queued at once, else on a 20 ms
 * timer — and all at close), and stops at a size limit with a `cut` line.
 * It hashes what it writes, and at close seals the tape and the policy beside
 * it (tape-seal.ts), signed when given a key. tape-read.ts reads one back.
 */
import { createHash, type Hash, type KeyObject } from 'node:crypto';
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { KernelError } from '../../abi/errno.ts';
import { POLICY_FILE, TAPE_FILE, type TapeEvent, type TapeHeader } from './events.ts';
import { SEAL_FILE, SEAL_FORMAT, SEAL_VERSION, sealOf, sealText, sha256 } from './tape-seal.ts';

/** The most bytes a tape keeps by default (the run goes on past it, unrecorded: replay stops at the cut). */
export const TAPE_LIMIT_BYTES = 256 * 1024 * 1024;
/** Queued text past this is written at once; below it, on a timer (a write a syscall would cost more than the rest of recording it). */
const FLUSH_AT = 1 << 18;
const FLUSH_MS = 20;

/** writeAll writes all of `bytes` to `fd` (writeSync may write part of them). */
export function writeAll(fd: number, bytes: Uint8Array): void {
  for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at);
}

/** The reply kept for a call the run ended during. */
export const INTERRUPTED = JSON.stringify({ t: 'fault', errno: 'EINTR', message: 'the run ended during the call' });

export class TapeWriter {
  readonly dir: string;
  private readonly fd: number;
  /** The seal's file, made with the tape (so DIR holds no older one) and written at close. */
  private readonly sealFd: number;
  private readonly limit: number;
  /** Lines not yet written, each a JSON value, in order; nothing holds them back (a late reply is a line of its own). */
  private queue: string[] = [];
  private bytes = 0;
  private cut = false;
  private closed = false;
  private scheduled = false;
  /** Characters queued since the last flush. */
  private queued = 0;
  /** The files this writer made (and may remove: discard). */
  private readonly made: string[] = [];
  /** The SHA-256 of the tape's bytes as written, and of the policy's. */
  private readonly hash: Hash = createHash('sha256');
  private readonly policySha256: string;
  private readonly sealKey: KeyObject | undefined;

  /**
   * TapeWriter makes DIR's tape, its copy of the policy and its seal, all new
   * files (never one that exists, a symbolic link included); start() writes
   * the header. EEXIST if DIR holds any of them already. `sealKey` (Ed25519) signs
   * the seal close() writes.
   */
  constructor(dir: string, policySource: string, limitBytes: number = TAPE_LIMIT_BYTES, sealKey?: KeyObject) {
    this.dir = dir;
    this.limit = limitBytes;
    this.sealKey = sealKey;
    mkdirSync(dir, { recursive: true });
    const exclusive = (name: string): number => {
      try {
        const fd = openSync(join(dir, name), 'wx');
        this.made.push(join(dir, name));
        return fd;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new KernelError('EEXIST', `${dir} already has a ${name}: record into a new directory`);
        throw err;
      }
    };
    const opened: number[] = [];
    try {
      const policy = exclusive(POLICY_FILE);
      opened.push(policy);
      const policyBytes = Buffer.from(policySource);
      this.policySha256 = sha256(policyBytes);
      writeAll(policy, policyBytes);
      this.fd = exclusive(TAPE_FILE);
      opened.push(this.fd);
      this.sealFd = exclusive(SEAL_FILE);
      opened.push(this.sealFd);
    } catch (err) {
      // Nothing of a recording that cannot start is left behind (only what this writer made).
      for (const fd of opened) closeSync(fd);
      for (const file of this.made) rmSync(file, { force: true });
      throw err;
    }
    closeSync(opened[0]!);
  }

  /** start writes the header: the first line, before any event. */
  start(header: TapeHeader): void {
    this.write(`${JSON.stringify(header)}\n`);
  }

  /** push appends an event. */
  push(event: TapeEvent): void {
    this.line(JSON.stringify(event));
  }

  /** line appends an event written as JSON already (the recorder writes call lines itself). */
  line(text: string): void {
    if (this.cut || this.closed) return;
    this.queue.push(text);
    this.queued += text.length;
    if (this.queued >= FLUSH_AT) {
      this.flush();
      return;
    }
    if (this.scheduled) return;
    this.scheduled = true;
    setTimeout(() => {
      this.scheduled = false;
      this.flush();
    }, FLUSH_MS).unref();
  }

  /** flush writes every queued line; past the size limit, a `cut` line instead, and nothing more. */
  flush(): void {
    if (this.closed || this.queue.length === 0) return;
    const lines = this.queue;
    this.queue = [];
    this.queued = 0;
    let text = '';
    for (const line of lines) {
      if (this.bytes + text.length + line.length + 1 > this.limit) {
        text += `${JSON.stringify({ k: 'cut', why: `the tape reached its limit of ${this.limit} bytes` })}\n`;
        this.cut = true;
        break;
      }
      text += `${line}\n`;
      if (text.length >= FLUSH_AT) {
        this.write(text);
        text = '';
      }
    }
    if (text !== '') this.write(text);
  }

  private write(text: string): void {
    const buf = Buffer.from(text);
    writeAll(this.fd, buf);
    this.hash.update(buf);
    this.bytes += buf.length;
  }

  /**
   * close writes what is queued and the end (`ending`: lines for calls still
   * waiting, as interrupted), closes the file and seals it. A seal that could
   * not be written leaves the tape whole but unsealed: the error is returned.
   */
  close(end: TapeEvent, ending: readonly string[] = []): Error | undefined {
    if (this.closed) return undefined;
    for (const line of ending) this.line(line);
    this.flush();
    this.write(`${JSON.stringify(end)}\n`);
    this.closed = true;
    closeSync(this.fd);
    try {
      const seal = sealOf({ format: SEAL_FORMAT, version: SEAL_VERSION, tape: { sha256: this.hash.digest('hex'), bytes: this.bytes }, policy: { sha256: this.policySha256 } }, this.sealKey);
      writeAll(this.sealFd, Buffer.from(sealText(seal)));
      return undefined;
    } catch (err) {
      // A seal half written would refuse an intact tape: none is better.
      rmSync(join(this.dir, SEAL_FILE), { force: true });
      return err instanceof Error ? err : new Error(String(err));
    } finally {
      closeSync(this.sealFd);
    }
  }

  /** discard removes the files of a tape whose run never started (only those this writer made). */
  discard(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
    closeSync(this.sealFd);
    for (const file of this.made) rmSync(file, { force: true });
  }
}
