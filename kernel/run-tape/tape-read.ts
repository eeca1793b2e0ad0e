/**
 * readTape reads a recorded run back (DIR/tape.jsonl and DIR/policy.yaml)
 * and checks every line against the tape's format (tape-check.ts) before
 * anything replays it. Anything else is refused with file, line and field
 * (EINVAL); a missing tape with ENOENT.
 *
 * Memory stays flat whatever the tape's size: the check reads the file in
 * chunks and keeps only what a replay needs before it starts (counts, the
 * end, and where each waiting call's reply line is, 12 bytes a call). The
 * bytes it checks (and hashes: the seal is compared with that digest) are
 * copied as they are read into a private file no one else can reach, and
 * `events()` reads the events again from that copy, one at a time
 * (tape-cursor.ts): what is replayed is what was checked, even if the tape
 * itself changes meanwhile (read again from the tape, a reply changed after
 * the check and put back before the end was replayed as if signed).
 */
import { createHash } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KernelError } from '../../abi/errno.ts';
import { decode, type Encoded } from './codec.ts';
import { POLICY_FILE, TAPE_FILE, type EndEvent, type TapeHeader } from './events.ts';
import { headerProblem, isObject, type Json, TapeCheck } from './tape-check.ts';
import { chunksOf } from '../recorder/line-reader.ts';
import { MAX_TAPE_BYTES, newSplitter, ReplyIndex, TapeCursor } from './tape-cursor.ts';
import { TAPE_LIMIT_BYTES, writeAll } from './tape-file.ts';
import { MAX_POLICY_BYTES } from '../policy/load.ts';
import { openRegular, readRegular } from '../regular-file.ts';
import { type ReadRun, sha256 } from './tape-seal.ts';

export interface Tape extends ReadRun {
  readonly dir: string;
  readonly header: TapeHeader;
  readonly policySource: string;
  /** How many calls the recording holds. */
  readonly calls: number;
  /** The highest id a queued call was given (0: none). */
  readonly lastQueuedId: number;
  /** How the run ended: the tape's last event. */
  readonly end: EndEvent;
  /** The call after which only output (and decisions) came before the end (the kernel ended the run during it, when the end has a signal). */
  readonly lastBeforeEnd: number | undefined;
  /** events reads the tape's events from the start, one at a time, reply lines merged into their calls. */
  events(): TapeCursor;
  /** close lets go of the tape's file. */
  close(): void;
}

function parseLine(file: string, bytes: Buffer, line: number): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new KernelError('EINVAL', `${file}:${line}: not a JSON value (a torn or edited tape)`);
  }
}

/** openTape opens DIR's tape for reading: ENOENT when DIR holds no recorded run, EINVAL for a tape or policy that is not a regular file or is larger than any. */
function openTape(dir: string, file: string): { fd: number; size: number; policySource: string; policySha256: string } {
  let policyBytes: Buffer;
  let opened: { fd: number; size: number };
  try {
    policyBytes = readRegular(join(dir, POLICY_FILE), MAX_POLICY_BYTES, 'policy');
    opened = openRegular(file, MAX_TAPE_BYTES, `tape (the recorder cuts at ${TAPE_LIMIT_BYTES})`);
  } catch (err) {
    if (err instanceof KernelError && err.errno === 'ENOENT') throw new KernelError('ENOENT', `${dir}: not a recorded run (no ${TAPE_FILE} or ${POLICY_FILE}; record one with agentctl run --record ${dir} PROGRAM)`);
    throw err;
  }
  return { ...opened, policySource: policyBytes.toString('utf8'), policySha256: sha256(policyBytes) };
}

/**
 * privateCopy makes a file only this process can reach — created in a fresh
 * folder of mode 0700 that is removed at once, so it has no name left — for
 * the bytes the check reads: replay reads them from there, so no one who can
 * write the tape can change them between their check and their use.
 */
