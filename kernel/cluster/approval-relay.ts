/**
 * ApprovalRelay makes one node's approval questions visible and answerable
 * through every node. The node that asks (the owner: its agent is blocked
 * there) writes the question to Redis before it may wait for an answer, and
 * writes the answer when it is settled. Listing reads Redis; answering or
 * waiting on another node's question is relayed to the owner, whose gate
 * decides (so the no-self-approval rule and the record stay in one place).
 *
 * Fail closed: a question that cannot be written to Redis is denied at once
 * — nobody on another node could see it — with the approver `cluster`.
 *
 * A question asked from outside the kernel (/v1/evaluate: pid 0, bound to
 * the request's digest) outlives its node: its asker is an agent elsewhere,
 * still polling. A node that stops releases such questions (node '' in
 * Redis, id in the orphan set), a node found dead has them released by the
 * burial (directory.ts), and the next node to beat adopts them: same id,
 * deadline and binding, answerable and redeemable through it.
 */
import type { ApprovalAnswer } from '../../syscalls/context.ts';
import { KernelError } from '../../abi/errno.ts';
import { alreadyAnswered, type ApprovalGate, type ApprovalStatus, type Approver, type PendingApproval } from '../approvals.ts';
import type { RedisHealth } from './health.ts';
import type { ClusterKeys, RedisClient } from './redis.ts';
import type { NodeRpc } from './rpc.ts';
import { forCjson } from './cjson.ts';

/** How long an answered question stays readable in Redis. */
const KEEP_ANSWERED_MS = 3_600_000;

/** ClusterApproval is a question as Redis holds it. */
export interface ClusterApproval extends ApprovalStatus {
  /** The node that owns it; '' while it waits for a node to adopt it. */
  readonly node: string;
  /** The node that owned it before, and why it let go (set when it is released). */
  readonly from?: string;
  readonly left?: 'stopped' | 'lost';
}

/** How many released questions one adoption takes (the rest wait for the next heartbeat): one script call stays short. */
const ADOPT_AT_ONCE = 64;

/**
 * ADOPT (Lua) KEYS: orphans. ARGV: approval key prefix, node, how many.
 * Takes up to ARGV[3] orphaned questions still pending (one node wins
 * each) and returns them as stored, now owned by ARGV[2]. One that does
 * not decode is left as it is, to expire.
 */
const ADOPT = `local taken = {}
for _, id in ipairs(redis.call('SPOP', KEYS[1], tonumber(ARGV[3]))) do
  local key = ARGV[1] .. id
  local raw = redis.call('GET', key)
  local ok, a = false, nil
  if raw then ok, a = pcall(cjson.decode, raw) end
  if ok and type(a) == 'table' and a.status == 'pending' and a.node == '' then
    a.node = ARGV[2]
    local json = cjson.encode(a)
    redis.call('SET', key, json, 'KEEPTTL')
    table.insert(taken, json)
  end
end
return taken`;

/**
 * CONFIRM (Lua) KEYS: the question's key, the pending set. ARGV: node, the
 * answered entry (forRedis), keep ms, id. Stores the approval only if the
 * question is still pending and this node's: 'ok'; else 'gone' (not stored
 * yet, or expired), 'answered:STATUS' or 'moved:NODE'.
 */
const CONFIRM = `local raw = redis.call('GET', KEYS[1])
if not raw then return 'gone' end
local ok, a = pcall(cjson.decode, raw)
if not ok or type(a) ~= 'table' then return 'gone' end
if a.status ~= 'pending' then return 'answered:' .. tostring(a.status) end
if a.node ~= ARGV[1] then return 'moved:' .. tostring(a.node) end
redis.call('SET', KEYS[1], ARGV[2], 'PX', tonumber(ARGV[3]))
redis.call('ZREM', KEYS[2], ARGV[4])
return 'ok'`;

