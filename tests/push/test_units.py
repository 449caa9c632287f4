"""Small pure pieces: request normalisation, lifecycle rules, rate limiter, outbox, memory store."""

from __future__ import annotations

import time

import pytest

from diagops.push.diagnosis import InvalidRequest, parse_request
from diagops.push.lifecycle import AlreadyFinal, MalformedEvent, NoOwner, Regression, TooManyEvents, advance
from diagops.push.limits import RateLimiter
from diagops.push.outbox import TEXT, Item, Outbox
from diagops.push.store.cache_policy import LruCache
from diagops.push.store.memory import MemoryStore, MemoryStoreConfig, _Executions


def req(**body):
    return parse_request({"brand": "Acme", **body}, default_lang="zh", default_platforms=["qwen"])


def test_cache_key_ignores_case_spacing_order_and_duplicates():
    a = req(brand="Acme  Tea", platforms=["qwen", "kimi"], questions=["Q1", "q2"])
    b = req(brand=" acme tea ", platforms=["Kimi", "QWEN", "kimi"], questions=["q2", "q1"])
    assert a.cache_key() == b.cache_key()
    assert a.cache_key() != req(brand="Acme Tea", platforms=["qwen"], questions=["Q1", "q2"]).cache_key()
    assert a.cache_key() != req(brand="Acme Tea", platforms=["qwen", "kimi"], questions=["Q1", "q2"], lang="en").cache_key()


def test_request_defaults_and_refusals():
    assert req().platforms == ("qwen",) and req().lang == "zh"
    with pytest.raises(InvalidRequest, match="platforms"):
        req(platforms=["x"] * 51)


def _adv(current, event="progress", data=None, **kw):
    return advance(current, "e", event, data or {"progress": 10}, timestamp="t", now=0.0, **kw)


def test_lifecycle_rules():
    with pytest.raises(NoOwner):
        _adv(None)
    snap, _ = _adv(None, data={"progress": 10, "stage": "ai_fetching"}, owner="u")
    assert (snap.seq, snap.status, snap.progress) == (1, "processing", 10)
    with pytest.raises(Regression):
        _adv(snap, data={"progress": 5})
    with pytest.raises(Regression):
        _adv(snap, data={"progress": 10, "stage": "queued"})
    with pytest.raises(MalformedEvent):
        _adv(snap, data={"stage": "analyzing"})  # a progress event names its progress
    done, _ = _adv(snap, "complete", {"report": {"x": 1}})
    assert (done.status, done.progress, done.seq) == ("complete", 100, 2)
    with pytest.raises(AlreadyFinal):
        _adv(done)
    with pytest.raises(TooManyEvents):
        _adv(snap, max_events=1)


def test_rate_limiter_allows_bursts_then_the_rate():
    limiter = RateLimiter(rate=10, burst=3)
    assert [limiter.allow("a", 0.0) for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("b", 0.0)  # per address
    assert limiter.allow("a", 0.1) and not limiter.allow("a", 0.1)


def test_rate_limiter_forgets_refilled_addresses():
    limiter = RateLimiter(rate=10, burst=1, max_addresses=2)
    for i, addr in enumerate("abc"):
        limiter.allow(addr, float(i))
    assert len(limiter._buckets) <= 2


def test_outbox_refuses_past_its_byte_budget():
    box = Outbox(10)
    assert box.put(Item(TEXT, "x" * 6, 6, 0.0, ""))
    assert not box.put(Item(TEXT, "x" * 6, 6, 0.0, ""))
    assert box.pop().nbytes == 6 and box.size == 0
    assert box.put(Item(TEXT, "x" * 10, 10, 0.0, ""))


def test_finished_executions_expire_after_retention():
    ex = _Executions(retention_s=10, max_events=100)
    ex.append("done", "progress", {"progress": 0}, "u", None)
    ex.append("done", "complete", {"report": {}}, None, None)
    ex.append("running", "progress", {"progress": 0}, "u", None)
    ex.finished_at["done"] -= 11
    assert ex.expire(time.time()) == 1
    assert "done" not in ex.snapshots and "running" in ex.snapshots


def test_unfinished_executions_are_dropped_once_abandoned():
    ex = _Executions(retention_s=10, max_events=100, abandoned_after_s=60)
    ex.append("stuck", "progress", {"progress": 0}, "u", None)
    ex.append("busy", "progress", {"progress": 0}, "u", None)
    now = time.time()
    ex.last_event_at["stuck"] -= 61
    assert ex.expire(now) == 1
    assert "stuck" not in ex.snapshots and "busy" in ex.snapshots


def test_lru_cache_bounds_entries_and_honours_ttl():
    cache: LruCache[list[str]] = LruCache(2)
    cache.put("a", [], 100.0, 0.0)
    cache.put("b", [], 100.0, 0.0)
    assert cache.get("a", 0.0) == []
    cache.put("c", [], 100.0, 0.0)  # evicts b, the least recently used
    assert cache.get("b", 0.0) is None and cache.get("a", 0.0) == []
    assert cache.get("a", 100.0) is None


async def test_memory_store_replays_by_seq():
    store = MemoryStore(MemoryStoreConfig())
    await store.start()
    for p in (0, 10, 20):
        await store.publish("e", "progress", {"progress": p}, owner="u")
    assert [u.seq for u in await store.events_after("e", 1)] == [2, 3]
    assert await store.events_after("missing", 0) == []
    await store.close()


def test_the_verifier_remembers_valid_tokens_but_still_checks_scope_and_expiry():
    import dataclasses
    import time

    from diagops.push.auth import AuthError, TokenVerifier, mint_token

    secret = "s" * 32
    verifier = TokenVerifier(secret)
    good = mint_token(secret, "u", ("subscribe",))
    assert verifier.verify(good, need="subscribe").sub == "u"
    assert good in verifier._valid
    with pytest.raises(AuthError) as refused:
        verifier.verify(good, need="publish")  # remembered claims are still checked for scope
    assert refused.value.reason == "scope"
    # A remembered entry past its exp is not trusted: the token is decoded again.
    verifier._valid[good] = dataclasses.replace(verifier._valid[good], exp=time.time() - 1)
    assert verifier.verify(good, need="subscribe").exp > time.time()
    with pytest.raises(AuthError) as invalid:
        verifier.verify("not-a-token", need="subscribe")
    assert invalid.value.reason == "invalid" and "not-a-token" not in verifier._valid


@pytest.mark.parametrize("algorithm", ["HS256", "HS384", "HS512"])
def test_the_generated_secret_is_long_enough_for_every_algorithm_the_spec_allows(algorithm):
    # PyJWT warns (and RFC 7518 forbids) HMAC keys shorter than the hash: 64 bytes for HS512.
    import warnings

    from diagops.push.auth import mint_token, random_secret, verify_token

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        secret = random_secret()
        token = mint_token(secret, "u1", ["subscribe"], algorithm=algorithm)
        assert verify_token(token, secret, need="subscribe", algorithm=algorithm).sub == "u1"
