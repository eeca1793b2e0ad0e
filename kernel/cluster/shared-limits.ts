/**
 * ClusterLimits counts rule limits (max_calls, rate, token_budget) in Redis,
 * so that every node of a cluster sees one budget per agent and rule: an
 * agent cannot multiply its budget by the number of nodes it runs on (or by
 * the nodes an outside agent sends /v1/evaluate to). One call is one round
 * trip: a script checks every limited rule the decision counts against and,
 * only if none is used up, counts the call against all of them, atomically.
 * Rate windows are measured on Redis's clock, the one clock every node
 * shares. While Redis cannot be reached the check rejects and the engine
 * denies (EIO, fail closed); tokens used meanwhile are not counted.
 *
 * Keys, under the cluster's hash tag: `limit:<rule>:<agent>:calls` (a
 * counter) and `:rate` (a sorted set of recent call times) per rule and
 * agent, `tokens:<agent>` per agent. Counters are kept COUNTER_TTL_MS after
 * their last use, rate sets for one window.
 */
import { randomBytes } from 'node:crypto';
import { LuaScript } from '../../vfs/lua-script.ts';
import { WINDOW_MS, usedUp, type LimitKind, type LimitedRule, type SharedLimits } from '../policy/limits.ts';
import type { RedisHealth } from './health.ts';
import type { ClusterKeys, RedisClient } from './redis.ts';

/** How long a counter outlives the agent's last counted call: 30 days. */
export const COUNTER_TTL_MS = 30 * 24 * 3_600_000;

/**
 * TAKE: KEYS[1] the agent's tokens, then per rule i its calls (KEYS[2i]) and
 * rate (KEYS[2i+1]) keys; ARGV[1] this call's id, ARGV[2] the counter TTL,
 * then per rule max_calls, rate count, window ms, token_budget (-1: none).
 * Returns 0 once counted, or {i, kind} for the first rule used up.
 */
const TAKE = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = (#KEYS - 1) / 2
local tokens = tonumber(redis.call('GET', KEYS[1]) or '0')
for i = 1, n do
  local a = 3 + (i - 1) * 4
  local maxCalls, rate, window, budget = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  if maxCalls >= 0 and tonumber(redis.call('GET', KEYS[2 * i]) or '0') >= maxCalls then return {i, 'max_calls'} end
  if rate >= 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[2 * i + 1], '-inf', now - window)
    if redis.call('ZCARD', KEYS[2 * i + 1]) >= rate then return {i, 'rate'} end
  end
  if budget >= 0 and tokens >= budget then return {i, 'token_budget'} end
end
for i = 1, n do
  local a = 3 + (i - 1) * 4
  if tonumber(ARGV[a]) >= 0 then
    redis.call('INCR', KEYS[2 * i])
    redis.call('PEXPIRE', KEYS[2 * i], ARGV[2])
  end
  if tonumber(ARGV[a + 1]) >= 0 then
    redis.call('ZADD', KEYS[2 * i + 1], now, ARGV[1])
    redis.call('PEXPIRE', KEYS[2 * i + 1], ARGV[a + 2])
  end
end
return 0`;

/** ADD_TOKENS: KEYS[1] the agent's tokens; ARGV[1] how many, ARGV[2] the TTL. */
const ADD_TOKENS = `redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 0`;

const TAKE_SCRIPT = new LuaScript(TAKE);
const ADD_TOKENS_SCRIPT = new LuaScript(ADD_TOKENS);

/** Part of a key naming a rule or an agent: encoded, so `a:b` + `c` and `a` + `b:c` stay apart. */
const part = encodeURIComponent;

export class ClusterLimits implements SharedLimits {
  private readonly redis: RedisClient;
  private readonly keys: ClusterKeys;
  private readonly health: RedisHealth;
  /** Rate entries need a member unique across nodes and restarts. */
  private readonly tag = randomBytes(6).toString('base64url');
  private calls = 0;

  constructor(redis: RedisClient, keys: ClusterKeys, health: RedisHealth) {
    this.redis = redis;
    this.keys = keys;
    this.health = health;
  }

  async take(agentId: string, rules: readonly LimitedRule[]): Promise<{ rule: string; why: string } | undefined> {
    this.health.check(`cannot count the limits of agent ${agentId}`);
    const keys = [`${this.keys.tag}:tokens:${part(agentId)}`];
    const argv: (string | number)[] = [`${this.tag}:${++this.calls}`, COUNTER_TTL_MS];
    for (const { id, limits } of rules) {
      const base = `${this.keys.tag}:limit:${part(id)}:${part(agentId)}`;
      keys.push(`${base}:calls`, `${base}:rate`);
      argv.push(limits.max_calls ?? -1, limits.rate?.count ?? -1, limits.rate !== undefined ? WINDOW_MS[limits.rate.per] : 0, limits.token_budget ?? -1);
    }
    let answer: unknown;
    try {
      answer = await TAKE_SCRIPT.run(this.redis, keys, argv);
    } catch (err) {
      this.health.failed(err);
      throw err;
    }
    if (!Array.isArray(answer)) return undefined;
    const rule = rules[Number(answer[0]) - 1]!;
    return { rule: rule.id, why: usedUp(String(answer[1]) as LimitKind, rule.limits) };
  }

  addTokens(agentId: string, tokens: number): void {
    if (!this.health.ready || !(tokens > 0)) return;
    ADD_TOKENS_SCRIPT.run(this.redis, [`${this.keys.tag}:tokens:${part(agentId)}`], [Math.floor(tokens), COUNTER_TTL_MS]).catch((err: unknown) => this.health.failed(err));
  }
}
