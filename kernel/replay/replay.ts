/**
 * Replayer re-decides a decision log's requests under a candidate policy,
 * in order and with state: rule limits (max_calls, rates) are counted as
 * the candidate lets calls through, at the times the records were made;
 * time windows are evaluated at those times; token budgets read the tokens
 * each agent had used when it asked (as recorded); intent contracts'
 * pre-conditions are evaluated, their counters counting the write calls
 * that ran in the original (by their outcome records) and that the
 * candidate lets through. Each request is rebuilt from the record's fields
 * and its `req` (kernel/recorder/policy-input.ts).
 *
 * Counters live as long as a kernel: at each kernel's start record
 * (kernel/recorder/start-record.ts) rule limits start from zero again
 * (unless the cluster counted them: they then go on across nodes and
 * restarts), and contracts' counters do, per node (each node counts its
 * own). An agent at autonomy supervised has its allowed changes turned
 * into questions, as the kernel did (the record says so).
 *
 * What replay does not re-decide, and says so: a call the kernel decided
 * before the policy (capabilities, circuit breakers, autonomy observe, the
 * kernel's own rules, an approval grant redeemed, a cluster store out of
 * reach) keeps its decision (they are counted as `kernel`); a call whose
 * candidate rules or contracts read an argument the record kept only as a
 * digest is `undecidable` (never counted as unchanged), and so is a later
 * call of the same agent whose limits or contracts that call may have
 * counted. Trust scores are the recorded ones (the original run's denials
 * made them); a call the candidate sends to a human is assumed answered as
 * it was in the original run.
 */
import type { ContractLedger } from '../policy/contracts.ts';
import { PolicyEngine, SHARED_LIMITS_RULE } from '../policy/engine.ts';
import type { LoadedPolicy } from '../policy/load.ts';
import type { PolicyRequest } from '../../abi/policy-request.ts';
import type { Effect } from '../../abi/kinds.ts';
import { InputError, questionOf } from '../recorder/policy-input.ts';
import { readStart } from '../recorder/start-record.ts';
import { argNamesOf, readsWithheld, redecide } from './redecide.ts';

/** ReplayError is input replay cannot use: `where` names the log and record. */
export class ReplayError extends Error {
  constructor(where: string, why: string) {
    super(`${where}: ${why}`);
    this.name = 'ReplayError';
  }
}

/** A record as read from a log (fields are checked as they are used). */
export type LogRecord = Readonly<Record<string, unknown>>;

export interface ReplayedCall {
  /** The cluster node whose stream holds the record (absent for a file log). */
  readonly node?: string;
  readonly seq: number;
  readonly time: number;
  readonly agent: string;
  readonly syscall: string;
  readonly tool?: string;
  readonly path?: string;
  readonly before: { readonly effect: Effect; readonly rule: string };
}

export interface ReplayChange extends ReplayedCall {
  readonly after: { readonly effect: Effect; readonly rule: string; readonly reason: string };
}

export interface Undecidable extends ReplayedCall {
  readonly why: string;
}

export interface ReplaySummary {
  /** The candidate policy's version. */
  readonly policy: string;
  readonly records: number;
  /** Syscall (and /v1/evaluate) decision records. */
  readonly decisions: number;
  /** Decisions the candidate re-decided. */
  readonly replayed: number;
  readonly unchanged: number;
  /** Same effect, another rule. */
  readonly otherRule: number;
  readonly changed: number;
  readonly undecidable: number;
  /** Decided by the kernel before the policy: kept as recorded. */
  readonly kernel: number;
  /** Changes by direction (`allow→deny` …), by `old rule → new rule`, by agent, by syscall or tool. */
  readonly directions: Readonly<Record<string, number>>;
  readonly byRule: Readonly<Record<string, number>>;
  readonly byAgent: Readonly<Record<string, number>>;
  readonly bySyscall: Readonly<Record<string, number>>;
  /** The first changes and undecidable records, in log order. */
  readonly changes: readonly ReplayChange[];
  readonly undecidables: readonly Undecidable[];
}

const EFFECTS: ReadonlySet<string> = new Set<Effect>(['allow', 'deny', 'require_approval']);

