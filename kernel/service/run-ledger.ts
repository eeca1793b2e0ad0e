/**
 * RunLedger is what agentd keeps about its run in the state dir so that the
 * next run can account for it, in `agentd.db` (node:sqlite, write-ahead
 * journal, no fsync per change: what a kill -9 of agentd leaves is in the
 * page cache, which is what this is for):
 * - `live`: a row per process from its spawn record to its exit record,
 *   kept by watching the records agentd writes. Rows there at start belong to
 *   processes the previous agentd was running when it ended without
 *   recording their end (kill -9, a crash, the OOM killer): agentd records an
 *   exit for each before it takes work, so the log says how every process ended.
 * - `counters`: approval ids, reserved a block at a time (the block's end is
 *   stored before any id of it is handed out), so an id is never handed out
 *   twice across restarts and an agent outside the kernel polling an old id
 *   cannot see another's question answered.
 * - `approvals`: every question asked and not yet answered, from the gate's
 *   events. Rows there at start are questions the previous run left pending:
 *   agentd reopens those of agents outside the kernel (their pollers can
 *   still get the answer and redeem it) and records the end of those whose
 *   process is gone (kernel/service/durable-approvals.ts).
 * - `answers`: the answers to questions of agents outside the kernel, until
 *   their grant is redeemed or expires (GRANT_TTL_MS after the answer): the
 *   next run restores them, so an agent polling through a restart still
 *   reads its answer and redeems an approval once (an attacker pass: an
 *   approved, unredeemed question was lost on any restart, and its asker
 *   was told it had never opened it).
 * The ledger never fails a decision: a change it cannot store is a warning.
 */
import { join } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import type { DecisionRecorder } from '../../syscalls/records.ts';
import type { ApprovalGate, ApprovalStatus, PendingApproval } from '../approvals.ts';
import { observed } from '../recorder/observed.ts';
import { GRANT_TTL_MS } from './grants.ts';

/** The ledger's file in the state dir. */
export const LEDGER_FILE = 'agentd.db';

/** Approval ids reserved per write of the counter. */
const ID_BLOCK = 1000;

/** LeftOpen is a process the previous run started and never recorded the end of. */
export interface LeftOpen {
  readonly pid: number;
  readonly agentId: string;
  readonly detail: string;
}

export class RunLedger {
  private readonly db: DatabaseSync;
  private readonly started: StatementSync;
  private readonly ended: StatementSync;
  private readonly answered: StatementSync;
  private readonly spent: StatementSync;
  private warned = false;

  private constructor(db: DatabaseSync) {
    this.db = db;
    this.started = db.prepare('INSERT OR REPLACE INTO live (pid, agent, detail) VALUES (?, ?, ?)');
    this.ended = db.prepare('DELETE FROM live WHERE pid = ?');
    this.answered = db.prepare('DELETE FROM approvals WHERE id = ?');
    this.spent = db.prepare('DELETE FROM answers WHERE id = ?');
  }

