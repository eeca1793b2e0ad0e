/**
 * One agentd per state dir. Two daemons on one state dir would interleave
 * their decision logs (each chains its records from what it read at start)
 * and the one that stops first would delete the other's URL file.
 *
 * The lock is an exclusive lock the operating system holds for the process
 * (a POSIX fcntl lock on `agentd.lock`), so it ends with the process however
 * the process ends — SIGKILL, a crash, a reboot — and a lock left behind
 * can never block a new start, even when the old pid has been reused. Node
 * has no flock/fcntl API of its own; its built-in SQLite (node:sqlite) takes
 * exactly this lock on a database file in exclusive locking mode, so the
 * lock file is an empty SQLite database that is never written. It is never
 * deleted either: removing a lock file while it is locked lets a second
 * process lock a new file under the same name.
 *
 * `agentd.pid` names the holder, for the message a second daemon prints; it
 * is information only, the lock decides.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

/** SQLite's SQLITE_BUSY: another process holds the lock. */
const SQLITE_BUSY = 5;

/** lockFile is the file agentd holds locked while it runs on `stateDir`. */
export function lockFile(stateDir: string): string {
  return join(stateDir, 'agentd.lock');
}

/** pidFile names the pid of the agentd that holds the lock on `stateDir`. */
export function pidFile(stateDir: string): string {
  return join(stateDir, 'agentd.pid');
}

/** StateDirBusy: another running agentd holds the state dir. */
export class StateDirBusy extends Error {
  override readonly name = 'StateDirBusy';
  readonly stateDir: string;
  /** The holder's pid as it wrote it in agentd.pid; undefined when that file names no live process. */
  readonly holderPid: number | undefined;

  constructor(stateDir: string, holderPid: number | undefined) {
    const holder = holderPid === undefined ? `another process (${pidFile(stateDir)} names no live one)` : `agentd pid ${holderPid}`;
    super(`state dir ${stateDir} is in use by ${holder}: stop that agentd first, or give this one another --state-dir`);
    this.stateDir = stateDir;
    this.holderPid = holderPid;
  }
}

/** StateLockError: the lock could not be taken for a reason other than another holder (permissions, a file that is not a lock). */
export class StateLockError extends Error {
  override readonly name = 'StateLockError';
}

export interface StateLock {
  /** release removes agentd.pid and drops the lock; idempotent. */
  release(): void;
}

/** How many times a start tries a busy lock (over ~150 ms) before it says the state dir is in use. */
const LOCK_ATTEMPTS = 10;

/** rollback ends a transaction a refused BEGIN or COMMIT may have left open, so the lock can be tried again. */
function rollback(db: DatabaseSync): void {
  try {
    if (db.isTransaction) db.exec('ROLLBACK');
  } catch {
    // nothing was open
  }
}

/** How long a refused start waits for the holder's pid, which the holder writes just after it takes the lock. */
const HOLDER_PID_WAIT_MS = 1000;

/**
 * lockStateDir takes the lock on `stateDir` (which must exist) for this
 * process until release() or exit, and writes this pid to agentd.pid.
 * Rejects with StateDirBusy when another process holds it (it tries the lock
 * again for ~150 ms, then waits up to a second for the holder's pid), StateLockError
 * when the lock file cannot be opened or locked.
 */
export async function lockStateDir(stateDir: string): Promise<StateLock> {
  const file = lockFile(stateDir);
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(file, { timeout: 0 });
  } catch (err) {
    throw new StateLockError(`cannot open the lock file ${file}: ${messageOf(err)}`);
  }
  for (let attempt = 1; ; attempt++) {
    try {
      // EXCLUSIVE locking mode keeps the lock after the transaction ends; the
      // journal in memory leaves no agentd.lock-journal beside the file.
      db.exec('PRAGMA locking_mode = EXCLUSIVE; PRAGMA journal_mode = MEMORY; BEGIN EXCLUSIVE; COMMIT;');
      break;
    } catch (err) {
      const busy = errcodeOf(err) === SQLITE_BUSY;
      if (busy && attempt < LOCK_ATTEMPTS) {
        // Two starts at the same instant can each find the other half-way through taking the lock, and both be refused:
        // a busy lock is tried again after a random pause, so one of them takes it (a real holder keeps it busy throughout).
        rollback(db);
        await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 25));
        continue;
      }
      db.close();
      if (busy) throw new StateDirBusy(stateDir, await holderOf(stateDir));
      throw new StateLockError(`cannot lock ${file}: ${messageOf(err)}`);
    }
  }
  try {
    writeFileSync(pidFile(stateDir), `${process.pid}\n`, { mode: 0o600 });
  } catch (err) {
    db.close();
    throw new StateLockError(`cannot write ${pidFile(stateDir)}: ${messageOf(err)}`);
  }
  let held = true;
  return {
    release() {
      if (!held) return;
      held = false;
      // The pid file goes first: once the lock is dropped it may be the next holder's.
      if (readHolder(stateDir) === process.pid) rmSync(pidFile(stateDir), { force: true });
      db.close();
    },
  };
}

/** holderOf is the live pid in agentd.pid, waiting a moment for a holder that has the lock but has not written its pid yet (the file is missing or names a dead process). */
async function holderOf(stateDir: string): Promise<number | undefined> {
  const deadline = Date.now() + HOLDER_PID_WAIT_MS;
  for (;;) {
    const pid = readHolder(stateDir);
    if (pid !== undefined && isAlive(pid)) return pid;
    if (Date.now() > deadline) return undefined;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readHolder(stateDir: string): number | undefined {
  try {
    const pid = Number(readFileSync(pidFile(stateDir), 'utf8').trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

const errcodeOf = (err: unknown): unknown => (err as { errcode?: unknown } | null)?.errcode;
const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));