/** kernelDecided: the rule of a decision the kernel makes before the policy is asked (no `req` is recorded for it). */
const kernelDecided = (rule: string): boolean => rule === 'capability' || rule.startsWith('kernel.');

/** The latest time a JavaScript Date holds, ms either side of 1970. */
const MAX_TIME = 8.64e15;

/** The most write calls waiting for their outcome record (a process killed mid-call never gets one): past it the oldest are forgotten. */
const MAX_WAITING = 100_000;

/** counts is a tally keyed by names agents choose (a tool called `__proto__` is one more key). */
const counts = (): Record<string, number> => Object.create(null) as Record<string, number>;

function bump(tally: Record<string, number>, key: string): void {
  tally[key] = (tally[key] ?? 0) + 1;
}

/** OUTCOME: an outcome record's detail, `of <seq>: ok, …` or `of <seq>: <ERRNO> …`. */
const OUTCOME = /^of (\d+): (ok|[A-Z]+)/;

/** A node of the trie of recorded capability lists: the set of the list that ends here, and the lists that go on. */
interface CapsNode {
  set?: ReadonlySet<string>;
  readonly next: Map<string, CapsNode>;
}

export class Replayer {
  private readonly engine: PolicyEngine;
  private readonly policy: LoadedPolicy;
  private readonly show: number;
  private now = 0;
  /** Capability sets, one per distinct recorded list: a trie on its items. */
  private readonly capSets: CapsNode = { next: new Map() };
  /** Arguments any rule's args patterns name: a withheld one of these may decide. */
  private readonly argNames: ReadonlySet<string>;
  /** Write calls that ran and that contracts of the candidate cover, by node and the seq their outcome will name. */
  private readonly waiting = new Map<string, PolicyRequest>();
  /** Per node and pid, the last call that asked a human: its approval record's seq stands for it in outcomes. */
  private readonly asking = new Map<string, { seq: number; request: PolicyRequest | undefined }>();
  /** Contracts' counters per node (each node counts its own). */
  private readonly ledgers = new Map<string, ContractLedger>();
  private node = '';
  /** Per agent, the limited rules and contracts an undecidable call may have counted against: `agent\0rule` and `agent\0contract:id`, to the first such record. */
  private readonly tainted = new Map<string, number>();

  private records = 0;
  private decisions = 0;
  private replayed = 0;
  private unchanged = 0;
  private otherRule = 0;
  private changed = 0;
  private undecidable = 0;
  private kernel = 0;
  private readonly directions: Record<string, number> = counts();
  private readonly byRule: Record<string, number> = counts();
  private readonly byAgent: Record<string, number> = counts();
  private readonly bySyscall: Record<string, number> = counts();
  private readonly changes: ReplayChange[] = [];
  private readonly undecidables: Undecidable[] = [];

  /** `show`: how many changes (and undecidable records) to keep for the report. */
  constructor(policy: LoadedPolicy, show = 20) {
    this.policy = policy;
    this.engine = new PolicyEngine(policy, () => this.now);
    this.show = show;
    this.argNames = argNamesOf(policy);
  }

  /**
   * feed re-decides one record (records come in log order; `node` names the
   * cluster node whose stream holds it); ReplayError naming `where()` when it
   * cannot be used.
   */
  feed(record: LogRecord, where: () => string, node = ''): void {
    this.records++;
    const type = record.type;
    if (node !== this.node || this.ledgers.size === 0) this.enter(node);
    if (type === 'syscall') this.decision(record, where);
    else if (type === 'outcome') this.outcome(record);
    else if (type === 'approval') this.approval(record);
    else if (type === 'policy') this.started(record);
  }

  /** wants says whether a record of `type` matters to the replay now (a source need not parse one that does not: it calls `pass`). */
  wants(type: string): boolean {
    return type === 'syscall' || type === 'policy' || (type === 'outcome' && this.waiting.size > 0) || (type === 'approval' && this.asking.size > 0);
  }

  /** enter makes `node`'s contract counters the engine's. */
  private enter(node: string): void {
    this.node = node;
    let ledger = this.ledgers.get(node);
    if (ledger === undefined) this.ledgers.set(node, (ledger = this.engine.useContracts()));
    else this.engine.useContracts(ledger);
  }

