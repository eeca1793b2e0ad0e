/**
 * What a node's decision stream is written with (redis-stream-log.ts): the
 * Lua script that appends records only where they continue the stream's
 * chain, and the check of the stream's last entry a writer continues from.
 */
import { KernelError } from '../../abi/errno.ts';
import { LuaScript } from '../../vfs/lua-script.ts';
import { body, type ChainRecord, GENESIS, seal } from './chain.ts';

/**
 * APPEND (KEYS[1] = stream, ARGV[1] = resume, then seq, prev, hash, line, …
 * per record): appends the records that continue the chain; a record
 * already there (a retried batch) must be identical. With resume = 1 (the
 * writer has had records in this stream) an empty stream is one Redis lost:
 * the chain goes on from the first record given, and the reply is negative
 * to say so. Errors: ECHAIN when a record does not continue the stream
 * (another writer, or a damaged stream). Returns the last seq. (prev and
 * hash travel beside the line so the script never parses JSON; the verifier
 * checks the lines themselves.)
 */
export const APPEND = new LuaScript(`
local key = KEYS[1]
local last = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)
local last_seq, last_hash = 0, '${GENESIS}'
local resumed = false
if #last > 0 then
  last_seq = tonumber(string.match(last[1][1], '^(%d+)'))
  last_hash = string.match(last[1][2][2], '"hash":"(%x+)"}$')
elseif ARGV[1] == '1' then
  last_seq, last_hash, resumed = tonumber(ARGV[2]) - 1, ARGV[3], true
end
for i = 2, #ARGV, 4 do
  local seq, prev, hash, line = tonumber(ARGV[i]), ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  if seq <= last_seq then
    local got = redis.call('XRANGE', key, seq .. '-0', seq .. '-0')
    if #got == 0 or got[1][2][2] ~= line then
      return redis.error_reply('ECHAIN record ' .. seq .. ' in the stream differs from this node\\'s')
    end
  elseif seq ~= last_seq + 1 then
    return redis.error_reply('ECHAIN the stream ends at ' .. last_seq .. ', this node continues at ' .. seq)
  elseif prev ~= last_hash then
    return redis.error_reply('ECHAIN record ' .. seq .. ' does not follow the stream head')
  else
    redis.call('XADD', key, seq .. '-0', 'rec', line)
    last_seq, last_hash = seq, hash
  end
end
if resumed then return -last_seq end
return last_seq
`);

/** parseTail reads the last entry of a stream: its seq and hash. EIO when it is not an intact record. */
export function parseTail(key: string, entry: [string, string[]] | undefined): { seq: number; hash: string } {
  if (entry === undefined) return { seq: 0, hash: GENESIS };
  const [id, fields] = entry;
  const line = fields[1] ?? '';
  try {
    const record = JSON.parse(line) as ChainRecord;
    if (`${record.seq}-0` === id && seal(body(record as unknown as Record<string, unknown>)).line === `${line}\n`) return { seq: record.seq, hash: record.hash };
  } catch {
    // reported below
  }
  throw new KernelError('EIO', `${key}: the last entry (${id}) is not an intact record; run 'agentctl audit verify --redis URL'`);
}
