"""Step 3: alerts on causes rather than budgets: cache, capacity, connection churn, store, scraping.

Each threshold is read from the spec (slo.cache_hit, slo.capacity with
limits.max_connections, slo.reliability, slo.alerting); none is written here.
"""

from __future__ import annotations

from diagops.alerts.model import Alert, Group, Runbook
from diagops.alerts.slis import CACHE_KEY, PREFIX, pct, ratio_record
from diagops.spec import Spec

STATUS = "`diagops status` shows each indicator against its objective and the alerts firing."


def cache_alert(spec: Spec) -> Alert:
    a, target = spec.slo.alerting, spec.slo.cache_hit.min_hit_ratio
    return Alert(
        name="DiagopsCacheHitRatioLow",
        expr=f"{ratio_record(CACHE_KEY, a.cache_window)} < {target:g}",
        severity="warning",
        for_=a.cache_for,
        summary=f"Cache hit ratio {{{{ $value | humanizePercentage }}}} is under the {pct(target)} objective.",
        description=(
            f"Over the last {a.cache_window}, {{{{ $value | humanizePercentage }}}} of diagnosis requests were served "
            f"from the result cache; the objective is at least {pct(target)} (slo.cache_hit.min_hit_ratio). "
            "Every miss runs a full diagnosis against the AI platforms."
        ),
        runbook=Runbook(
            meaning=f"Fewer than {pct(target)} of `POST /api/v1/diagnoses` requests hit the result cache.",
            impact="More diagnoses run on the engine: higher AI cost, longer waits, more queueing.",
            diagnose=(
                STATUS,
                "Dashboard row Cache: did misses rise (new traffic) or hits fall (cache emptied)?",
                "A restart of the service with the memory store empties the cache; with Redis check `cache.ttl_s` and evictions.",
                "A new client that varies its requests (brand spelling, platform order) defeats the cache key.",
            ),
            mitigate=(
                "Use the Redis store so restarts keep the cache; raise `cache.ttl_s` / `cache.max_entries`.",
                "If the traffic mix changed for good, revisit slo.cache_hit.min_hit_ratio.",
            ),
        ),
    )


def capacity_alerts(spec: Spec) -> list[Alert]:
    a, cap, limit = spec.slo.alerting, spec.slo.capacity, spec.limits.max_connections
    warn_at = round(limit * cap.warn_ratio)
    connections = f"sum by (instance) ({PREFIX}_ws_connections)"
    diagnose = (
        STATUS,
        "Dashboard row Traffic: connections per instance and connections opened per second.",
        "A client reconnecting in a loop shows as opened/s far above new users; check `diagops_ws_disconnections_total` by reason.",
    )
    return [
        Alert(
            name="DiagopsConnectionsNearCapacity",
            expr=f"{connections} >= {warn_at}",
            severity="warning",
            for_=a.capacity_for,
            summary=f"{{{{ $value }}}} open connections on {{{{ $labels.instance }}}}, over {pct(cap.warn_ratio)} of the {limit} allowed.",
            description=(
                f"{{{{ $labels.instance }}}} holds {{{{ $value }}}} WebSocket connections; it refuses new ones at "
                f"limits.max_connections = {limit}. The warning level is {pct(cap.warn_ratio)} ({warn_at}); "
                f"the objective is to serve at least {cap.required_connections} concurrently."
            ),
            runbook=Runbook(
                meaning=f"An instance is above {pct(cap.warn_ratio)} of its connection limit ({warn_at} of {limit}).",
                impact="None yet; at the limit new WebSocket upgrades are refused with HTTP 503 and clients fall back to polling.",
                diagnose=diagnose,
                mitigate=(
                    "Add instances behind the load balancer, or raise limits.max_connections if memory allows "
                    "(an idle subscribed socket measured 17.6 KiB of server memory).",
                ),
            ),
        ),
        Alert(
            name="DiagopsConnectionsAtCapacity",
            expr=f"{connections} >= {limit}",
            severity="critical",
            for_=a.capacity_for,
            summary=f"{{{{ $labels.instance }}}} is at its connection limit ({{{{ $value }}}} of {limit}).",
            description=(
                f"{{{{ $labels.instance }}}} holds {{{{ $value }}}} WebSocket connections, the configured maximum "
                f"(limits.max_connections = {limit}); new clients are refused. The objective is to serve at least "
                f"{cap.required_connections} concurrently."
            ),
            runbook=Runbook(
                meaning=f"An instance reached limits.max_connections ({limit}).",
                impact="New WebSocket upgrades are refused with HTTP 503; those clients lose live progress and fall back to polling.",
                diagnose=diagnose,
                mitigate=("Add instances now; then find whether the growth is real users or a reconnect loop.",),
            ),
        ),
    ]


def _spike(spec: Spec, name: str, metric: str, key: str, what: str, runbook: Runbook) -> Alert:
    a = spec.slo.alerting
    limit = getattr(spec.slo.reliability, key)
    return Alert(
        name=name,
        expr=f"sum(rate({metric}[{a.spike_window}])) * 60 > {limit:g}",
        severity="warning",
        for_=a.spike_for,
        summary=f"{{{{ $value | printf \"%.1f\" }}}} {what} per minute (objective: at most {limit:g}).",
        description=(
            f"Over the last {a.spike_window}, {{{{ $value | printf \"%.1f\" }}}} {what} per minute; "
            f"the objective (slo.reliability.{key}) is at most {limit:g} per minute."
        ),
        runbook=runbook,
    )


