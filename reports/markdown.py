"""The acceptance report as GitHub-flavoured Markdown, in the structure of the Phase-3 launch report.

The sign-off section sits between two markers: it is outside the content approvers sign, so each
new signature can re-render it without invalidating the ones before.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from diagops.reports.canonical import SIGNOFF_BEGIN, SIGNOFF_END
from diagops.reports.texts import TEXTS
from diagops.spec import Spec

TEMPLATES = Path(__file__).with_name("templates")


def performance_rows(document: dict[str, Any], spec: Spec, lang: str) -> list[dict[str, str]]:
    """Metric, before (the spec's baseline), measured, objective, result: one row per performance check run."""
    slo, base = spec.slo, spec.verify.baseline
    objectives = {
        "perf.concurrent_sockets": (base.concurrency, f"≥ {slo.capacity.required_connections}"),
        "push.latency_p95": (base.delivery_latency, f"p95 ≤ {slo.delivery_latency.threshold_s:g} s"),
        "diagnoses.error_rate": (base.error_rate, f"≤ {slo.error_rate.max_ratio:.1%}"),
        "cache.hit_ratio": (base.cache_hit_ratio, f"≥ {slo.cache_hit.min_hit_ratio:.0%}"),
        "loadtest.results": ("-", "every threshold of diagops loadtest"),
        "bench.results": (base.cache_hit_ratio, f"≥ {slo.cache_hit.min_hit_ratio:.0%}"),
    }
    t = TEXTS[lang]
    rows = []
    for check in document["checks"]:
        if check["category"] != "performance":
            continue
        before, objective = objectives.get(check["id"], ("-", "-"))
        rows.append({"title": check["title"][lang], "before": before, "measured": check["measured"] or "-",
                     "objective": objective, "result": t["status"][check["status"]]})
    return rows


def render_report(document: dict[str, Any], spec: Spec, lang: str, *, signoff_table: str,
                  charts: list[str] | None = None) -> str:
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=False, keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=False)
    template = env.get_template("report.md.j2")
    checks = document["checks"]
    return template.render(
        doc=document, t=TEXTS[lang], lang=lang,
        checks=lambda category: [c for c in checks if c["category"] == category],
        performance=performance_rows(document, spec, lang),
        risks=[c for c in checks if c["status"] in ("fail", "warn", "skip", "manual")],
        charts=charts or [], begin=SIGNOFF_BEGIN, end=SIGNOFF_END, signoff_table=signoff_table.rstrip("\n"),
    )
