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
-- snapshot hash, KEYS[2g] event log): a header "expected version\nexpected
-- seq\nnew version\nTTL in ms ("0": none)\nn" (one argument: the client pays
-- per argument), the new snapshot JSON, then n envelopes.
-- Answers {flags, docs...}: flags has one character per group, "1" written
-- (its log is then exactly expected seq + n long: checked above) or "0" a
-- conflict, whose stored snapshot JSON (or "") follows in group order. Compact
-- because the client parses every element of a reply.
local flags = {}
local answers = {''}
local written = {}
local at = 3
for g = 1, tonumber(ARGV[2]) do
  local snap, log = KEYS[2 * g - 1], KEYS[2 * g]
  local expected, expected_seq, new_version, ttl, n = string.match(ARGV[at], '^(.-)\n(%d+)\n(.-)\n(%d+)\n(%d+)$')
  expected_seq, n = tonumber(expected_seq), tonumber(n)
  local doc = ARGV[at + 1]
  local first = at + 2
  at = first + n
  local version = redis.call('HGET', snap, 'v')
  if not version then
    redis.call('DEL', log)  -- what is left of an expired execution must not prefix a new one
    version = ''
  end
  if version ~= expected or redis.call('LLEN', log) ~= expected_seq then
    flags[g] = '0'
    answers[#answers + 1] = redis.call('HGET', snap, 'doc') or ''
  else
    redis.call('HSET', snap, 'v', new_version, 'doc', doc)
    local i = first
    while i < first + n do  -- in chunks: unpack() of thousands of values can overflow Lua's stack
      local last = math.min(i + 499, first + n - 1)
      redis.call('RPUSH', log, unpack(ARGV, i, last))
      i = last + 1
    end
    if ttl ~= '0' then
      redis.call('PEXPIRE', snap, ttl)
      redis.call('PEXPIRE', log, ttl)
    end
    for j = first, first + n - 1 do
      written[#written + 1] = ARGV[j]
    end
    flags[g] = '1'
  end
end
answers[1] = table.concat(flags)
if #written > 0 then
  redis.call('PUBLISH', ARGV[1], table.concat(written, '\n'))
end
return answers
