-- W-TinyLFU store (push/store/cache_policy.py TinyLfuCache.put, step for step): the entry
-- enters the window; the window's oldest then takes a free place in main, or duels main's
-- victim (probation's oldest, else protected's): it wins if the victim expired or if the
-- sketch says it was requested more often, and the loser is deleted. Atomic; at most
-- window + main entries are ever indexed.
--
-- KEYS[1] entry  KEYS[2] window  KEYS[3] probation  KEYS[4] protected  KEYS[5] recency counter
-- KEYS[6] sketch
-- ARGV[1] value  ARGV[2] ttl in ms  ARGV[3] entry name  ARGV[4] window size  ARGV[5] main size
-- ARGV[6] sketch width  ARGV[7] depth  ARGV[8] key prefix of entries
local name = ARGV[3]
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local tick = redis.call('INCR', KEYS[5])
for k = 2, 4 do
  if redis.call('ZADD', KEYS[k], 'XX', 'CH', tick, name) == 1 then
    return 1  -- already held (two requests missed at once): refreshed where it is
  end
end
redis.call('ZADD', KEYS[2], tick, name)
if redis.call('ZCARD', KEYS[2]) <= tonumber(ARGV[4]) then
  return 1
end
local candidate = redis.call('ZPOPMIN', KEYS[2])[1]
if redis.call('ZCARD', KEYS[3]) + redis.call('ZCARD', KEYS[4]) < tonumber(ARGV[5]) then
  redis.call('ZADD', KEYS[3], tick, candidate)
  return 1
end
local victims = KEYS[3]
local victim = redis.call('ZRANGE', KEYS[3], 0, 0)[1]
if not victim then
  victims = KEYS[4]
  victim = redis.call('ZRANGE', KEYS[4], 0, 0)[1]
end
if not victim then  -- no main region (capacity 1): the window is the cache
  redis.call('DEL', ARGV[8] .. candidate)
  return 1
end

local width, depth = tonumber(ARGV[6]), tonumber(ARGV[7])
local function estimate(key)
  local digest = redis.sha1hex(key)
  local get = {}
  for row = 0, depth - 1 do
    local column = tonumber(string.sub(digest, 8 * row + 1, 8 * row + 8), 16) % width
    table.insert(get, 'GET'); table.insert(get, 'u4'); table.insert(get, '#' .. (row * width + column))
  end
  local least = nil
  for _, count in ipairs(redis.call('BITFIELD', KEYS[6], unpack(get))) do
    if least == nil or count < least then least = count end
  end
  return least
end

if redis.call('EXISTS', ARGV[8] .. victim) == 0 or estimate(candidate) > estimate(victim) then
  redis.call('ZREM', victims, victim)
  redis.call('DEL', ARGV[8] .. victim)
  redis.call('ZADD', KEYS[3], tick, candidate)
else
  redis.call('DEL', ARGV[8] .. candidate)
end
return 1