function privateCopy(file: string): number {
  let dir: string;
  try {
    dir = mkdtempSync(join(tmpdir(), 'agent-kernel-tape-'));
  } catch (err) {
    throw new KernelError('EIO', `${file}: no private copy can be made to replay it from (${(err as Error).message})`);
  }
  try {
    return openSync(join(dir, TAPE_FILE), 'wx+', 0o600);
  } catch (err) {
    throw new KernelError('EIO', `${file}: no private copy can be made to replay it from (${(err as Error).message})`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** copyOut appends `chunk` to the private copy. */
function copyOut(copy: number, chunk: Buffer, file: string): void {
  try {
    writeAll(copy, chunk);
  } catch (err) {
    throw new KernelError('EIO', `${file}: its private copy could not be written (${(err as Error).message})`);
  }
}

/** readTape reads DIR's tape (see above). Its private copy stays open until the tape's close(); the tape itself is closed once checked. */
export function readTape(dir: string): Tape {
  const file = join(dir, TAPE_FILE);
  const { fd, size, policySource, policySha256 } = openTape(dir, file);
  let copy: number;
  try {
    copy = privateCopy(file);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  const bad = (line: number, what: string): never => {
    throw new KernelError('EINVAL', `${file}:${line}: ${what}`);
  };
  let header: TapeHeader | undefined;
  let check: TapeCheck | undefined;
  const replies = new ReplyIndex();
  const digest = createHash('sha256');
  let lines = 0;
  let offset = 0;
  let lastQueuedId = 0;
  let last: Json | undefined;
  let lastBeforeEnd: number | undefined;
  const splitter = newSplitter((bytes, kind) => {
    const line = ++lines;
    const at = offset;
    offset += bytes.length + 1;
    if (kind === 'overlong') bad(line, 'a line longer than any tape holds');
    const e = parseLine(file, bytes, line);
    if (line === 1) {
      if (!isObject(e)) return bad(1, 'not a header');
      const wrong = headerProblem(e);
      if (wrong !== undefined) bad(1, wrong);
      header = e as unknown as TapeHeader;
      check = new TapeCheck(header.version);
      return;
    }
    if (!isObject(e)) return bad(line, 'not an event');
    const problem = check!.problem(e, line);
    if (problem !== undefined) bad(line, problem);
    if (e.k === 'r') return replies.add(e.n as number, at, bytes.length);
    last = e;
    if (e.k === 'c') {
      lastBeforeEnd = e.n as number;
      const reply = e.r === undefined ? undefined : (decode(e.r as Encoded) as { t?: unknown; id?: unknown });
      if (e.m === 'a' && reply?.t === 'queued' && typeof reply.id === 'number') lastQueuedId = Math.max(lastQueuedId, reply.id);
    } else if (e.k !== 'o' && e.k !== 'd' && e.k !== 'x') lastBeforeEnd = undefined;
  });
  try {
    for (const chunk of chunksOf(fd, { limit: size, exactly: true })) {
      digest.update(chunk);
      copyOut(copy, chunk, file);
      splitter.push(chunk);
    }
    splitter.end();
    if (header === undefined || check === undefined) return bad(1, 'empty: no header');
    const [first] = check.waiting;
    if (first !== undefined) bad(first[1], `r: call ${first[0]} has no reply`);
    if (last?.k !== 'x') bad(lines, 'the tape does not end with the run\'s end (the recording stopped short: was agentctl killed?)');
  } catch (err) {
    closeSync(copy);
    throw err;
  } finally {
    closeSync(fd);
  }
  const checked = digest.digest('hex');
  const { version } = header;
  let closed = false;
  return {
    dir,
    header,
    policySource,
    tapeSha256: checked,
    tapeBytes: size,
    policySha256,
    calls: check.calls,
    lastQueuedId,
    end: last as unknown as EndEvent,
    lastBeforeEnd,
    events: () => new TapeCursor({ file, fd: copy, size, digest: checked, version, replies }),
    close: () => {
      if (!closed) closeSync(copy);
      closed = true;
    },
  };
}
