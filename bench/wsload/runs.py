"""A whole measurement: start the clients, open the sockets, publish, measure a window, add it all up."""

from __future__ import annotations

import array
import os
import time
from typing import Any

import psutil

from diagops.bench.wsload.child import recv
from diagops.bench.wsload.cpu import ProcTree, cpu_entry, limits_of, machine_cpu_seconds
from diagops.bench.wsload.events import pad_for
from diagops.bench.wsload.harness import Clients
from diagops.bench.wsload.stats import merge_counts, percentiles
from diagops.bench.wsload.target import Target


def run_fanout(
    target: Target,
    sockets: int,
    seconds: float = 10.0,
    *,
    fanout: int = 10,
    period_s: float = 0.05,
    warmup_s: float = 3.0,
    event_bytes: int = 250,
    subscriber_procs: int = 1,
    pool_size: int = 32,
    connect_concurrency: int = 100,
    tag: str | None = None,
    on_window: Any = None,
) -> dict[str, Any]:
    """Fan-out run: `sockets` sockets over `sockets // fanout` executions, one event per `period_s`
    per execution, `seconds` measured after `warmup_s`. Returns every figure in one dict.
    `on_window(t0, t1)`, if given, is called just before the window starts (e.g. to start a profiler)."""
    tag = tag or f"{target.name}-{sockets}-{os.getpid()}-{int(time.time() * 1000) % 10**8}"
    executions = max(1, sockets // fanout)
    execution_ids = [f"b-{tag}-{i:05d}" for i in range(executions)]
    pad = pad_for(execution_ids[0], event_bytes)
    server = ProcTree(target.pids)
    clients = Clients(target, subscriber_procs, pool_size)
    try:
        clients.start()
        clients.create_executions(execution_ids, pad, timeout_s=60)
        subscriptions = [execution_ids[j % executions] for j in range(sockets)]
        opened = clients.open(subscriptions, connect_concurrency)
        subs_per_execution = [0] * executions
        for j in range(sockets):
            subs_per_execution[j % executions] += 1
        t_start = time.time() + 0.2
        t0 = t_start + warmup_s
        t1 = t0 + seconds
        t_stop = t1 + 0.3
        for pipe in clients.sub_pipes:
            pipe.send(("window", t0, t1))
        clients.pub_pipe.send(("run", execution_ids, pad, period_s, t_start, t_stop, t0, t1))
        client_trees = {"publisher": ProcTree([clients.publisher_pid])}  # type: ignore[list-item]
        for k, pid in enumerate(clients.subscriber_pids):
            client_trees[f"subscriber-{k}"] = ProcTree([pid])
        if on_window is not None:
            sleep_until(t0 - 0.5)
            on_window(t0, t1)
        sleep_until(t0)
        server.freeze()
        user0, sys0 = server.cpu_split()
        cpu0 = user0 + sys0
        clients0 = {name: tree.cpu() for name, tree in client_trees.items()}
        busy0, total0 = machine_cpu_seconds()
        wall0 = time.time()
        sleep_until(t1)
        user1, sys1 = server.cpu_split()
        cpu1 = user1 + sys1
        clients1 = {name: tree.cpu() for name, tree in client_trees.items()}
        busy1, total1 = machine_cpu_seconds()
        wall1 = time.time()
        rss = server.rss()
        published = recv(clients.pub_pipe, t_stop - time.time() + 30, "publisher")
        time.sleep(1.0)  # let the last deliveries arrive before counting losses
        reports = []
        for pipe in clients.sub_pipes:
            pipe.send(("report",))
            reports.append(recv(pipe, 60, "subscriber process"))
    finally:
        clients.stop()

    window = t1 - t0
    measured = wall1 - wall0
    delivered = sum(r["in_window"] for r in reports)
    lat_server = array.array("d")
    lat_client = array.array("d")
    for r in reports:
        lat_server.extend(r["lat_server"])
        lat_client.extend(r["lat_client"])
    target_rate = sockets / period_s
    expected_total = sum(ok * subs for ok, subs in zip(published["ok_by_execution"], subs_per_execution))
    received_total = sum(r["received"] for r in reports)
    server_share = (cpu1 - cpu0) / measured
    client_shares = {name: (clients1[name] - clients0[name]) / measured for name in client_trees}
    machine_busy = (busy1 - busy0) / max(total1 - total0, 1e-9)
    rate = delivered / window
    return {
        "target": target.name,
        "kind": target.kind,
        "sockets": sockets,
        "executions": executions,
        "fanout": fanout,
        "period_ms": period_s * 1000,
        "event_bytes": event_bytes,
        "frame_bytes_approx": event_bytes,
        "warmup_s": warmup_s,
        "window_s": round(window, 3),
        "connect": opened,
        "target_msgs_per_s": round(target_rate, 1),
        "delivered_in_window": delivered,
        "delivered_msgs_per_s": round(rate, 1),
        "delivered_vs_target": round(rate / target_rate, 4),
        "delivered_vs_published": round(delivered / (published["in_window"] * fanout), 4) if published["in_window"] else None,
        "latency_ms": {
            "server_timestamp": percentiles(lat_server, 1000.0),
            "client_sent_at": percentiles(lat_client, 1000.0),
        },
        "server_cpu": {**cpu_entry(cpu1 - cpu0, measured, delivered),
                       "user_s": round(user1 - user0, 3), "system_s": round(sys1 - sys0, 3)},
        "server_rss_mib": round(rss / 2**20, 1),
        "client_cpu": {name: cpu_entry(clients1[name] - clients0[name], measured, delivered) for name in client_trees},
        "machine_busy_percent": round(100 * machine_busy, 1),
        # Busy CPU of the machine not spent by the server or this benchmark's clients (other work on a shared box),
        # in % of one core.
        "other_load_core_percent": round(100 * max(0.0, (busy1 - busy0) - (cpu1 - cpu0)
                                                    - sum(clients1[k] - clients0[k] for k in client_trees)) / measured, 1),
        "machine_cores": psutil.cpu_count(),
        "limited_by": limits_of(server_share, client_shares, machine_busy, rate / target_rate,
                                published["lag_ms"]["p99"], period_s * 1000),
        "publish": {k: published[k] for k in ("scheduled", "ok", "in_window", "statuses", "lag_ms", "rtt_ms")},
        "integrity": {
            "expected_deliveries": expected_total,
            "received": received_total,
            "missing": max(0, expected_total - received_total),
            "gaps": sum(r["gaps"] for r in reports),
            "duplicates": sum(r["dups"] for r in reports),
            "frame_errors": merge_counts([r["errors"] for r in reports]),
            "server_closes": sum(r["server_closes"] for r in reports),
            "dropped_sockets": sum(r["dropped"] for r in reports),
        },
    }


def measure_idle(
    target: Target,
    counts: list[int],
    *,
    fanout: int = 10,
    baseline_sockets: int = 100,
    settle_s: float = 2.0,
    subscriber_procs: int = 1,
    connect_concurrency: int = 100,
    tag: str | None = None,
) -> dict[str, Any]:
    """Server RSS per idle subscribed socket: open `baseline_sockets` (warms every code path), take
    the baseline, then grow to each of `counts` and divide the RSS delta by the sockets added.
    Executions are created before the baseline, so their memory is not counted per socket."""
    counts = sorted(counts)
    tag = tag or f"idle-{target.name}-{os.getpid()}-{int(time.time() * 1000) % 10**8}"
    executions = max(1, counts[-1] // fanout)
    execution_ids = [f"b-{tag}-{i:05d}" for i in range(executions)]
    pad = pad_for(execution_ids[0], 250)
    server = ProcTree(target.pids)
    clients = Clients(target, subscriber_procs)
    points = []
    try:
        clients.start()
        clients.create_executions(execution_ids, pad, timeout_s=120)
        subscriptions = [execution_ids[j % executions] for j in range(counts[-1])]
        opened = 0
        first = clients.open(subscriptions[:baseline_sockets], connect_concurrency)
        opened = first["opened"]
        time.sleep(settle_s)
        server.freeze()
        base_rss = server.rss()
        base_n = opened
        for count in counts:
            step = clients.open(subscriptions[opened:count], connect_concurrency)
            opened += step["opened"]
            time.sleep(settle_s)
            server.freeze()
            rss = server.rss()
            points.append({
                "sockets": count, "open": opened, "failed": step["failed"], "connect_s": step["seconds"],
                "rss_mib": round(rss / 2**20, 2),
                "kib_per_socket": round((rss - base_rss) / max(opened - base_n, 1) / 1024, 2),
            })
    finally:
        clients.stop()
    return {"target": target.name, "kind": target.kind, "baseline_sockets": base_n,
            "baseline_rss_mib": round(base_rss / 2**20, 2), "points": points}


def sleep_until(moment: float) -> None:
    delay = moment - time.time()
    if delay > 0:
        time.sleep(delay)