  /** open opens (or creates) the ledger of `stateDir`. */
  static open(stateDir: string): RunLedger {
    const db = new DatabaseSync(join(stateDir, LEDGER_FILE));
    db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
      CREATE TABLE IF NOT EXISTS live (pid INTEGER PRIMARY KEY, agent TEXT NOT NULL, detail TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, next INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS approvals (id TEXT PRIMARY KEY, question TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS answers (id TEXT PRIMARY KEY, status TEXT NOT NULL, until INTEGER NOT NULL);`);
    return new RunLedger(db);
  }

  /**
   * settleLeftOpen hands each process the previous run left open to
   * `recordEnd`, then forgets them all; if recordEnd throws (the log cannot
   * be written), they stay for the next start and the error goes on.
   */
  settleLeftOpen(recordEnd: (left: LeftOpen) => void): number {
    const rows = this.db.prepare('SELECT pid, agent, detail FROM live ORDER BY pid').all() as { pid: number; agent: string; detail: string }[];
    for (const r of rows) recordEnd({ pid: r.pid, agentId: r.agent, detail: r.detail });
    this.db.exec('DELETE FROM live');
    return rows.length;
  }

  /** approvalIds hands out approval numbers never handed out before on this state dir. */
  approvalIds(): () => number {
    const read = this.db.prepare("SELECT next FROM counters WHERE name = 'approval'");
    const reserve = this.db.prepare("INSERT OR REPLACE INTO counters (name, next) VALUES ('approval', ?)");
    let next = ((read.get() as { next: number } | undefined)?.next ?? 1) as number;
    let end = next;
    return () => {
      if (next >= end) {
        end = next + ID_BLOCK;
        reserve.run(end);
      }
      return next++;
    };
  }

  /** leftPending lists the questions the previous run left unanswered, oldest first (a row that does not parse is dropped with a warning). */
  leftPending(): PendingApproval[] {
    const questions = this.readRows<PendingApproval>('SELECT id, question AS json FROM approvals', (id) => `approval ${id}`, (id) => this.forget(id));
    return questions.toSorted((a, b) => a.requestedAt - b.requestedAt);
  }

  /** readRows parses the `json` column of the rows `sql` selects; one that does not parse is dropped (`drop`) with a warning naming it (`what`). */
  private readRows<T>(sql: string, what: (id: string) => string, drop: (id: string) => void): T[] {
    const rows = this.db.prepare(sql).all() as { id: string; json: string }[];
    const read: T[] = [];
    for (const row of rows) {
      try {
        read.push(JSON.parse(row.json) as T);
      } catch {
        process.emitWarning(`agentd run ledger: ${what(row.id)} is unreadable and is dropped`);
        drop(row.id);
      }
    }
    return read;
  }

  /** forget drops a question from the ledger (answered, or closed at start). */
  forget(id: string): void {
    this.guarded(`forget approval ${id}`, () => this.answered.run(id));
  }

  /**
   * keeping keeps every question `gate` asks in the ledger until it is
   * answered, and the answer to one from outside the kernel (bound to its
   * request: a digest) until its grant is spent or expires.
   */
  keeping(gate: ApprovalGate): void {
    const asked = this.db.prepare('INSERT OR REPLACE INTO approvals (id, question) VALUES (?, ?)');
    const answered = this.db.prepare('INSERT OR REPLACE INTO answers (id, status, until) VALUES (?, ?, ?)');
    // Answers past their grant's time go as new ones come: the table holds at most GRANT_TTL_MS of answers.
    const expired = this.db.prepare('DELETE FROM answers WHERE until <= ?');
    gate.events.subscribe((event) => {
      const id = event.approval.id;
      if (event.kind === 'asked') {
        this.guarded(`keep approval ${id}`, () => asked.run(id, JSON.stringify(event.approval)));
        return;
      }
      const status = gate.status(id);
      if (event.approval.pid === 0 && event.approval.digest !== undefined && status !== undefined && status.answeredAt !== undefined) {
        this.guarded(`keep the answer to approval ${id}`, () => {
          expired.run(status.answeredAt!);
          answered.run(id, JSON.stringify(status), status.answeredAt! + GRANT_TTL_MS);
        });
      }
      this.forget(id);
    });
  }

  /** leftAnswered lists the answers the previous run kept that can still be redeemed at `now`, oldest first; it drops the rest. */
  leftAnswered(now: number): ApprovalStatus[] {
    this.guarded('drop expired answers', () => this.db.prepare('DELETE FROM answers WHERE until <= ?').run(now));
    const kept = this.readRows<ApprovalStatus>('SELECT id, status AS json FROM answers', (id) => `the answer to approval ${id}`, (id) => this.spend(id));
    return kept.toSorted((a, b) => (a.answeredAt ?? 0) - (b.answeredAt ?? 0));
  }

  /** spend drops the answer to approval `id`: its grant was redeemed (once), or it went to another node. */
  spend(id: string): void {
    this.guarded(`spend approval ${id}`, () => this.spent.run(id));
  }

  private guarded(what: string, run: () => unknown): void {
    try {
      run();
    } catch (err) {
      if (this.warned) return;
      this.warned = true;
      process.emitWarning(`agentd run ledger: cannot ${what} (${err instanceof Error ? err.message : String(err)}); a restart may not account for it`);
    }
  }

  /** watching is `inner` with the ledger kept from the spawn and exit records that pass through it. */
  watching(inner: DecisionRecorder): DecisionRecorder {
    return observed(inner, (entry) => {
      if ((entry.type === 'spawn' || entry.type === 'exit') && entry.pid > 0) this.note(entry.type, entry.pid, entry.agentId, entry.detail);
    });
  }

  private note(type: 'spawn' | 'exit', pid: number, agentId: string, detail: string): void {
    this.guarded(`note ${type} of pid ${pid}`, () => (type === 'spawn' ? this.started.run(pid, agentId, detail) : this.ended.run(pid)));
  }

  close(): void {
    this.db.close();
  }
}
