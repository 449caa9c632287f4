-- W-TinyLFU read (push/store/cache_policy.py TinyLfuCache.get, step for step): count the
-- request in the frequency sketch, then answer the entry and refresh its recency; an entry
-- hit in probation moves to protected, whose oldest then goes back to probation when
-- protected is over its size. Atomic; O(depth) for the sketch, O(log n) per segment.
--
-- KEYS[1] entry  KEYS[2] window (zset)  KEYS[3] probation (zset)  KEYS[4] protected (zset)
-- KEYS[5] recency counter  KEYS[6] sketch (BITFIELD u4 counters)  KEYS[7] sketch sample count
-- ARGV[1] entry name  ARGV[2] protected size  ARGV[3] sketch width  ARGV[4] depth
-- ARGV[5] sample size (requests between two halvings)
local name = ARGV[1]
local width, depth = tonumber(ARGV[3]), tonumber(ARGV[4])
local digest = redis.sha1hex(name)
local incr = {'OVERFLOW', 'SAT'}
for row = 0, depth - 1 do
  local column = tonumber(string.sub(digest, 8 * row + 1, 8 * row + 8), 16) % width
  table.insert(incr, 'INCRBY'); table.insert(incr, 'u4')
  table.insert(incr, '#' .. (row * width + column)); table.insert(incr, 1)
end
redis.call('BITFIELD', KEYS[6], unpack(incr))
local samples = redis.call('INCR', KEYS[7])
if samples >= tonumber(ARGV[5]) then
  -- Halve every 4-bit counter: shift each byte right and clear the bit that crossed nibbles,
  -- 4 KiB at a time through a byte table (a width-65536 sketch, capacity 10,000: ~8 ms once per 100,000 requests).
  local packed = redis.call('GET', KEYS[6])
  if packed then
    local half = {}
    for b = 0, 255 do half[b] = bit.band(bit.rshift(b, 1), 0x77) end
    local chunks = {}
    for first = 1, #packed, 4096 do
      local bytes = {string.byte(packed, first, math.min(first + 4095, #packed))}
      for i = 1, #bytes do bytes[i] = half[bytes[i]] end
      chunks[#chunks + 1] = string.char(unpack(bytes))
    end
    redis.call('SET', KEYS[6], table.concat(chunks))
  end
  redis.call('SET', KEYS[7], math.floor(samples / 2))
end

local value = redis.call('GET', KEYS[1])
if not value then  -- expired (or never stored): forget its place too
  redis.call('ZREM', KEYS[2], name)
  redis.call('ZREM', KEYS[3], name)
  redis.call('ZREM', KEYS[4], name)
  return false
end
local tick = redis.call('INCR', KEYS[5])
if redis.call('ZREM', KEYS[3], name) == 1 then
  redis.call('ZADD', KEYS[4], tick, name)
  if redis.call('ZCARD', KEYS[4]) > tonumber(ARGV[2]) then
    local demoted = redis.call('ZPOPMIN', KEYS[4])
    redis.call('ZADD', KEYS[3], redis.call('INCR', KEYS[5]), demoted[1])
  end
else
  redis.call('ZADD', KEYS[2], 'XX', tick, name)
  redis.call('ZADD', KEYS[4], 'XX', tick, name)
end
return value
