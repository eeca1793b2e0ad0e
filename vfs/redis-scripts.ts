/**
 * The Lua scripts behind RedisBackend. Each VFS operation is one script, so
 * it runs atomically on the server (no other node sees half an operation)
 * and costs one round trip. Layout under a backend's key base B (one hash
 * tag, so a Redis Cluster keeps a whole backend in one slot):
 *   B:meta         hash  path → 'd:<mtimeMs>' | 'f:<mtimeMs>'  (every node but the root)
 *   B:dir:<path>   hash  name → 'd' | 'f'                      (entries of a directory)
 *   B:names:<path> zset  name, score 0                         (the same names in byte order, for pages)
 *   B:data:<path>  string                                      (a file's bytes; absent when empty)
 * The root `/` always exists and is never stored. Every script takes
 * KEYS[1] = B:meta and ARGV[1] = B, ARGV[2] = the path, and as its last two
 * arguments the tree's quota (bytes, inodes; negative: none); errors are
 * replies whose first word is the errno (then a reason, or '-'). The quota
 * is kept in B:meta's fields `#bytes` and `#inodes` (never a path: paths
 * start with '/'), checked and updated in the same script as the change, so
 * nodes sharing a tree share its quota exactly.
 */
import { LuaScript } from './lua-script.ts';

const PRELUDE = `
local meta, base = KEYS[1], ARGV[1]
local function parent_of(p)
  local i = p:match('^.*()/')
  if i == 1 then return '/' end
  return p:sub(1, i - 1)
end
local function name_of(p) return p:match('([^/]*)$') end
local function kind(p)
  if p == '/' then return 'd' end
  local v = redis.call('HGET', meta, p)
  if not v then return nil end
  return v:sub(1, 1)
end
-- why_missing: the errno for a path that is not there: ENOTDIR below a file, else ENOENT.
local function why_missing(p)
  local at = 1
  while true do
    local s = p:find('/', at + 1, true)
    if not s then return 'ENOENT' end
    local k = kind(p:sub(1, s - 1))
    if k == nil then return 'ENOENT' end
    if k == 'f' then return 'ENOTDIR' end
    at = s
  end
end
-- An error reply needs a word after the code, or Redis makes it 'ERR <code>'.
local function fail(code, why) return redis.error_reply(code .. ' ' .. (why or '-')) end
local function now_ms()
  local t = redis.call('TIME')
  return string.format('%d', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
end
local quota_bytes, quota_inodes = tonumber(ARGV[#ARGV - 1]), tonumber(ARGV[#ARGV])
local function used(field) return tonumber(redis.call('HGET', meta, field) or '0') end
-- reserve checks that 'bytes' and 'inodes' more fit the quota, and takes them; false (and nothing taken) if not.
local function reserve(bytes, inodes)
  if bytes > 0 and quota_bytes >= 0 and used('#bytes') + bytes > quota_bytes then return false end
  if inodes > 0 and quota_inodes >= 0 and used('#inodes') + inodes > quota_inodes then return false end
  if bytes ~= 0 then redis.call('HINCRBY', meta, '#bytes', bytes) end
  if inodes ~= 0 then redis.call('HINCRBY', meta, '#inodes', inodes) end
  return true
end
local function give_back(bytes, inodes)
  if bytes > 0 then redis.call('HSET', meta, '#bytes', math.max(0, used('#bytes') - bytes)) end
  if inodes > 0 then redis.call('HSET', meta, '#inodes', math.max(0, used('#inodes') - inodes)) end
end
local function add_entry(p, t)
  local parent, name = parent_of(p), name_of(p)
  redis.call('HSET', meta, p, t .. ':' .. now_ms())
  redis.call('HSET', base .. ':dir:' .. parent, name, t)
  redis.call('ZADD', base .. ':names:' .. parent, 0, name)
end
local function remove_entry(p)
  local parent, name = parent_of(p), name_of(p)
  redis.call('HDEL', meta, p)
  redis.call('HDEL', base .. ':dir:' .. parent, name)
  redis.call('ZREM', base .. ':names:' .. parent, name)
end
`;