  /** started: a kernel started (its start record): its counters began from zero. */
  private started(record: LogRecord): void {
    const start = readStart(record.type, record.detail);
    if (start === undefined) return;
    if (start.limits === 'here') this.engine.counters.reset();
    this.ledgers.set(this.node, this.engine.useContracts());
    for (const key of [...this.waiting.keys(), ...this.asking.keys()]) {
      if (key.startsWith(`${this.node}\u0000`)) {
        this.waiting.delete(key);
        this.asking.delete(key);
      }
    }
  }

  /** pass counts a record that does not matter to the replay (wants said so). */
  pass(): void {
    this.records++;
  }

  private capabilities = (list: readonly string[]): ReadonlySet<string> => {
    // A trie on the list's items, not a key made of them: a capability may hold any character, and no string is built per record.
    let node = this.capSets;
    for (const cap of list) {
      let next = node.next.get(cap);
      if (next === undefined) node.next.set(cap, (next = { next: new Map() }));
      node = next;
    }
    return (node.set ??= new Set(list));
  };

  private decision(record: LogRecord, where: () => string): void {
    this.decisions++;
    const { seq, time, rule, decision: effect } = record;
    if (typeof seq !== 'number' || typeof time !== 'number') throw new ReplayError(where(), 'a decision record without a numeric seq and time');
    if (!Number.isSafeInteger(time) || Math.abs(time) > MAX_TIME) throw new ReplayError(where(), `record ${seq} has a time (${time}) that is no moment: not a record as the recorder writes it`);
    if (typeof rule !== 'string' || typeof effect !== 'string' || !EFFECTS.has(effect)) throw new ReplayError(where(), `record ${seq} has no decision and rule`);
    const before = { effect: effect as Effect, rule };
    // A cluster store out of reach denied it (fail closed): a fact of that moment, not of the policy.
    if (record.req === undefined || rule === SHARED_LIMITS_RULE) {
      if (kernelDecided(rule)) {
        this.kernel++;
        return;
      }
      throw new ReplayError(where(), `record ${seq} (${String(record.syscall)}, rule ${rule}) does not carry the question the policy was asked (no 'req' field): the log was written by an agent-kernel older than replay, and cannot be replayed`);
    }
    let request: PolicyRequest;
    let withheld: readonly string[];
    let unnamed: boolean;
    try {
      const question = questionOf(record as unknown as Parameters<typeof questionOf>[0], this.capabilities);
      request = question.request;
      withheld = question.withheld;
      unnamed = question.unnamed > 0;
      this.engine.counters.setTokens(request.agentId, question.tokens);
    } catch (err) {
      if (err instanceof InputError) throw new ReplayError(where(), `record ${seq}: ${err.message}`);
      throw err;
    }
    this.now = time;
    const call = (): ReplayedCall => ({ ...(this.node !== '' ? { node: this.node } : {}), seq, time, agent: request.agentId, syscall: request.syscall, ...(request.tool !== undefined ? { tool: request.tool } : {}), ...(request.path !== undefined ? { path: request.path } : {}), before });
    const unread = (withheld.length === 0 && !unnamed ? undefined : readsWithheld(this.policy, this.argNames, request, withheld, unnamed)) ?? this.taintedBy(request);
    if (unread !== undefined) {
      this.undecidable++;
      if (this.undecidables.length < this.show) this.undecidables.push({ ...call(), why: unread });
      // What this call would have counted is unknown: later calls of the agent counted by the same limits or contracts are too.
      if (effect !== 'deny') this.taint(request, seq);
      return;
    }
    this.replayed++;
    // The agent was at autonomy supervised: an allow of its change was a question then, and is now.
    const after = redecide(this.engine, request, rule);
    this.follow(record, request, before.effect, after.effect);
    if (after.effect === before.effect) {
      if (after.rule === before.rule) this.unchanged++;
      else this.otherRule++;
      return;
    }
    this.changed++;
    bump(this.directions, `${before.effect}→${after.effect}`);
    bump(this.byRule, `${before.rule} → ${after.rule}`);
    bump(this.byAgent, request.agentId);
    bump(this.bySyscall, request.tool ?? request.syscall);
    if (this.changes.length < this.show) this.changes.push({ ...call(), after: { effect: after.effect, rule: after.rule, reason: after.reason } });
  }