def churn_alerts(spec: Spec) -> list[Alert]:
    return [
        _spike(
            spec, "DiagopsHeartbeatTimeoutsHigh", f"{PREFIX}_heartbeat_timeouts_total",
            "max_heartbeat_timeouts_per_min", "clients closed for heartbeat timeouts",
            Runbook(
                meaning=f"Clients stop answering pings within heartbeat.timeout_s ({spec.heartbeat.timeout_s:g} s) (close 4008).",
                impact="Those users miss live progress until they reconnect with last_seq.",
                diagnose=(
                    STATUS,
                    "Many at once: a network path (proxy, load balancer idle timeout) dropping sockets, or the service's event loop stalled.",
                    "Dashboard row Reliability: heartbeat timeouts beside push latency and store latency.",
                ),
                mitigate=(
                    "Fix the proxy idle timeout to exceed heartbeat.interval_s; if the loop stalls, find the blocking call (CPU, store).",
                ),
            ),
        ),
        _spike(
            spec, "DiagopsSlowConsumersHigh", f"{PREFIX}_slow_consumer_disconnects_total",
            "max_slow_consumers_per_min", "clients closed as slow consumers",
            Runbook(
                meaning=f"Clients let more than limits.max_send_queue_bytes ({spec.limits.max_send_queue_bytes} B) pile up and are closed (1008 `slow`).",
                impact="Those clients lose live progress; the others are protected.",
                diagnose=(
                    STATUS,
                    "One client version or network (mobile) behind it? Look at the clients' logs and user agents.",
                    "A burst of large `complete` reports can also fill queues: check messages/s by event.",
                ),
                mitigate=("Raise limits.max_send_queue_bytes only with memory to spare; fix the client's read loop.",),
            ),
        ),
    ]


def store_alert(spec: Spec) -> Alert:
    a, limit = spec.slo.alerting, spec.slo.reliability.max_store_error_ratio
    w = a.spike_window
    return Alert(
        name="DiagopsStoreErrors",
        expr=(
            f"sum by (op) (rate({PREFIX}_store_errors_total[{w}]))\n/\n"
            f"sum by (op) (rate({PREFIX}_store_operation_seconds_count[{w}]))\n> {limit:g}"
        ),
        severity="critical",
        for_=a.store_for,
        summary=f"Store `{{{{ $labels.op }}}}` calls fail: {{{{ $value | humanizePercentage }}}} (objective: under {pct(limit)}).",
        description=(
            f"Over the last {w}, {{{{ $value | humanizePercentage }}}} of store `{{{{ $labels.op }}}}` calls failed; the "
            f"objective (slo.reliability.max_store_error_ratio) is under {pct(limit)}. Events that cannot be stored are "
            "not delivered, and a diagnosis the store loses never reaches a final event, so the error-rate SLO does not see it."
        ),
        runbook=Runbook(
            meaning="Calls to the store (Redis, or memory) fail.",
            impact="Events are not stored or delivered; `/readyz` turns 503 and diagnoses are abandoned.",
            diagnose=(
                STATUS,
                "`redis-cli -u $DIAGOPS_REDIS_URL ping`; Redis memory (`INFO memory`, maxmemory policy) and its logs.",
                "Dashboard row Reliability: store latency by op rising before errors means Redis is saturated.",
            ),
            mitigate=(
                "Restore Redis (restart, fail over, free memory); the service retries and recovers by itself.",
            ),
        ),
    )


def store_budget_alert(spec: Spec) -> Alert:
    a, limit = spec.slo.alerting, spec.slo.reliability.max_store_budget_ratio
    budget = spec.store.max_bytes
    return Alert(
        name="DiagopsStoreNearBudget",
        # max_bytes is 0 where no budget applies (the Redis store): no ratio, no alert.
        expr=f"{PREFIX}_store_bytes / ({PREFIX}_store_max_bytes > 0) > {limit:g}",
        severity="warning",
        for_=a.store_budget_for,
        summary=f"The memory store of {{{{ $labels.instance }}}} holds {{{{ $value | humanizePercentage }}}} of its budget.",
        description=(
            f"{{{{ $labels.instance }}}}'s memory store has held more than {pct(limit)} of store.max_bytes "
            f"({budget} B) for {a.store_budget_for} (slo.reliability.max_store_budget_ratio). It evicts "
            "finished executions before store.retention_s, then old events of idle running ones, and refuses new "
            "diagnoses with 503 store_full once only running streams are left."
        ),
        runbook=Runbook(
            meaning=f"The embedded store stays above {pct(limit)} of store.max_bytes: it is evicting to stay within it.",
            impact=(
                "Clients resuming an evicted diagnosis get not_found, a trimmed one replays from where it can "
                "(`trimmed` on `subscribed`); at the limit new diagnoses are refused 503 store_full."
            ),
            diagnose=(
                STATUS,
                "Dashboard row Reliability, panel Store budget: bytes against the budget, evictions by reason, refusals.",
                "Evictions of reason `idle` or any refusals mean running diagnoses, not finished ones, fill the store: "
                "an engine that never sends a final event, or more concurrent diagnoses than the budget holds.",
            ),
            mitigate=(
                "Raise store.max_bytes if the host has memory to spare (in the soak benchmark RSS grew 1.4 MiB per MiB counted).",
                "Lower store.retention_s, or move to the Redis store (`--redis-url`) to keep history outside the process.",
            ),
        ),
    )


