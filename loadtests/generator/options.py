"""The scenario's own Locust options, and how a run records them.

They show in Locust's web UI and pass from the master to its workers like
Locust's own; their defaults come from `spec.loadtest`, so plain
`locust -f loadtests/generator/locustfile.py` runs what `diagops.yaml` describes.
"""

from __future__ import annotations

import uuid
from typing import Any

from diagops.spec.loadtest import LoadtestSpec

_DEFAULTS = LoadtestSpec()


def add_arguments(parser: Any) -> None:
    """Options of the diagnosis scenario, on Locust's parser (`init_command_line_parser`)."""
    # Straight on the parser: only its add_argument knows the web-UI keywords (is_secret ...).
    group = parser
    group.add_argument("--token-secret", env_var="DIAGOPS_JWT_SECRET", default="", is_secret=True,
                       help="JWT secret to mint one token per user (default: $DIAGOPS_JWT_SECRET)")
    group.add_argument("--token-algorithm", default="HS256", choices=["HS256", "HS384", "HS512"],
                       help="algorithm of minted tokens (the service's auth.algorithm)")
    group.add_argument("--diagnose-weight", type=int, default=_DEFAULTS.weights.diagnose,
                       help="weight of a fresh diagnosis (live pushes)")
    group.add_argument("--cached-weight", type=int, default=_DEFAULTS.weights.diagnose_cached,
                       help="weight of a repeated diagnosis the service serves from its cache")
    group.add_argument("--brands", type=int, default=_DEFAULTS.brands.count,
                       help="distinct brands users ask about (a Zipf catalogue, new per run)")
    group.add_argument("--brand-skew", type=float, default=_DEFAULTS.brands.skew,
                       help="Zipf exponent of the catalogue: brand k is asked 1/k^skew as often as brand 1")
    group.add_argument("--brand-prefix", default=f"loadtest-{uuid.uuid4().hex[:8]}",
                       help="prefix of the catalogue's brand names; a new one starts with a cold cache")
    group.add_argument("--ping-weight", type=int, default=_DEFAULTS.weights.ping,
                       help="weight of an application ping on the open socket")
    group.add_argument("--think-min", type=float, default=_DEFAULTS.think_min_s, help="seconds between tasks, min")
    group.add_argument("--think-max", type=float, default=_DEFAULTS.think_max_s, help="seconds between tasks, max")
    group.add_argument("--final-timeout", type=float, default=_DEFAULTS.final_timeout_s,
                       help="a diagnosis without its final event after this many seconds is lost")
    group.add_argument("--ping-timeout", type=float, default=_DEFAULTS.ping_timeout_s,
                       help="an application ping without a pong after this many seconds fails")
    group.add_argument("--diagops-out", default="", include_in_web_ui=False,
                       help="directory for raw.json and timeseries.jsonl (what `diagops loadtest` reads)")


def scenario_options(options: Any) -> dict[str, Any]:
    """The options a run used, as `raw.json` (and then results.json `run.scenario`) records them."""
    if options is None:
        return {}
    return {
        "weights": {"diagnose": options.diagnose_weight, "diagnose_cached": options.cached_weight,
                    "ping": options.ping_weight},
        "brands": {"count": options.brands, "skew": options.brand_skew, "prefix": options.brand_prefix},
        "think_time_s": [options.think_min, options.think_max],
        "final_timeout_s": options.final_timeout,
        "ping_timeout_s": options.ping_timeout,
        "stop_timeout_s": getattr(options, "stop_timeout", None),
        "users": getattr(options, "num_users", None),
        "spawn_rate": getattr(options, "spawn_rate", None),
    }
