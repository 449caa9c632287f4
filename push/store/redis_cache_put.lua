-- Store one cached result with its TTL and keep at most ARGV[4] entries,
-- dropping the least recently used: the memory store's LRU, shared by every
-- process. Recency is a counter, not a clock, so processes on machines whose
-- clocks differ still agree on the order.
--
-- KEYS[1] entry   KEYS[2] recency index (zset)   KEYS[3] recency counter
-- ARGV[1] value   ARGV[2] ttl in ms   ARGV[3] entry name in the index
-- ARGV[4] max entries   ARGV[5] key prefix of entries
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[3]), ARGV[3])
local max = tonumber(ARGV[4])
local over = redis.call('ZCARD', KEYS[2]) - max
if over > 0 then
  local evicted = redis.call('ZPOPMIN', KEYS[2], over)
  for i = 1, #evicted, 2 do
    redis.call('DEL', ARGV[5] .. evicted[i])
  end
end
return 1
