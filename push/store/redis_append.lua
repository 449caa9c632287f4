-- Append one event to an execution's log, if nobody changed the execution since
-- the caller's snapshot of it.
--
-- Compare-and-swap only: the lifecycle rules (owner, finality, regressions,
-- the event cap) were applied in Python by push.lifecycle.advance on that
-- snapshot. The snapshot's version is "<seq>:<created_at>": seq changes with
-- every event, and created_at tells a re-created execution from an expired one
-- of the same id. The log length must equal the expected seq too (seq n is
-- entry n). On success the event, the new snapshot, the retention TTL and the
-- live broadcast are written as one atomic step and {1, seq} comes back; on a
-- conflict nothing is written and {0, current snapshot JSON or ""} comes back,
-- so the caller can re-validate without another read.
--
-- KEYS[1] snapshot (hash: v = version, doc = JSON)   KEYS[2] event log (list)
-- ARGV[1] expected version ("" when the execution is new)   ARGV[2] expected seq
-- ARGV[3] new version   ARGV[4] new snapshot JSON   ARGV[5] envelope
-- ARGV[6] channel       ARGV[7] TTL in ms: retention once final, else the abandoned-after
--                       time (renewed by every event), "0" for none
local version = redis.call('HGET', KEYS[1], 'v')
if not version then
  -- A log without a snapshot is what is left of an expired execution (their
  -- TTLs end separately): it must not prefix a new one.
  redis.call('DEL', KEYS[2])
  version = ''
end
if version ~= ARGV[1] or redis.call('LLEN', KEYS[2]) ~= tonumber(ARGV[2]) then
  return {0, redis.call('HGET', KEYS[1], 'doc') or ''}
end
redis.call('HSET', KEYS[1], 'v', ARGV[3], 'doc', ARGV[4])
local seq = redis.call('RPUSH', KEYS[2], ARGV[5])
if ARGV[7] ~= '0' then
  redis.call('PEXPIRE', KEYS[1], ARGV[7])
  redis.call('PEXPIRE', KEYS[2], ARGV[7])
end
redis.call('PUBLISH', ARGV[6], ARGV[5])
return {1, seq}