const script = (body: string): LuaScript => new LuaScript(`${PRELUDE}\n${body}`);

/** STAT → { type, mtimeMs, size }. */
export const STAT = script(`
local p = ARGV[2]
if p == '/' then return {'d', '0', 0} end
local v = redis.call('HGET', meta, p)
if not v then return fail(why_missing(p)) end
local t = v:sub(1, 1)
local size = 0
if t == 'f' then size = redis.call('STRLEN', base .. ':data:' .. p) end
return {t, v:sub(3), size}
`);

/** READDIR → [name, type, name, type, …]. */
export const READDIR = script(`
local p = ARGV[2]
local k = kind(p)
if k == nil then return fail(why_missing(p)) end
if k == 'f' then return fail('ENOTDIR') end
return redis.call('HGETALL', base .. ':dir:' .. p)
`);

/**
 * READDIR_PAGE, ARGV[3] = after ('' for the start), ARGV[4] = limit →
 * [name, type, …]: the first `limit` names after `after` in byte order, at a
 * cost that follows the page (a sorted set), not the directory. The set is
 * an index of the directory's hash, repaired as it is read: names the hash
 * lacks are dropped, and a hash with names the set lacks (written by an
 * earlier version) has them added, once.
 */
export const READDIR_PAGE = script(`
local p, after, limit = ARGV[2], ARGV[3], tonumber(ARGV[4])
local k = kind(p)
if k == nil then return fail(why_missing(p)) end
if k == 'f' then return fail('ENOTDIR') end
local dir, names = base .. ':dir:' .. p, base .. ':names:' .. p
local function index_all()
  if redis.call('ZCARD', names) >= redis.call('HLEN', dir) then return end
  local all = redis.call('HKEYS', dir)
  for i = 1, #all, 512 do
    local args = {}
    for j = i, math.min(i + 511, #all) do
      args[#args + 1] = 0
      args[#args + 1] = all[j]
    end
    redis.call('ZADD', names, unpack(args))
  end
end
-- listed is the page: names the hash lacks are dropped from the set as they are met (and the page filled on past them).
local function listed()
  local out, from, dropped = {}, '-', false
  if after ~= '' then from = '(' .. after end
  while #out < 2 * limit do
    local want = limit - #out / 2
    local page = redis.call('ZRANGEBYLEX', names, from, '+', 'LIMIT', 0, want)
    if #page == 0 then break end
    local types = redis.call('HMGET', dir, unpack(page))
    for i, name in ipairs(page) do
      if types[i] then
        out[#out + 1] = name
        out[#out + 1] = types[i]
      else
        redis.call('ZREM', names, name)
        dropped = true
      end
    end
    if #page < want then break end
    from = '(' .. page[#page]
  end
  return out, dropped
end
index_all()
local out, dropped = listed()
-- A set that had names the hash lacked may now also lack names the hash has: index them and list the page again.
if dropped and redis.call('ZCARD', names) < redis.call('HLEN', dir) then
  index_all()
  out = listed()
end
return out
`);

/** MKDIR, ARGV[3] = '1' for recursive. */
export const MKDIR = script(`
local p, recursive = ARGV[2], ARGV[3] == '1'
if not recursive then
  if kind(p) ~= nil then return fail('EEXIST') end
  local parent = parent_of(p)
  local pk = kind(parent)
  if pk == nil then return fail(why_missing(parent)) end
  if pk == 'f' then return fail('ENOTDIR') end
  if not reserve(0, 1) then return fail('ENOSPC', 'the tree is at its quota of files and directories') end
  add_entry(p, 'd')
  return 1
end
if p == '/' then return 1 end
-- First the checks and the count of directories to make, then (if they fit) the directories.
local missing = {}
local at = 1
while true do
  local s = p:find('/', at + 1, true)
  local cur = p
  if s then cur = p:sub(1, s - 1) end
  local k = kind(cur)
  if k == 'f' then
    if cur == p then return fail('EEXIST') end
    return fail('ENOTDIR')
  end
  if k == nil then missing[#missing + 1] = cur end
  if not s then break end
  at = s
end
if not reserve(0, #missing) then return fail('ENOSPC', 'the tree is at its quota of files and directories') end
for _, cur in ipairs(missing) do add_entry(cur, 'd') end
return 1
`);

