/**
 * The server-side scripts of the Redis Cluster backend. A dualkv key is a Redis hash
 * of the same name (so that hash tags place keys as Redis users expect) with two
 * fields: `v`, the value, and `r`, its revision. Its expiry is Redis's own (PEXPIREAT),
 * exact to the millisecond. Each script runs atomically on the master of the keys'
 * slot, so a revision and its value never part.
 *
 * A revision is the master's clock in microseconds, or one more than the key's last
 * revision when that is later: it grows on every write of a key and, across a delete,
 * starts above anything the key had before, unless a failover lands on a master whose
 * clock is behind (README "Guarantees by backend").
 */

/** KEYS: the keys. Answers, per key: value (nil when absent), revision, and PEXPIRETIME (-1: none). */
export const READ_SCRIPT = `
local out = {}
for i = 1, #KEYS do
  local t = redis.call('HMGET', KEYS[i], 'v', 'r')
  out[#out + 1] = t[1]
  out[#out + 1] = t[2]
  if t[2] then out[#out + 1] = redis.call('PEXPIRETIME', KEYS[i]) else out[#out + 1] = -2 end
end
return out
`;

/** A new revision for KEYS[i]: the clock in microseconds, or one more than the key's last. */
const NEXT_REVISION = `
local function revision(key, now)
  local old = tonumber(redis.call('HGET', key, 'r') or '0')
  if now > old then return now end
  return old + 1
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
`;

/**
 * KEYS[1], ARGV[1]: value. A plain write: the value, no expiry. Answers the revision.
 * The hash is written over, never deleted first: while its slot migrates, a key the script
 * deleted is no longer local, and Redis refuses the script's next command on it.
 */
export const PUT_SCRIPT = `${NEXT_REVISION}
local r = revision(KEYS[1], now)
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'r', r)
redis.call('PERSIST', KEYS[1])
return r
`;

/**
 * KEYS: every key of the transaction. ARGV: four per key: the revision it must still
 * have ('' for none, '0' for absent), then the write ('p' put, 'd' delete, '' none), the
 * value and the absolute expiry in ms ('0': none). Answers nil when a revision differs
 * (nothing applied), else each key's new revision (0 deleted, -1 not written).
 */
export const COMMIT_SCRIPT = `${NEXT_REVISION}
for i = 1, #KEYS do
  local want = ARGV[(i - 1) * 4 + 1]
  if want ~= '' and (redis.call('HGET', KEYS[i], 'r') or '0') ~= want then return false end
end
local out = {}
for i = 1, #KEYS do
  local b = (i - 1) * 4
  local op = ARGV[b + 2]
  if op == 'p' then
    local r = revision(KEYS[i], now)
    redis.call('HSET', KEYS[i], 'v', ARGV[b + 3], 'r', r)
    local at = tonumber(ARGV[b + 4])
    if at > 0 then redis.call('PEXPIREAT', KEYS[i], at) else redis.call('PERSIST', KEYS[i]) end
    out[i] = r
  elseif op == 'd' then
    redis.call('DEL', KEYS[i])
    out[i] = 0
  else
    out[i] = -1
  end
end
return out
`;