  /** counting lists the keys of what counts this call's calls: its candidate rules with max_calls or a rate, and the contracts covering it. */
  private counting(request: PolicyRequest): string[] {
    const compiled = this.policy.compiled;
    const keys: string[] = [];
    for (const rule of compiled.relevant(request.syscall, request.tool)) {
      if (rule.limits?.max_calls !== undefined || rule.limits?.rate !== undefined) keys.push(`${request.agentId}\u0000${rule.id}`);
    }
    for (const c of compiled.contracts.covering(request.syscall, request.tool)) keys.push(`${request.agentId}\u0000contract:${c.id}`);
    return keys;
  }

  private taint(request: PolicyRequest, seq: number): void {
    for (const key of this.counting(request)) if (!this.tainted.has(key)) this.tainted.set(key, seq);
  }

  /** taintedBy says why a call cannot be re-decided when an earlier undecidable call of its agent may have counted against its limits or contracts. */
  private taintedBy(request: PolicyRequest): string | undefined {
    if (this.tainted.size === 0) return undefined;
    for (const key of this.counting(request)) {
      const at = this.tainted.get(key);
      if (at !== undefined) return `${key.slice(key.indexOf('\u0000') + 1)} counts this agent's calls, and record ${at}'s call (undecidable) may have been counted`;
    }
    return undefined;
  }

  /**
   * follow keeps what contracts' counters need: a write call that ran in
   * the original run and that the candidate lets through is counted when
   * its outcome record comes (a call the candidate asks about is assumed
   * answered as it was).
   */
  private follow(record: LogRecord, request: PolicyRequest, before: Effect, after: Effect): void {
    const pid = typeof record.pid === 'number' ? record.pid : -1;
    const covered = request.access === 'write' && after !== 'deny' && this.engine.hasContracts(request.syscall, request.tool);
    if (before === 'require_approval') {
      this.asking.set(`${this.node}\u0000${pid}`, { seq: record.seq as number, request: covered ? request : undefined });
      return;
    }
    if (before !== 'allow' || !covered) return;
    this.wait(record.seq as number, request);
  }

  private wait(seq: number, request: PolicyRequest): void {
    if (this.waiting.size >= MAX_WAITING) this.waiting.delete(this.waiting.keys().next().value!);
    this.waiting.set(`${this.node}\u0000${seq}`, request);
  }

  /** approval: a granted question stands for its call in the outcome that follows (outcomes name the approval record). */
  private approval(record: LogRecord): void {
    const pid = typeof record.pid === 'number' ? record.pid : -1;
    const key = `${this.node}\u0000${pid}`;
    const asked = this.asking.get(key);
    if (asked === undefined) return;
    this.asking.delete(key);
    if (asked.request !== undefined && typeof record.seq === 'number' && typeof record.detail === 'string' && record.detail.startsWith('granted ')) this.wait(record.seq, asked.request);
  }

  private outcome(record: LogRecord): void {
    if (this.waiting.size === 0 || typeof record.detail !== 'string') return;
    const m = OUTCOME.exec(record.detail);
    if (m === null) return;
    const of = `${this.node}\u0000${Number(m[1])}`;
    const request = this.waiting.get(of);
    if (request === undefined) return;
    this.waiting.delete(of);
    // The result itself is not in the log: post-conditions read it as null; their failures are not replay's business, the counters are.
    this.engine.afterward(request, { ok: m[2] === 'ok' });
  }

  summary(): ReplaySummary {
    return {
      policy: this.policy.version,
      records: this.records,
      decisions: this.decisions,
      replayed: this.replayed,
      unchanged: this.unchanged,
      otherRule: this.otherRule,
      changed: this.changed,
      undecidable: this.undecidable,
      kernel: this.kernel,
      directions: this.directions,
      byRule: this.byRule,
      byAgent: this.byAgent,
      bySyscall: this.bySyscall,
      changes: this.changes,
      undecidables: this.undecidables,
    };
  }
}

