"""Where the embedded default service's knee is, with and without admission control.

    .venv/bin/python benchmarks/loadtest_overload.py [--steps 100,250,500,1000,2000] [--duration 30]
        [--spawn-rate 200] [--modes admission,queue] [--out reports/out/bench-overload]

For each step of users it runs `diagops loadtest --users N` on the embedded default service
(engine speed 10, 50 slots) twice, in one run so the two are compared side by side: `admission`
is the spec's default (`limits.max_queue_wait_s` 10 s: starts past it get 503 overloaded with
Retry-After, which the load-test user waits out with jitter), `queue` turns the bound off (every
start is queued, as before admission control). Per step and mode it reports accepted and refused
starts per second, diagnosis p95 (accepted start to final event), push p99 (progress delivery),
accepted diagnoses that never finished, and the share of diagnoses asked for that finished in
time (complete with an intact stream / started + refused). Numbers, not a test; 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
MODES = {
    "admission": "",  # the spec's defaults
    "queue": "limits:\n  max_queue_wait_s: null\n",  # no admission by wait: everything queues
}


def run_step(users: int, mode: str, duration_s: float, spawn_rate: float, out: Path) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    config = out / "diagops.yaml"
    config.write_text(MODES[mode], encoding="utf-8")
    argv = [sys.executable, "-m", "diagops", "loadtest", "--config", str(config), "--users", str(users),
            "--spawn-rate", f"{spawn_rate:g}", "--duration", f"{duration_s:g}s", "--json", "--out", str(out / "run")]
    bound = duration_s + users / spawn_rate + 120  # ramp, the stop timeout (final timeout 30 s), slack
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=bound)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"loadtest failed at {users} users ({mode}): {proc.stderr.strip()[-500:]}")
    return summarise(json.loads(proc.stdout), users, mode, duration_s)


def summarise(results: dict[str, Any], users: int, mode: str, duration_s: float) -> dict[str, Any]:
    d = results["diagnoses"]
    refusals = d["refusals"]["overloaded"] + d["refusals"]["too_many_diagnoses"]
    asked = d["started"] + d["refused"]
    failing = [t["name"] for t in results["thresholds"] if t["status"] != "pass"]
    return {
        "users": users,
        "mode": mode,
        "accepted_per_s": round(d["started"] / duration_s, 1),
        "refused_per_s": round(refusals / duration_s, 1),
        "diagnosis_p95_s": _round(results["latency"]["diagnosis"]["p95"], 2),
        "push_p99_ms": _round(_ms(results["latency"]["progress"]["p99"]), 1),
        "never_finished": d["timed_out"],
        "refused_diagnoses": d["refused"],
        "finished_in_time_share": _round(d["completed"] / asked if asked else None, 3),
        "generator_saturated": results["generator"]["saturated"],
        "failing": failing,
    }


def _ms(value: float | None) -> float | None:
    return None if value is None else value * 1000


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| users | mode | accepted/s | refused/s | diagnosis p95 s | push p99 ms | never finished | refused "
             "| finished in time | failing thresholds |", "|" + "---|" * 10]
    for r in rows:
        share = "–" if r["finished_in_time_share"] is None else f"{r['finished_in_time_share']:.1%}"
        sat = " (generator saturated)" if r["generator_saturated"] else ""
        lines.append(f"| {r['users']} | {r['mode']} | {r['accepted_per_s']} | {r['refused_per_s']} | "
                     f"{r['diagnosis_p95_s']} | {r['push_p99_ms']} | {r['never_finished']} | {r['refused_diagnoses']} | "
                     f"{share} | {', '.join(r['failing']) or 'none'}{sat} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="100,250,500,1000,2000")
    parser.add_argument("--modes", default="admission,queue")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load per run (after the ramp starts)")
    parser.add_argument("--spawn-rate", type=float, default=200.0)
    parser.add_argument("--out", type=Path, default=REPO / "reports/out/bench-overload")
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    unknown = set(modes) - set(MODES)
    if unknown:
        parser.error(f"unknown mode {sorted(unknown)[0]!r}; choose from {', '.join(MODES)}")
    rows = []
    for users in (int(n) for n in args.steps.split(",") if n):
        for mode in modes:  # side by side at each step, in one run
            row = run_step(users, mode, args.duration, args.spawn_rate, args.out / f"u{users}-{mode}")
            rows.append(row)
            print(json.dumps(row), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "overload.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")
    print(table(rows))


if __name__ == "__main__":
    main()
