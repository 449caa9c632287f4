-- Append a batch of events for several executions, each execution only if
-- nobody changed it since the caller's snapshot, then broadcast every event
-- written in ONE message: the batch form of redis_append.lua (read it first).
--
-- One group per execution, its events in order, judged in Python by
-- push.lifecycle.advance one after the other from the caller's snapshot. A
-- group is written whole or not at all: its version and log length must still
-- be those the caller judged against; then its events, its last snapshot and
-- the TTL are written. A group that conflicts writes nothing and answers the
-- stored snapshot, so the caller re-judges that execution alone. The groups do
-- not depend on each other: one conflict leaves the others written.
--
-- Every written event goes out in one PUBLISH at the end, envelopes joined by
-- "\n" (an envelope never holds a raw newline: its JSON is compact and escapes
-- them), inside this script: stored and broadcast together or not at all.
--
-- ARGV[1] channel, ARGV[2] the number of groups, then per group g (KEYS[2g-1]
-- snapshot hash, KEYS[2g] event log): expected version, expected seq, new
-- version, new snapshot JSON, TTL in ms ("0": none), n, then n envelopes.
-- Answers one entry per group: {1, log length} written, {0, snapshot JSON or ""}.
local answers = {}
local written = {}
local at = 3
for g = 1, tonumber(ARGV[2]) do
  local snap, log = KEYS[2 * g - 1], KEYS[2 * g]
  local expected, expected_seq = ARGV[at], tonumber(ARGV[at + 1])
  local new_version, doc, ttl = ARGV[at + 2], ARGV[at + 3], ARGV[at + 4]
  local n = tonumber(ARGV[at + 5])
  local first = at + 6
  at = first + n
  local version = redis.call('HGET', snap, 'v')
  if not version then
    redis.call('DEL', log)  -- what is left of an expired execution must not prefix a new one
    version = ''
  end
  if version ~= expected or redis.call('LLEN', log) ~= expected_seq then
    answers[g] = {0, redis.call('HGET', snap, 'doc') or ''}
  else
    redis.call('HSET', snap, 'v', new_version, 'doc', doc)
    local length = 0
    local i = first
    while i < first + n do  -- in chunks: unpack() of thousands of values can overflow Lua's stack
      local last = math.min(i + 499, first + n - 1)
      length = redis.call('RPUSH', log, unpack(ARGV, i, last))
      i = last + 1
    end
    if ttl ~= '0' then
      redis.call('PEXPIRE', snap, ttl)
      redis.call('PEXPIRE', log, ttl)
    end
    for j = first, first + n - 1 do
      written[#written + 1] = ARGV[j]
    end
    answers[g] = {1, length}
  end
end
if #written > 0 then
  redis.call('PUBLISH', ARGV[1], table.concat(written, '\n'))
end
return answers