def refusal_alert(spec: Spec) -> Alert:
    a, limit = spec.slo.alerting, spec.slo.reliability.max_refused_ratio
    w, lim = a.spike_window, spec.limits
    return Alert(
        name="DiagopsDiagnosesRefused",
        expr=(
            f"sum by (instance) (rate({PREFIX}_diagnoses_refused_total[{w}]))\n/\n"
            f"sum by (instance) (rate({PREFIX}_cache_requests_total[{w}]))\n> {limit:g}"
        ),
        severity="warning",
        for_=a.spike_for,
        summary=(f"{{{{ $labels.instance }}}} refuses {{{{ $value | humanizePercentage }}}} of diagnosis starts "
                 f"(objective: under {pct(limit)})."),
        description=(
            f"Over the last {w}, {{{{ $labels.instance }}}} refused {{{{ $value | humanizePercentage }}}} of "
            "`POST /api/v1/diagnoses` requests "
            f"(503 overloaded past limits.max_queue_wait_s = {lim.max_queue_wait_s}, or 429 too_many_diagnoses past "
            f"limits.max_diagnoses_per_user = {lim.max_diagnoses_per_user}); the objective "
            f"(slo.reliability.max_refused_ratio) is under {pct(limit)}. Refused users retry after Retry-After."
        ),
        runbook=Runbook(
            meaning="The service turns diagnosis starts away instead of queueing them to time out.",
            impact="Refused users wait Retry-After seconds and try again; accepted diagnoses stay on time.",
            diagnose=(
                STATUS,
                "Dashboard row Diagnoses: refused per second by reason, the expected queue wait and active/queued.",
                "`overloaded`: more starts than the slots finish (engine.max_concurrent_diagnoses, AI platform latency).",
                "`too_many_diagnoses`: one user (a script, a retry loop) starting many at once; find it in the access logs.",
            ),
            mitigate=(
                "Add instances, or raise engine.max_concurrent_diagnoses if the AI platforms' rate limits allow.",
                "For one user's burst, nothing: the bound protects the others.",
            ),
        ),
    )


def scrape_alerts(spec: Spec) -> list[Alert]:
    a = spec.slo.alerting
    diagnose = (
        f"`curl -s http://HOST:{spec.service.port}/healthz` and `/metrics` from the Prometheus host.",
        "Prometheus UI, Status > Targets: the scrape error names the cause (refused, timeout, DNS).",
        "The service's logs and its process manager (systemd, Kubernetes events) for crashes or OOM kills.",
    )
    return [
        Alert(
            name="DiagopsDown",
            expr=f'up{{job="{a.job}"}} == 0',
            severity="critical",
            for_=a.down_for,
            summary="diagops target {{ $labels.instance }} is down.",
            description=(
                f"Prometheus cannot scrape {{{{ $labels.instance }}}} (job {a.job}) for {a.down_for}: the push service "
                "is down or unreachable, so no indicator of that instance can be measured (objective: serving, `up` = 1)."
            ),
            runbook=Runbook(
                meaning=f"The scrape of a `{a.job}` target fails.",
                impact="Clients of that instance lose their sockets and fall back to polling, or get nothing.",
                diagnose=diagnose,
                mitigate=("Restart the instance; roll back if it crashes after a deploy.",),
            ),
        ),
        Alert(
            name="DiagopsAbsent",
            expr=f'absent(up{{job="{a.job}"}})',
            severity="critical",
            for_=a.absent_for,
            summary=f"No diagops target is being scraped (job {a.job}).",
            description=(
                f"Prometheus has had no target with job=\"{a.job}\" for {a.absent_for}: every diagops alert is blind "
                "(objective: at least one scraped instance)."
            ),
            runbook=Runbook(
                meaning=f"Prometheus has no `{a.job}` target at all.",
                impact="Nothing about the service is measured; the other alerts cannot fire.",
                diagnose=(
                    "Prometheus UI, Status > Service discovery: is the scrape job there, with that job name (slo.alerting.job)?",
                    "A renamed job, a changed Kubernetes label or a removed file_sd entry all look like this.",
                ),
                mitigate=("Restore the scrape configuration; then confirm `up{job=...}` is 1.",),
            ),
        ),
    ]


def operational_group(spec: Spec) -> Group:
    rules = [cache_alert(spec), *capacity_alerts(spec), *churn_alerts(spec), store_alert(spec), store_budget_alert(spec),
             refusal_alert(spec), *scrape_alerts(spec)]
    return Group(f"{PREFIX}-service-alerts", tuple(rules))
