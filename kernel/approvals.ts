/**
 * ApprovalGate holds require_approval calls until someone answers: an
 * automatic approver (e.g. `--approve=allow`), an operator through the
 * kernel API, or the timeout (deny). Only ring 0 can answer: there is no
 * syscall for it, and an answer naming the requesting agent is refused.
 * Every question and answer is published on `events` for watchers.
 */
import { createHash } from 'node:crypto';
import { Subject } from 'rxjs';
import { KernelError } from '../abi/errno.ts';
import type { ApprovalAnswer, Approvals, ApprovalTicket } from '../syscalls/context.ts';

export interface PendingApproval extends ApprovalTicket {
  /** The call's arguments as whoever answers sees them: plain JSON up to MAX_ARGUMENTS_CHARS of text, else their size and digest; bytes by their length. */
  readonly arguments?: unknown;
  readonly id: string;
  readonly requestedAt: number;
  readonly deadline: number;
}

export type ApprovalEvent =
  | { readonly kind: 'asked'; readonly approval: PendingApproval }
  | { readonly kind: 'answered'; readonly approval: PendingApproval; readonly answer: ApprovalAnswer };

/** Approver answers automatically, or returns undefined to leave the question to an operator. */
export type Approver = (approval: PendingApproval) => ApprovalAnswer | undefined | Promise<ApprovalAnswer | undefined>;

interface Waiting {
  readonly approval: PendingApproval;
  readonly resolve: (answer: ApprovalAnswer) => void;
  readonly timer: NodeJS.Timeout;
  /** An approval of it is being confirmed (ApprovalGate's confirm): a second waits. */
  confirming?: boolean;
}

/**
 * Confirm makes an approval the cluster's before it takes effect (a compare-and-set in Redis: still pending, still this
 * node's); it rejects with a KernelError when it cannot (EIO: Redis away or this node cut off past its lease; EAGAIN;
 * EEXIST: answered or taken over elsewhere). Denials need none: a deny is safe wherever it is given.
 */
export type Confirm = (approval: PendingApproval, answer: ApprovalAnswer) => Promise<void>;

/** ApprovalStatus is one question as a poller sees it. */
export interface ApprovalStatus {
  readonly approval: PendingApproval;
  readonly status: 'pending' | 'approved' | 'denied';
  readonly answer?: ApprovalAnswer;
  /** When it was answered (the gate's clock). */
  readonly answeredAt?: number;
}

/**
 * Answered questions kept for pollers (and for redeeming a grant): at most
 * KEEP_ANSWERED_PER_AGENT of one agent's, so an agent's questions push out
 * only its own (found by an attacker pass: 1,100 questions refused at once
 * pushed out another agent's approval in a second), and KEEP_ANSWERED in
 * all, which only as many agents as the operator made can reach.
 */
export const KEEP_ANSWERED_PER_AGENT = 256;
export const KEEP_ANSWERED = 16_384;
/** The longest JSON text of a question's arguments shown as they are; longer ones are shown by size and digest. */
export const MAX_ARGUMENTS_CHARS = 4096;

/** alreadyAnswered is the EEXIST for answering question `id` again, when `status` says it was answered; undefined otherwise. */
export function alreadyAnswered(id: string, status: ApprovalStatus | undefined): KernelError | undefined {
  if (status === undefined || status.status === 'pending') return undefined;
  return new KernelError('EEXIST', `approval ${id} was already answered (${status.status} by ${status.answer?.approver ?? '?'})`);
}

/** shownArguments is what approvers see of a call's arguments: bounded, with bytes as their length. */
export function shownArguments(args: unknown): unknown {
  let text: string;
  try {
    text = JSON.stringify(args, (_key, value: unknown) => (value instanceof Uint8Array ? { bytes: value.length } : value)) ?? 'null';
  } catch {
    return { unreadable: true };
  }
  if (text.length <= MAX_ARGUMENTS_CHARS) return JSON.parse(text) as unknown;
  return { chars: text.length, digest: `sha256:${createHash('sha256').update(text).digest('hex')}` };
}

/** The most questions one agent may have waiting; past it a new one is denied at once, without asking anyone. */
export const MAX_PENDING_PER_AGENT = 64;
/** The most questions waiting in all. */
export const MAX_PENDING = 4096;

export class ApprovalGate implements Approvals {
  readonly events = new Subject<ApprovalEvent>();
  private readonly waiting = new Map<string, Waiting>();
  /** How many questions each agent has waiting. */
  private readonly perAgent = new Map<string, number>();
  /** Recently answered questions, oldest first, for pollers. */
  private readonly answered = new Map<string, ApprovalStatus>();
  /** The ids in `answered` by agent, oldest first. */
  private readonly answeredBy = new Map<string, Set<string>>();
  private readonly approver: Approver | undefined;
  private readonly clock: () => number;
  private readonly idPrefix: string;
  private readonly ids: () => number;
  private readonly confirm: Confirm | undefined;

