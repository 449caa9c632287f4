"""Functional acceptance: what the mini program relies on, seen through the public API and socket."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from diagops.checks.context import GateContext
from diagops.checks.model import Outcome, failed, passed
from diagops.checks.registry import check
from diagops.checks.wire import Stream, WireError, follow, receive, stream_problems
from diagops.push.errors import ERROR_TABLE
from diagops.push.protocol import LANGS, STAGES, dumps, parse_timestamp

AUTH_CLOSE = 4001


@check(id="push.end_to_end", title_en="A diagnosis is pushed end to end", title_zh="诊断进度端到端推送",
       category="functional", required=True)
async def end_to_end(ctx: GateContext) -> Outcome:
    started = await ctx.start_diagnosis(brand=ctx.brand("e2e"))
    eid = started["execution_id"]
    stream = (await ctx.watch([eid]))[eid]
    problems = stream_problems(stream)
    stages = [u["data"].get("stage") for u in stream.updates if isinstance(u.get("data"), dict) and u["data"].get("stage")]
    if any(s not in STAGES for s in stages) or [STAGES.index(s) for s in stages] != sorted(STAGES.index(s) for s in stages):
        problems.append(f"stages out of order: {stages}")
    for update in stream.updates:
        try:
            parse_timestamp(str(update.get("timestamp")))
        except ValueError:
            problems.append(f"seq {update.get('seq')}: timestamp {update.get('timestamp')!r} is not the contract's")
            break
    final = stream.final
    if final is not None and (final.get("event") != "complete" or not isinstance(final["data"].get("report"), dict)):
        problems.append(f"ended in {final.get('event')} without a report")
    evidence = {"execution_id": eid, "seqs": stream.seqs, "stages": stages,
                "events": [u.get("event") for u in stream.updates]}
    if problems:
        return failed("; ".join(problems[:5]), **evidence)
    return passed(f"seq 1..{stream.last_seq}, no gap or duplicate, progress never down, complete with a report",
                  **evidence)


@check(id="push.message_kinds", title_en="The reference client handles every message kind",
       title_zh="参考客户端处理所有消息类型", category="functional", required=True)
async def message_kinds(ctx: GateContext) -> Outcome:
    from diagops.push.client import ClientError, follow as client_follow

    seen: dict[str, Any] = {}
    problems: list[str] = []
    # The terminal client's own logic (push.client) on a completed and on a failed diagnosis.
    done = await ctx.start_diagnosis(brand=ctx.brand("kinds"))
    failed_id = ctx.execution_id("kinds-error")
    for event, data, extra in (("progress", {"progress": 10, "stage": "ai_fetching"}, {"owner": ctx.user("alice")}),
                               ("error", {"error_type": "TIMEOUT", "error": "gate"}, {})):
        answer = await ctx.publish(failed_id, event, data, **extra)
        if answer.status != 202:
            return failed(f"publishing a test error event answered {answer.status}", body=answer.body)
    for eid, want in ((done["execution_id"], "complete"), (failed_id, "error")):
        try:
            progress = await asyncio.to_thread(client_follow, ctx.target, ctx.token("alice"), eid,
                                               timeout=ctx.spec.verify.final_timeout_s)
        except ClientError as exc:
            problems.append(f"reference client on {want}: {exc}")
            continue
        final = progress.final
        seen[want] = {"events": len(progress.events), "final": final and final.get("event")}
        if final is None or final.get("event") != want:
            problems.append(f"reference client ended {eid} with {final and final.get('event')}, not {want}")
    # The control frames, on one socket.
    ws = await ctx.connect(ctx.token("alice"))
    deadline = time.monotonic() + 10
    try:
        for name, frame, want_type, want_code in (
            ("ping", {"type": "ping"}, "pong", None),
            ("unsubscribe", {"type": "unsubscribe", "execution_id": done["execution_id"]}, "unsubscribed", None),
            ("unknown type", {"type": "gate-unknown"}, "error", "unknown_type"),
            ("missing field", {"type": "subscribe"}, "error", "missing_field"),
            ("wrong field type", {"type": "subscribe", "execution_id": 7}, "error", "invalid_field"),
            ("unknown execution", {"type": "subscribe", "execution_id": ctx.execution_id("nothing")}, "error", "not_found"),
            ("not JSON", None, "error", "bad_json"),
        ):
            await ws.send_str("{not json" if frame is None else dumps(frame))
            answer = await receive(ws, deadline)
            seen[name] = answer
            if answer is None or answer.get("type") != want_type or (want_code and answer.get("code") != want_code):
                problems.append(f"{name}: answered {answer}, not {want_type} {want_code or ''}".strip())
    finally:
        await ws.close()
    if problems:
        return failed("; ".join(problems), seen=seen)
    return passed("complete, error, pong, unsubscribed and every frame error handled as the contract says", seen=seen)


@check(id="errors.friendly", title_en="Every error type has its friendly message", title_zh="错误类型友好提示",
       category="functional", required=True)
async def friendly_errors(ctx: GateContext) -> Outcome:
    cases = [(etype, lang, ctx.execution_id(f"err-{etype.lower()}-{lang}")) for etype in ERROR_TABLE for lang in LANGS]
    for etype, lang, eid in cases:
        for event, data, extra in (("progress", {"progress": 5, "stage": "ai_fetching"}, {"owner": ctx.user("alice"), "lang": lang}),
                                   ("error", {"error_type": etype, "error": f"gate {etype}"}, {})):
            answer = await ctx.publish(eid, event, data, **extra)
            if answer.status != 202:
                return failed(f"publishing {event} for {etype}/{lang} answered {answer.status}", body=answer.body)
    streams = await ctx.watch([eid for *_, eid in cases])
    problems, rows = [], []
    for etype, lang, eid in cases:
        entry = ERROR_TABLE[etype]
        want = {"message": entry.message(lang), "retryable": entry.retryable}
        final = streams[eid].final or {}
        pushed = {k: (final.get("data") or {}).get(k) for k in want}
        poll = await ctx.http("GET", f"/api/v1/executions/{eid}", token=ctx.token("alice"))
        polled_error = poll.body.get("error") if isinstance(poll.body, dict) else None
        polled = {k: (polled_error or {}).get(k) for k in want}
        rows.append({"error_type": etype, "lang": lang, "pushed": pushed, "polled": polled})
        if pushed != want:
            problems.append(f"{etype}/{lang} pushed {pushed}")
        if polled != want:
            problems.append(f"{etype}/{lang} polled {polled}")
    if problems:
        return failed(f"{len(problems)} wrong: " + "; ".join(problems[:4]), cases=rows)
    return passed(f"{len(cases)} error types × languages: message and retryable filled from the table, pushed and polled",
                  cases=rows)


async def _socket_refused(ctx: GateContext, token: str | None) -> str | None:
    """None when the socket was refused as the contract says (401 on upgrade, or closed 4001)."""
    import aiohttp

    try:
        ws = await ctx.connect(token)
    except aiohttp.WSServerHandshakeError as exc:
        return None if exc.status == 401 else f"upgrade answered {exc.status}, not 401"
    try:
        await ws.send_str(dumps({"type": "ping"}))
        frame = await receive(ws, time.monotonic() + 5)
        if frame is None and ws.close_code == AUTH_CLOSE:
            return None
        return f"socket accepted (answered {frame and frame.get('type')}, close code {ws.close_code})"
    except WireError as exc:
        return f"socket neither refused nor answered: {exc}"
    finally:
        await ws.close()


def _error_body(answer: Any, status: int, code: str | None = None) -> str | None:
    body = answer.body
    if answer.status != status:
        return f"answered {answer.status}, not {status}"
    if not (isinstance(body, dict) and isinstance(body.get("error"), dict)
            and isinstance(body["error"].get("code"), str) and isinstance(body["error"].get("message"), str)):
        return f"{status} without a JSON error body: {str(body)[:120]}"
    if code is not None and body["error"]["code"] != code:
        return f"{status} with code {body['error']['code']}, not {code}"
    return None


@check(id="auth.refusals", title_en="Bad tokens and other users are refused", title_zh="鉴权与授权拒绝",
       category="functional", required=True)
async def auth_refusals(ctx: GateContext) -> Outcome:
    bad_tokens = {
        "missing": None,
        "badly signed": ctx.token("alice", secret="a-secret-that-is-not-the-target-one-" + ctx.run_id),
        "expired": ctx.token("alice", ttl_s=-120),
        "without the subscribe scope": ctx.token("alice", ()),
    }
    results: dict[str, str | None] = {}
    for name, token in bad_tokens.items():
        results[f"socket, {name} token"] = await _socket_refused(ctx, token)
    for name, token in list(bad_tokens.items())[:3]:
        answer = await ctx.http("POST", "/api/v1/diagnoses", token=token, json_body={"brand": "refused"})
        results[f"POST diagnoses, {name} token"] = _error_body(answer, 401)
    own = await ctx.start_diagnosis(brand=ctx.brand("authz"))
    eid = own["execution_id"]
    for path in (f"/api/v1/executions/{eid}", f"/api/v1/executions/{eid}/events?after=0"):
        answer = await ctx.http("GET", path, token=ctx.token("bob"))
        results[f"GET {path.split('?')[0].replace(eid, '{id}')} as another user"] = _error_body(answer, 403, "forbidden")
    answer = await ctx.http("POST", f"/api/v1/executions/{eid}/events", token=ctx.token("alice"),
                            json_body={"event": "progress", "data": {"progress": 99}})
    results["publish without the publish scope"] = _error_body(answer, 403, "forbidden")
    ws = await ctx.connect(ctx.token("bob"))
    try:
        await ws.send_str(dumps({"type": "subscribe", "execution_id": eid}))
        frame = await receive(ws, time.monotonic() + 5)
        results["subscribe to another user's execution"] = None if (
            frame and frame.get("type") == "error" and frame.get("code") == "forbidden") else f"answered {frame}"
    finally:
        await ws.close()
    wrong = {k: v for k, v in results.items() if v is not None}
    evidence = {"cases": {k: v or "refused as the contract says" for k, v in results.items()}}
    if wrong:
        return failed(f"{len(wrong)} of {len(results)} not refused: " + "; ".join(f"{k}: {v}" for k, v in list(wrong.items())[:3]),
                      **evidence)
    return passed(f"all {len(results)} refused (401/4001 for bad tokens, 403 forbidden for others' executions)", **evidence)


def _fold(updates: list[dict[str, Any]], upto: int) -> dict[str, Any]:
    """The polled state the pushed events up to seq `upto` imply (the contract's snapshot rules)."""
    state: dict[str, Any] = {"seq": 0, "progress": 0, "stage": "queued", "status_text": ""}
    for update in updates:
        if update.get("seq", 0) > upto:
            break
        data = update.get("data") or {}
        state["seq"] = update["seq"]
        state["stage"] = data.get("stage", state["stage"])
        if update.get("event") == "error":
            state["status_text"] = data.get("status_text", data.get("message", state["status_text"]))
        else:
            state["status_text"] = data.get("status_text", state["status_text"])
        if update.get("event") == "complete" and "progress" not in data:
            state["progress"] = 100
        else:
            state["progress"] = data.get("progress", state["progress"])
    return state


@check(id="polling.agrees", title_en="The polling fallback agrees with the pushed stream",
       title_zh="轮询降级与推送一致", category="functional", required=True)
async def polling_agrees(ctx: GateContext) -> Outcome:
    count = ctx.spec.verify.polling_executions
    streams: dict[str, Stream] = {}
    polls: dict[str, tuple[int, asyncio.Task[Any]]] = {}
    deadline = time.monotonic() + ctx.spec.verify.final_timeout_s
    ws = await ctx.connect(ctx.token("alice"))
    try:
        # Each one subscribed right after it starts, so its progress is seen (and polled) while it runs.
        for i in range(count):
            eid = (await ctx.start_diagnosis(brand=ctx.brand(f"poll {i}")))["execution_id"]
            streams[eid] = Stream(eid)
            await ws.send_str(dumps({"type": "subscribe", "execution_id": eid}))
        while any(s.final is None for s in streams.values()):
            frame = await receive(ws, deadline)
            if frame is None:
                raise WireError("the socket closed before every final event")
            stream = streams.get(str(frame.get("execution_id")))
            if stream is None or frame["type"] != "diagnosis_update":
                continue
            stream.updates.append(frame)
            if stream.final is None and stream.execution_id not in polls and frame.get("seq", 0) >= 2:
                polls[stream.execution_id] = (frame["seq"], asyncio.create_task(
                    ctx.http("GET", f"/api/v1/executions/{stream.execution_id}", token=ctx.token("alice"))))
    finally:
        await ws.close()
    problems: list[str] = []
    mid_run = 0
    for eid, (pushed_seq, task) in polls.items():
        answer = await task
        body = answer.body if isinstance(answer.body, dict) else {}
        seq = body.get("seq")
        if not isinstance(seq, int) or seq < pushed_seq:
            problems.append(f"{eid}: polled seq {seq} after seq {pushed_seq} was pushed (stale)")
            continue
        mid_run += body.get("status") not in ("complete", "error")
        want = _fold(streams[eid].updates, seq)
        got = {k: body.get(k) for k in want}
        if got != want:
            problems.append(f"{eid} mid-run: polled {got}, pushed {want}")
    for eid, stream in streams.items():
        final = stream.final or {}
        poll = await ctx.http("GET", f"/api/v1/executions/{eid}", token=ctx.token("alice"))
        body = poll.body if isinstance(poll.body, dict) else {}
        want = {**_fold(stream.updates, stream.last_seq), "status": final.get("event"),
                "report": (final.get("data") or {}).get("report")}
        got = {k: body.get(k) for k in want}
        if got != want:
            problems.append(f"{eid} at the end: polled {got}, pushed {want}")
        events = await ctx.http("GET", f"/api/v1/executions/{eid}/events?after=0", token=ctx.token("alice"))
        if events.body != stream.updates:
            problems.append(f"{eid}: /events lists {len(events.body) if isinstance(events.body, list) else events.body} "
                            f"events, not the {len(stream.updates)} pushed")
    evidence = {"executions": count, "polled_mid_run": mid_run, "polled_after_push": len(polls)}
    if not problems and mid_run == 0:
        problems.append("no execution was still running when it was polled, so nothing was compared mid-run")
    if problems:
        return failed(f"{len(problems)} disagreements: " + "; ".join(problems[:3]), problems=problems[:20], **evidence)
    return passed(f"{count} executions: polled state equals the pushed stream mid-run ({mid_run} still running) and at the end",
                  **evidence)


@check(id="push.resume", title_en="Reconnecting with last_seq gets exactly the missed events",
       title_zh="断线重连按 last_seq 补发", category="functional", required=True)
async def resume(ctx: GateContext) -> Outcome:
    started = await ctx.start_diagnosis(brand=ctx.brand("resume"))
    eid = started["execution_id"]
    first = {eid: Stream(eid)}
    ws = await ctx.connect(ctx.token("alice"))
    try:
        await ws.send_str(dumps({"type": "subscribe", "execution_id": eid}))
        await follow(ws, first, time.monotonic() + ctx.spec.verify.final_timeout_s, stop_after=2)
    finally:
        await ws.close()
    seen = first[eid].last_seq
    await ctx.wait_final(eid)
    again = (await ctx.watch([eid], last_seq=seen))[eid]
    full = await ctx.http("GET", f"/api/v1/executions/{eid}/events?after=0", token=ctx.token("alice"))
    last = full.body[-1]["seq"] if isinstance(full.body, list) and full.body else None
    evidence = {"execution_id": eid, "seen_before_drop": first[eid].seqs, "replayed": again.seqs, "stored_last_seq": last}
    problems = stream_problems(again, first_seq=seen + 1)
    if last is not None and again.last_seq != last:
        problems.append(f"replay ended at seq {again.last_seq}, the store holds {last}")
    if problems:
        return failed(f"after a drop at seq {seen}: " + "; ".join(problems[:3]), **evidence)
    return passed(f"dropped at seq {seen}, resumed with seq {seen + 1}..{again.last_seq}, none twice", **evidence)


@check(id="cache.identical", title_en="An identical request is served from the cache", title_zh="相同请求命中缓存",
       category="functional", required=True)
async def cache_identical(ctx: GateContext) -> Outcome:
    brand = ctx.brand("Cache")
    body = {"brand": brand, "platforms": ["deepseek", "qwen"], "questions": ["Who leads?"]}
    first = await ctx.start_diagnosis(**body)
    await ctx.wait_final(first["execution_id"])
    # Equal after normalising case, spaces and order (the contract's cache key).
    same = {"brand": f"  {brand.upper()} ", "platforms": ["qwen", "deepseek"], "questions": ["who  leads?"]}
    second = await ctx.start_diagnosis(**same)
    evidence: dict[str, Any] = {"first": first, "second": second}
    if first.get("cached") is not False:
        return failed(f"a new request answered cached={first.get('cached')}", **evidence)
    if second.get("cached") is not True:
        return failed("the identical request was not served from the cache (cached is not true)", **evidence)
    stream = (await ctx.watch([second["execution_id"]]))[second["execution_id"]]
    problems = stream_problems(stream)
    if stream.final is not None and stream.final.get("event") != "complete":
        problems.append(f"the cached execution ended in {stream.final.get('event')}")
    evidence["cached_seqs"] = stream.seqs
    if problems:
        return failed("cached execution: " + "; ".join(problems), **evidence)
    return passed(f"served from the cache as a new execution, seq 1..{stream.last_seq} ending complete", **evidence)
