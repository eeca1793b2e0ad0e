/**
 * The tape on disk, written: TapeWriter appends events as JSON lines
 * (queued, written in batches — past 256 KiB queued at once, else on a 20 ms
 * timer — and all at close), and stops at a size limit with a `cut` line.
 * tape-read.ts reads one back.
 */
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { KernelError } from '../../abi/errno.ts';
import { POLICY_FILE, TAPE_FILE, type TapeEvent, type TapeHeader } from './events.ts';

/** The most bytes a tape keeps by default (the run goes on past it, unrecorded: replay stops at the cut). */
export const TAPE_LIMIT_BYTES = 256 * 1024 * 1024;
/** Queued text past this is written at once; below it, on a timer (a write a syscall would cost more than the rest of recording it). */
const FLUSH_AT = 1 << 18;
const FLUSH_MS = 20;

/** The reply kept for a call the run ended during. */
export const INTERRUPTED = JSON.stringify({ t: 'fault', errno: 'EINTR', message: 'the run ended during the call' });

export class TapeWriter {
  readonly dir: string;
  private readonly fd: number;
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

  /**
   * TapeWriter makes DIR's tape and its copy of the policy, both new files
   * (never one that exists, a symbolic link included); start() writes the
   * header. EEXIST if DIR holds either already.
   */
  constructor(dir: string, policySource: string, limitBytes: number = TAPE_LIMIT_BYTES) {
    this.dir = dir;
    this.limit = limitBytes;
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
    const policy = exclusive(POLICY_FILE);
    try {
      writeSync(policy, policySource);
    } finally {
      closeSync(policy);
    }
    this.fd = exclusive(TAPE_FILE);
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
    let off = 0;
    while (off < buf.length) off += writeSync(this.fd, buf, off);
    this.bytes += buf.length;
  }

  /** close writes what is queued and the end (`ending`: lines for calls still waiting, as interrupted), and closes the file. */
  close(end: TapeEvent, ending: readonly string[] = []): void {
    if (this.closed) return;
    for (const line of ending) this.line(line);
    this.flush();
    this.write(`${JSON.stringify(end)}\n`);
    this.closed = true;
    closeSync(this.fd);
  }

  /** discard removes the files of a tape whose run never started (only those this writer made). */
  discard(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
    for (const file of this.made) rmSync(file, { force: true });
  }
}