  constructor(options: { approver?: Approver; clock?: () => number; idPrefix?: string; ids?: () => number; confirm?: Confirm } = {}) {
    this.approver = options.approver;
    this.confirm = options.confirm;
    this.clock = options.clock ?? Date.now;
    this.idPrefix = options.idPrefix ?? 'ap-';
    let next = 1;
    this.ids = options.ids ?? (() => next++);
  }

  ask(ticket: ApprovalTicket): Promise<ApprovalAnswer> {
    return this.open(ticket).answer;
  }

  /** open asks like ask() and also returns the question's id (for pollers outside the kernel). */
  open(ticket: ApprovalTicket): { id: string; answer: Promise<ApprovalAnswer> } {
    const now = this.clock();
    const { arguments: raw, ...rest } = ticket;
    return this.wait({ ...rest, ...(raw !== undefined ? { arguments: shownArguments(raw) } : {}), id: `${this.idPrefix}${this.ids()}`, requestedAt: now, deadline: now + ticket.timeoutMs });
  }

  /**
   * reopen asks again a question an earlier run of the kernel left pending
   * (agentd keeps them in its run ledger): same id, same deadline (one past
   * already is denied at once by the timeout), and the approver is asked
   * again (its earlier answer may have found no one to take it).
   */
  reopen(approval: PendingApproval): { id: string; answer: Promise<ApprovalAnswer> } {
    if (this.waiting.has(approval.id) || this.answered.has(approval.id)) throw new KernelError('EEXIST', `approval ${approval.id} is already known`);
    return this.wait(approval);
  }

  /** restoreAnswered remembers an answer the previous run gave (agentd's run ledger), for its asker to read and redeem; false if `id` is known here already. */
  restoreAnswered(status: ApprovalStatus): boolean {
    const id = status.approval.id;
    if (status.status === 'pending' || this.waiting.has(id) || this.answered.has(id)) return false;
    this.keep(status);
    return true;
  }

  /** letGo drops pending question `id` without answering it (another node has taken it over): false if it is not pending here. */
  letGo(id: string): boolean {
    const w = this.waiting.get(id);
    if (w === undefined) return false;
    clearTimeout(w.timer);
    this.waiting.delete(id);
    this.forgetOne(w.approval.agentId);
    return true;
  }

  /** close lets go of every pending question without answering it (agentd stops; the next run reopens them): no timer is left running. */
  close(): void {
    for (const w of this.waiting.values()) clearTimeout(w.timer);
    this.waiting.clear();
    this.perAgent.clear();
  }

  private forgetOne(agentId: string): void {
    const n = (this.perAgent.get(agentId) ?? 1) - 1;
    if (n <= 0) this.perAgent.delete(agentId);
    else this.perAgent.set(agentId, n);
  }

  private wait(approval: PendingApproval): { id: string; answer: Promise<ApprovalAnswer> } {
    const mine = this.perAgent.get(approval.agentId) ?? 0;
    const answered = new Promise<ApprovalAnswer>((resolve) => {
      const left = Math.max(0, approval.deadline - this.clock());
      const timer = setTimeout(() => this.settle(approval.id, { approved: false, approver: 'timeout', reason: `no answer within ${approval.timeoutMs} ms` }), left);
      this.waiting.set(approval.id, { approval, resolve, timer });
      this.perAgent.set(approval.agentId, mine + 1);
    });
    this.events.next({ kind: 'asked', approval });
    // Questions cost whoever answers them (a person, a program, a model): an agent cannot pile them up.
    const full = mine >= MAX_PENDING_PER_AGENT ? `agent ${approval.agentId} has ${mine} questions waiting` : this.waiting.size > MAX_PENDING ? `${MAX_PENDING} questions are waiting` : undefined;
    if (full !== undefined) {
      this.settle(approval.id, { approved: false, approver: 'kernel', reason: `${full}: no more until some are answered` });
      return { id: approval.id, answer: answered };
    }
    if (this.approver !== undefined) {
      Promise.resolve()
        .then(() => this.approver!(approval))
        .then(
          (answer) => answer && this.confirmed(approval.id, answer),
          () => this.settle(approval.id, { approved: false, approver: 'approver-error', reason: 'the approver failed' }),
        );
    }
    return { id: approval.id, answer: answered };
  }

