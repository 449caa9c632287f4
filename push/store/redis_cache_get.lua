-- Read one cached result and mark it most recently used (see redis_cache_put.lua).
--
-- KEYS[1] entry   KEYS[2] recency index (zset)   KEYS[3] recency counter
-- ARGV[1] entry name in the index
local value = redis.call('GET', KEYS[1])
if value then
  redis.call('ZADD', KEYS[2], 'XX', redis.call('INCR', KEYS[3]), ARGV[1])
else
  redis.call('ZREM', KEYS[2], ARGV[1])
end
return value