/**
 * forRedis is `entry` as Redis holds it, for the scripts here and in
 * directory.ts to read and rewrite with Redis's cjson. The question itself
 * (its arguments are the agent's) rides as JSON text in `approval`, never
 * decoded by a script: a cjson round trip would turn an empty list into
 * `{}`, write numbers with 14 digits and refuse a lone UTF-16 surrogate, so
 * an approver shown an adopted question would see other arguments than the
 * agent sent. What the scripts read of it is beside it (`outside`: asked
 * from outside the kernel, pid 0 and bound to a request digest). The rest
 * is the kernel's own text; a lone surrogate in it (an approver's reason
 * can hold one: JSON.stringify writes it as an escape) becomes U+FFFD.
 */
export function forRedis(entry: ClusterApproval): string {
  const stored: StoredApproval = { ...entry, approval: JSON.stringify(entry.approval), outside: entry.approval.pid === 0 && typeof entry.approval.digest === 'string' };
  // The question's own text is inside a string here, so its escapes have their backslash escaped: forCjson leaves them as they are.
  return forCjson(stored);
}

/** StoredApproval is a ClusterApproval as Redis holds it (see forRedis). */
interface StoredApproval extends Omit<ClusterApproval, 'approval'> {
  readonly approval: string;
  readonly outside: boolean;
}

/**
 * fromRedis reads an entry forRedis wrote (or, from a node of an earlier
 * version, one with the question in the clear); undefined for one that
 * cannot be read, which its readers pass over (it expires) so that it
 * cannot take the questions beside it down with it.
 */
export function fromRedis(json: string): ClusterApproval | undefined {
  try {
    const stored = JSON.parse(json) as Omit<StoredApproval, 'approval'> & { approval: string | PendingApproval };
    const { outside: _outside, approval, ...rest } = stored;
    const question = typeof approval === 'string' ? (JSON.parse(approval) as unknown) : approval;
    if (question === null || typeof question !== 'object' || typeof (question as PendingApproval).id !== 'string') return undefined;
    return { ...rest, approval: question as PendingApproval };
  } catch {
    return undefined;
  }
}

/** readable keeps the entries fromRedis can read. */
function readable(jsons: readonly (string | null)[]): ClusterApproval[] {
  const out: ClusterApproval[] = [];
  for (const json of jsons) {
    const entry = json === null ? undefined : fromRedis(json);
    if (entry !== undefined) out.push(entry);
  }
  return out;
}

/** An adopted question the service could not reopen, and why: denied in Redis so its poller gets an answer. */
export interface Refused {
  readonly entry: ClusterApproval;
  readonly why: string;
}

/** What the service does with adopted questions (reopens them): those it could not. */
export type AdoptionHandler = (questions: readonly ClusterApproval[]) => readonly Refused[];

export interface AnswerRequest {
  readonly id: string;
  readonly approved: boolean;
  readonly approver: string;
  readonly reason: string;
}

export class ApprovalRelay {
  private readonly redis: RedisClient;
  private readonly keys: ClusterKeys;
  private readonly health: RedisHealth;
  private readonly rpc: NodeRpc;
  private readonly node: string;
  private gate: ApprovalGate | undefined;
  private adopted: AdoptionHandler = () => [];
  /** Set as the node stops: it adopts no more questions (they would stay with a node that is leaving). */
  private leaving = false;
  private adopting: Promise<void> | undefined;

  constructor(redis: RedisClient, keys: ClusterKeys, health: RedisHealth, rpc: NodeRpc, node: string) {
    this.redis = redis;
    this.keys = keys;
    this.health = health;
    this.rpc = rpc;
    this.node = node;
    rpc.handle('approval.answer', async (body) => {
      const a = body as AnswerRequest;
      await this.local().answer(a.id, a.approved, a.approver, a.reason);
      return this.local().status(a.id);
    });
    rpc.handle('approval.settled', (body) => {
      const { id, ms } = body as { id: string; ms: number };
      return this.local().settled(id, ms);
    });
  }