  /** confirmed settles an approver's answer, an approval once confirmed (a confirm that fails makes it a denial: no one is there to try again). */
  private confirmed(id: string, answer: ApprovalAnswer): void {
    const waiting = this.waiting.get(id);
    if (!answer.approved || this.confirm === undefined || waiting === undefined) {
      this.settle(id, answer);
      return;
    }
    waiting.confirming = true;
    this.confirm(waiting.approval, answer).then(
      () => this.settle(id, answer),
      (err: unknown) => this.settle(id, { approved: false, approver: answer.approver, reason: `not approved: ${err instanceof Error ? err.message : String(err)}` }),
    );
  }

  private settle(id: string, answer: ApprovalAnswer): void {
    const waiting = this.waiting.get(id);
    if (waiting === undefined) return;
    this.waiting.delete(id);
    this.forgetOne(waiting.approval.agentId);
    clearTimeout(waiting.timer);
    this.keep({ approval: waiting.approval, status: answer.approved ? 'approved' : 'denied', answer, answeredAt: this.clock() });
    waiting.resolve(answer);
    this.events.next({ kind: 'answered', approval: waiting.approval, answer });
  }

  /** keep remembers an answered question, forgetting its agent's oldest past KEEP_ANSWERED_PER_AGENT and the oldest of all past KEEP_ANSWERED. */
  private keep(status: ApprovalStatus): void {
    const { id, agentId } = status.approval;
    this.answered.set(id, status);
    let mine = this.answeredBy.get(agentId);
    if (mine === undefined) this.answeredBy.set(agentId, (mine = new Set()));
    mine.add(id);
    if (mine.size > KEEP_ANSWERED_PER_AGENT) this.forgetAnswered(mine.values().next().value!);
    if (this.answered.size > KEEP_ANSWERED) this.forgetAnswered(this.answered.keys().next().value!);
  }

  private forgetAnswered(id: string): void {
    const status = this.answered.get(id);
    if (status === undefined) return;
    this.answered.delete(id);
    const mine = this.answeredBy.get(status.approval.agentId);
    mine?.delete(id);
    if (mine?.size === 0) this.answeredBy.delete(status.approval.agentId);
  }

  /** status reports a question pending or recently answered; undefined if unknown. */
  status(id: string): ApprovalStatus | undefined {
    const waiting = this.waiting.get(id);
    return waiting ? { approval: waiting.approval, status: 'pending' } : this.answered.get(id);
  }

  /** settled resolves with the question's status once it is answered, or after `ms` (still pending). */
  async settled(id: string, ms: number): Promise<ApprovalStatus | undefined> {
    const now = this.status(id);
    if (now === undefined || now.status !== 'pending') return now;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      const sub = this.events.subscribe((e) => e.kind === 'answered' && e.approval.id === id && done());
      function done() {
        clearTimeout(timer);
        sub.unsubscribe();
        resolve();
      }
    });
    return this.status(id);
  }

  /** list returns the questions waiting for an answer, oldest first. */
  list(): PendingApproval[] {
    return [...this.waiting.values()].map((w) => w.approval);
  }

  /**
   * answer approves or denies `id` on behalf of `approver`. ESRCH for an
   * unknown id, EEXIST for one already answered (as the webhook's callback
   * says); EPERM when the approver is the agent that asked (thrown at once).
   * A denial is settled at once; an approval, once confirmed (on a cluster:
   * the promise rejects, and the question stays pending, when it cannot be).
   */
  answer(id: string, approved: boolean, approver: string, reason = ''): Promise<void> {
    const waiting = this.waiting.get(id);
    if (waiting === undefined) throw alreadyAnswered(id, this.answered.get(id)) ?? new KernelError('ESRCH', `no pending approval ${id}`);
    const agent = waiting.approval.agentId;
    if (approver === agent || approver === `agent:${agent}`) throw new KernelError('EPERM', `agent ${agent} cannot answer its own request`);
    const answer = { approved, approver, reason: reason || (approved ? 'approved' : 'denied') };
    if (!approved || this.confirm === undefined) {
      this.settle(id, answer);
      return Promise.resolve();
    }
    if (waiting.confirming === true) throw new KernelError('EAGAIN', `approval ${id} is being answered already; try again`);
    waiting.confirming = true;
    return this.confirm(waiting.approval, answer).then(
      () => this.settle(id, answer),
      (err: unknown) => {
        waiting.confirming = false;
        throw err;
      },
    );
  }

  /** cancel denies every question from `pid` (the process ended). */
  cancel(pid: number): void {
    for (const [id, w] of this.waiting) {
      if (w.approval.pid === pid) this.settle(id, { approved: false, approver: 'kernel', reason: 'process ended' });
    }
  }
}

/** fixedApprover answers every question the same way: `--approve=allow|deny`. */
export function fixedApprover(approved: boolean): Approver {
  const approver = approved ? 'auto:allow' : 'auto:deny';
  return () => ({ approved, approver, reason: `--approve=${approved ? 'allow' : 'deny'}` });
}