/** UNLINK removes a file or an empty directory. */
export const UNLINK = script(`
local p = ARGV[2]
if p == '/' then return fail('EPERM') end
local k = kind(p)
if k == nil then return fail(why_missing(p)) end
if k == 'd' then
  if redis.call('HLEN', base .. ':dir:' .. p) > 0 then return fail('ENOTEMPTY') end
  -- Its index goes with it (it can hold names an earlier version removed behind it).
  redis.call('DEL', base .. ':names:' .. p)
  give_back(0, 1)
else
  give_back(redis.call('STRLEN', base .. ':data:' .. p), 1)
  redis.call('DEL', base .. ':data:' .. p)
end
remove_entry(p)
return 1
`);

/** OPEN, ARGV[3] = mode: creates for w/w+/a/a+, truncates for w/w+. */
export const OPEN = script(`
local p, mode = ARGV[2], ARGV[3]
local k = kind(p)
if k == 'd' then return fail('EISDIR') end
if k == nil then
  if mode == 'r' or mode == 'r+' then return fail(why_missing(p)) end
  local parent = parent_of(p)
  local pk = kind(parent)
  if pk == nil then return fail(why_missing(parent)) end
  if pk == 'f' then return fail('ENOTDIR') end
  if not reserve(0, 1) then return fail('ENOSPC', 'the tree is at its quota of files and directories') end
  add_entry(p, 'f')
  return 1
end
if mode == 'w' or mode == 'w+' then
  give_back(redis.call('STRLEN', base .. ':data:' .. p), 0)
  redis.call('DEL', base .. ':data:' .. p)
  redis.call('HSET', meta, p, 'f:' .. now_ms())
end
return 1
`);

/**
 * READ, ARGV[3] = position, ARGV[4] = length → the bytes there (short at the
 * end). ENOENT for a file that is gone: removed while open, or lost with
 * Redis (restarted empty): its data must not read as an empty file.
 */
export const READ = script(`
local p, from, length = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local v = redis.call('HGET', meta, p)
if not v or v:sub(1, 1) ~= 'f' then return fail('ENOENT', 'the file is gone: removed while open, or lost with Redis') end
if length == 0 then return '' end
return redis.call('GETRANGE', base .. ':data:' .. p, from, from + length - 1)
`);

/** SIZE → the file's size in bytes; ENOENT for a file that is gone, as READ. */
export const SIZE = script(`
local p = ARGV[2]
local v = redis.call('HGET', meta, p)
if not v or v:sub(1, 1) ~= 'f' then return fail('ENOENT', 'the file is gone: removed while open, or lost with Redis') end
return redis.call('STRLEN', base .. ':data:' .. p)
`);

/** WRITE, ARGV[3] = position, ARGV[4] = bytes → bytes written. Past the end the gap reads as zeros. */
export const WRITE = script(`
local p, data = ARGV[2], ARGV[4]
local v = redis.call('HGET', meta, p)
if not v or v:sub(1, 1) ~= 'f' then return fail('ENOENT', 'the file was removed while open') end
-- An empty write stores nothing, so it reserves nothing: past the end it reserved the gap, which no unlink gave back
-- (an attacker pass filled a shared mount's quota for good with no data).
if #data == 0 then return 0 end
local key = base .. ':data:' .. p
-- Past a Redis string's 512 MiB SETRANGE fails after reserve() had counted the growth, which no unlink gave back (an
-- attacker pass): refused first, as a file too large.
if tonumber(ARGV[3]) + #data > 536870912 then return fail('EFBIG', 'a file on a Redis mount holds at most 512 MiB (a Redis string)') end
local growth = math.max(0, tonumber(ARGV[3]) + #data - redis.call('STRLEN', key))
if not reserve(growth, 0) then return fail('ENOSPC', 'the write would take the tree past its quota of ' .. quota_bytes .. ' bytes') end
redis.call('SETRANGE', key, tonumber(ARGV[3]), data)
redis.call('HSET', meta, p, 'f:' .. now_ms())
return #data
`);
