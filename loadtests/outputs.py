"""The files a load test leaves in its `--out` folder, each name spelled once.

The CLI, the run session, the Locust command line, the results document and
the summary take the names from here; the Locust side writes `RAW` and
`TIMESERIES` for the CLI to read.
"""

from __future__ import annotations

RESULTS = "results.json"
SUMMARY = "summary.md"
TIMESERIES = "timeseries.jsonl"
RAW = "raw.json"
RAW_PARTIAL = RAW + ".tmp"  # written first, then renamed, so a reader never sees half a file
LOCUST_CSV_PREFIX = "locust"
LOCUST_CSVS = tuple(f"{LOCUST_CSV_PREFIX}_{part}.csv" for part in ("stats", "stats_history", "failures"))
LOCUST_HTML = "locust.html"
LOCUST_LOG = "locust.log"
SERVICE_LOG = "service.log"  # the embedded service's

# What a run must not find from a previous one before it starts: the CLI judges these.
STALE = (RAW, TIMESERIES, RESULTS, SUMMARY, RAW_PARTIAL)


def worker_log(index: int) -> str:
    return f"locust-worker-{index}.log"
