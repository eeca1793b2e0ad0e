/**
 * The directory's Lua scripts (directory.ts): each runs in Redis as one
 * step, on Redis's clock. BURY and CONFLICT are pieces the others include.
 */

/**
 * BURY (Lua): marks the processes of the dead nodes in `set` lost and
 * denies their pending approvals — except a question asked from outside the
 * kernel (pid 0, bound to a request digest): its asker is not gone, so it
 * is left pending for another node to adopt (set `orphans`).
 */
const BURY = `local function bury(set, now, procs, approvals, approvalPrefix, orphans)
  local all = redis.call('HGETALL', procs)
  for i = 1, #all, 2 do
    local ok, e = pcall(cjson.decode, all[i + 1])
    if ok and type(e) == 'table' and set[e.node] and e.state ~= 'exited' and e.state ~= 'lost' then
      e.state = 'lost'
      e.lostAt = now
      redis.call('HSET', procs, all[i], cjson.encode(e))
    end
  end
  local ids = redis.call('ZRANGE', approvals, 0, -1)
  for _, id in ipairs(ids) do
    local key = approvalPrefix .. id
    local raw = redis.call('GET', key)
    local ok, a = false, nil
    if raw then ok, a = pcall(cjson.decode, raw) end
    if raw and not ok then
      -- Not for these scripts to read (written before they escaped what cjson refuses): left to expire.
    elseif raw and type(a) == 'table' then
      -- outside: asked from outside the kernel (approval-relay.ts forRedis); a node of an earlier version kept the question in the clear.
      if set[a.node] and (a.outside == true or (type(a.approval) == 'table' and a.approval.pid == 0 and type(a.approval.digest) == 'string')) then
        a.from = a.node
        a.left = 'lost'
        a.node = ''
        redis.call('SET', key, cjson.encode(a), 'KEEPTTL')
        redis.call('SADD', orphans, id)
      elseif set[a.node] then
        a.status = 'denied'
        a.answer = { approved = false, approver = 'cluster', reason = 'node ' .. a.node .. ' was lost' }
        redis.call('SET', key, cjson.encode(a), 'PX', 3600000)
        redis.call('ZREM', approvals, id)
      end
    else
      redis.call('ZREM', approvals, id)
    end
  end
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

/**
 * CONFLICT (Lua): says which live node (beat within `ttl`) that joined
 * before node `me` (`info`, its NodeInfo) has another node_ttl_ms or
 * heartbeat_ms (a node buries another after its own TTL, so nodes that
 * disagree take each other for dead too early or too late); '' if none. The
 * node that joined first wins, by Redis's clock (`joined`: its first beat;
 * a node not joined yet is the youngest), so one that starts later never
 * stops one that serves (a review: ranked by each host's own start time, a
 * newcomer whose clock was behind stopped the node serving). Needs BURY's `now`.
 */
const CONFLICT = `local function conflict(beats, nodes, joined, me, info, ttl)
  local ok, mine = pcall(cjson.decode, info)
  if not ok or type(mine) ~= 'table' then return '' end
  local since = tonumber(redis.call('ZSCORE', joined, me))
  for _, n in ipairs(redis.call('ZRANGEBYSCORE', beats, now - ttl, '+inf')) do
    local raw = n ~= me and redis.call('HGET', nodes, n)
    local at = raw and tonumber(redis.call('ZSCORE', joined, n))
    local fine, o = false, nil
    if at and (since == nil or at < since or (at == since and n < me)) then fine, o = pcall(cjson.decode, raw) end
    if fine and type(o) == 'table' and type(o.ttlMs) == 'number' and type(o.heartbeatMs) == 'number' and (o.ttlMs ~= mine.ttlMs or o.heartbeatMs ~= mine.heartbeatMs) then
      return 'node ' .. n .. ', alive and in the cluster before this one, has node_ttl_ms ' .. string.format('%d', o.ttlMs) .. ' and heartbeat_ms ' .. string.format('%d', o.heartbeatMs)
    end
  end
  return ''
end
`;

/**
 * BEAT (Lua) KEYS: nodes, beats, procs, approvals, policy, dead, orphans, shadow, data tag, joined. ARGV: node,
 * info, ttl ms, may bury (1/0), approval key prefix, dead kept ms, dead
 * listed, a data tag to set if none is. Buries the nodes silent past the TTL (they move from beats to
 * dead, scored by their last beat) and forgets the dead past their time or
 * number; a node whose timing conflicts with an older live node's buries
 * nothing. Returns { fresh (1 if this node was not registered: first beat,
 * or it had been buried), policy epoch, buried nodes, orphaned questions,
 * shadow policy epoch, policy version, shadow policy version, was dead (1
 * if this node had been buried), the data tag, the timing conflict ('' for none) }.
 */
export const BEAT = `${BURY}${CONFLICT}
local fresh = redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local wasDead = redis.call('ZREM', KEYS[6], ARGV[1])
if wasDead == 1 then fresh = 1 end
redis.call('ZADD', KEYS[2], now, ARGV[1])
local tag = redis.call('GET', KEYS[9])
if not tag then
  tag = ARGV[8]
  redis.call('SET', KEYS[9], tag)
end
redis.call('ZADD', KEYS[10], 'NX', now, ARGV[1])
local clash = conflict(KEYS[2], KEYS[1], KEYS[10], ARGV[1], ARGV[2], tonumber(ARGV[3]))
local buried = {}
if ARGV[4] == '1' and clash == '' then
  local dead = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[3]), 'WITHSCORES')
  if #dead > 0 then
    local set = {}
    for i = 1, #dead, 2 do
      local n = dead[i]
      set[n] = true
      redis.call('ZREM', KEYS[2], n)
      redis.call('ZADD', KEYS[6], dead[i + 1], n)
      table.insert(buried, n)
    end
    bury(set, now, KEYS[3], KEYS[4], ARGV[5], KEYS[7])
  end
  local forget = redis.call('ZRANGEBYSCORE', KEYS[6], '-inf', now - tonumber(ARGV[6]))
  for _, n in ipairs(redis.call('ZRANGE', KEYS[6], 0, -(tonumber(ARGV[7]) + 1))) do table.insert(forget, n) end
  for _, n in ipairs(forget) do
    redis.call('ZREM', KEYS[6], n)
    redis.call('HDEL', KEYS[1], n)
    redis.call('ZREM', KEYS[10], n)
  end
end
return { fresh, redis.call('HGET', KEYS[5], 'epoch') or '0', buried, redis.call('SCARD', KEYS[7]), redis.call('HGET', KEYS[8], 'epoch') or '0', redis.call('HGET', KEYS[5], 'version') or '', redis.call('HGET', KEYS[8], 'version') or '', wasDead, tag, clash }`;

/**
 * CLAIM (Lua) KEYS: procs, approvals, orphans, beats, nodes, joined. ARGV: node, approval key prefix, info, ttl ms. A
 * node starting under a name that ran before: what it left is lost, and it joins anew at its first beat. Returns the
 * timing conflict with a live node ('' for none).
 */
export const CLAIM = `${BURY}${CONFLICT}
bury({ [ARGV[1]] = true }, now, KEYS[1], KEYS[2], ARGV[2], KEYS[3])
redis.call('ZREM', KEYS[6], ARGV[1])
return conflict(KEYS[4], KEYS[5], KEYS[6], ARGV[1], ARGV[3], tonumber(ARGV[4]))`;
