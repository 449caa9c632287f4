"""Which Redis `maxmemory-policy` keeps diagops' streams whole.

An `allkeys-*` policy lets Redis evict any key when it reaches `maxmemory`, the
event log or snapshot of a running execution included: a subscriber would then
see its stream vanish (`not_found`) or a gap. `noeviction` refuses writes at the
limit instead (publishes get 503 `store_unavailable`, nothing is lost), and the
`volatile-*` policies evict only keys with a TTL, which diagops sets on every key,
finished executions' soonest (`store.retention_s`) - see README, "Memory".
"""

from __future__ import annotations

SAFE_POLICIES = ("noeviction", "volatile-ttl", "volatile-lru", "volatile-lfu", "volatile-random")


def eviction_policy_warning(policy: str) -> str | None:
    """The line `serve` logs at start for a policy that can drop a live stream's keys, else None."""
    if not policy.startswith("allkeys-"):
        return None
    return (f"Redis maxmemory-policy is {policy}: at maxmemory it may evict a running diagnosis's keys and break "
            f"its stream; set it to noeviction or volatile-ttl (CONFIG SET maxmemory-policy noeviction)")