  /**
   * approver wraps the configured approver: the question is written to Redis
   * first (denied if it cannot be), then `inner` may answer it at once.
   */
  approver(inner: Approver | undefined): Approver {
    return async (approval: PendingApproval): Promise<ApprovalAnswer | undefined> => {
      if (!this.health.ready) return failClosed(this.health.problem() ?? 'Redis is unreachable');
      try {
        await this.store({ approval, status: 'pending', node: this.node });
      } catch (err) {
        this.health.failed(err);
        return failClosed(err instanceof Error ? err.message : String(err));
      }
      return inner?.(approval);
    };
  }

  /**
   * confirm makes this node's approval of `approval` the cluster's before it
   * takes effect: Redis stores it only while the question is pending there
   * and still this node's. Without that, a node cut off from Redis approved
   * a question another node had adopted and denied meanwhile (one approval
   * id granted on one node, denied on the other: an attacker pass). EIO while
   * Redis is away; EAGAIN for a question not in Redis yet; EEXIST for one
   * answered there, or another node's now.
   */
  async confirm(approval: PendingApproval, answer: ApprovalAnswer): Promise<void> {
    this.health.check(`cannot approve ${approval.id}: the cluster must hold the approval before it takes effect`);
    const entry: ClusterApproval = { approval, status: 'approved', answer, node: this.node };
    let result: string;
    try {
      result = String(await this.redis.eval(CONFIRM, 2, this.keys.approval(approval.id), this.keys.approvals, this.node, forRedis(entry), KEEP_ANSWERED_MS, approval.id));
    } catch (err) {
      this.health.failed(err);
      throw new KernelError('EIO', `cannot approve ${approval.id}: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (result === 'ok') return;
    if (result === 'gone') throw new KernelError('EAGAIN', `approval ${approval.id} is not in the cluster yet (or has expired there); try again`);
    if (result.startsWith('moved:')) throw new KernelError('EEXIST', `approval ${approval.id} is node ${result.slice(6) || '(none yet)'}'s now, not this one's: answer it through the cluster`);
    throw new KernelError('EEXIST', `approval ${approval.id} was already answered in the cluster (${result.slice(9)})`);
  }

  /** attach starts mirroring the gate's answers to Redis. */
  attach(gate: ApprovalGate): void {
    this.gate = gate;
    gate.events.subscribe((e) => {
      if (e.kind !== 'answered') return;
      const status: ClusterApproval = { approval: e.approval, status: e.answer.approved ? 'approved' : 'denied', answer: e.answer, node: this.node };
      this.store(status).catch((err: unknown) => this.health.failed(err));
    });
  }

  private local(): ApprovalGate {
    if (this.gate === undefined) throw new Error('approval relay not attached');
    return this.gate;
  }

  private async store(entry: ClusterApproval): Promise<void> {
    const key = this.keys.approval(entry.approval.id);
    const json = forRedis(entry);
    if (entry.status === 'pending') await this.redis.multi().set(key, json, 'PX', entry.approval.timeoutMs + KEEP_ANSWERED_MS).zadd(this.keys.approvals, entry.approval.requestedAt, entry.approval.id).exec();
    else await this.redis.multi().set(key, json, 'PX', KEEP_ANSWERED_MS).zrem(this.keys.approvals, entry.approval.id).exec();
  }

  /**
   * resync runs when Redis comes back: every question of this node that
   * Redis still shows pending gets its local status (answered while Redis
   * was away, or pending still); ones this node no longer knows are denied.
   */
  async resync(): Promise<void> {
    const gate = this.local();
    for (const entry of await this.pending()) {
      if (entry.node !== this.node) continue;
      const status = gate.status(entry.approval.id);
      if (status?.status === 'pending') continue;
      await this.store(status === undefined ? { ...entry, status: 'denied', answer: { approved: false, approver: 'cluster', reason: 'the node no longer knows this question' } } : { ...status, node: this.node });
    }
    for (const approval of gate.list()) await this.store({ approval, status: 'pending', node: this.node });
  }

  /**
   * release hands this node's pending questions from outside the kernel to
   * the cluster as it stops: they stay pending in Redis, owned by no node,
   * until another node (or this one, started again) adopts them.
   */
  async release(approvals: readonly PendingApproval[]): Promise<void> {
    this.health.check('cannot hand the questions to another node');
    const tx = this.redis.multi();
    for (const approval of approvals) {
      const entry: ClusterApproval = { approval, status: 'pending', node: '', from: this.node, left: 'stopped' };
      tx.set(this.keys.approval(approval.id), forRedis(entry), 'PX', Math.max(1, approval.deadline - Date.now()) + KEEP_ANSWERED_MS).sadd(this.keys.orphanApprovals, approval.id);
    }
    const results = await tx.exec();
    const failed = results?.find(([err]) => err !== null)?.[0];
    if (results === null || failed) throw failed ?? new Error('the hand-over was not applied');
  }

  /** onAdopted sets what is done with adopted questions. */
  onAdopted(handler: AdoptionHandler): void {
    this.adopted = handler;
  }

  /** adoptSoon adopts what other nodes left (a beat found some), unless an adoption is under way or the node is leaving. */
  adoptSoon(): void {
    if (this.leaving) return;
    this.adopting ??= (async () => {
      try {
        const refused = this.adopted(await this.adopt());
        for (const { entry, why } of refused) await this.refuse(entry, why);
      } catch (err) {
        this.health.failed(err);
      } finally {
        this.adopting = undefined;
      }
    })();
  }

  /** stopAdopting: no question is adopted from now on, and one adoption under way has ended. */
  async stopAdopting(): Promise<void> {
    this.leaving = true;
    await this.adopting;
  }

  /** adopt takes the questions other nodes released (or left when they were lost): each now this node's, to reopen. */
  private async adopt(): Promise<ClusterApproval[]> {
    this.health.check('cannot adopt released questions');
    const taken = (await this.redis.eval(ADOPT, 1, this.keys.orphanApprovals, this.keys.approval(''), this.node, ADOPT_AT_ONCE)) as string[];
    return readable(taken);
  }

  /** refuse denies an adopted question this node could not reopen, so its poller gets an answer. */
  private async refuse(entry: ClusterApproval, why: string): Promise<void> {
    await this.store({ ...entry, node: this.node, status: 'denied', answer: { approved: false, approver: 'cluster', reason: why } });
  }

  /** pending lists every pending question in the cluster, oldest first. */
  async pending(): Promise<ClusterApproval[]> {
    this.health.check('cannot list the cluster approvals');
    const ids = await this.redis.zrange(this.keys.approvals, 0, '-1');
    if (ids.length === 0) return [];
    const values = await this.redis.mget(ids.map((id) => this.keys.approval(id)));
    return readable(values).filter((a) => a.status === 'pending');
  }

  /** find reads one question from Redis; undefined if unknown (or long answered, or unreadable). */
  async find(id: string): Promise<ClusterApproval | undefined> {
    this.health.check(`cannot look up approval ${id}`);
    const json = await this.redis.get(this.keys.approval(id));
    return json === null ? undefined : fromRedis(json);
  }

  /** answer answers another node's question through its owner. ESRCH if unknown, EEXIST if already answered. */
  async answer(request: AnswerRequest): Promise<ApprovalStatus> {
    const entry = await this.find(request.id);
    if (entry === undefined) throw new KernelError('ESRCH', `no pending approval ${request.id}`);
    const again = alreadyAnswered(request.id, entry);
    if (again !== undefined) throw again;
    if (entry.node === '') throw new KernelError('EAGAIN', `approval ${request.id} is being handed from node ${entry.from ?? '(unknown)'} to another node; try again`);
    return this.rpc.request<ApprovalStatus>(entry.node, 'approval.answer', request);
  }

  /** settled waits up to `ms` for another node's question to be answered. */
  async settled(id: string, ms: number): Promise<ApprovalStatus | undefined> {
    const entry = await this.find(id);
    if (entry === undefined || entry.status !== 'pending' || ms <= 0 || entry.node === '') return entry;
    return this.rpc.request<ApprovalStatus | undefined>(entry.node, 'approval.settled', { id, ms }, ms + 2000);
  }
}

function failClosed(why: string): ApprovalAnswer {
  return { approved: false, approver: 'cluster', reason: `denied: shared state is unreachable, so no node could answer (${why})` };
}
