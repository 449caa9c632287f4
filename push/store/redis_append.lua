-- Append one event to an execution's log, if nobody appended since we read it.
--
-- Compare-and-swap only: the lifecycle rules (owner, finality, regressions,
-- the event cap) were already applied in Python by push.lifecycle.advance on
-- the snapshot read at seq = ARGV[1]. This script checks that the log still
-- has exactly that many entries (seq n is entry n, so the log length is the
-- execution's version), then writes the event, the new snapshot, the retention
-- TTL and the live broadcast as one atomic step. Returns the new seq, or -1
-- when another writer got there first (the caller re-reads and re-validates).
--
-- KEYS[1] snapshot (string, JSON)   KEYS[2] event log (list of envelopes)
-- ARGV[1] expected seq   ARGV[2] snapshot JSON   ARGV[3] envelope
-- ARGV[4] channel        ARGV[5] retention in ms, "0" while not final
if redis.call('LLEN', KEYS[2]) ~= tonumber(ARGV[1]) then
  return -1
end
redis.call('SET', KEYS[1], ARGV[2])
local seq = redis.call('RPUSH', KEYS[2], ARGV[3])
if ARGV[5] ~= '0' then
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  redis.call('PEXPIRE', KEYS[2], ARGV[5])
end
redis.call('PUBLISH', ARGV[4], ARGV[3])
return seq
