"""What a person sees: a live view while the generator runs, tables at the end (rich)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from diagops.loadtests.collector import LATENCY_KINDS
from diagops.loadtests.summary import limit_text, ms, value_text

STATUS_STYLE = {"pass": "green", "fail": "bold red", "invalid": "bold yellow", "no_data": "bold red"}


class LiveState:
    """Tails `timeseries.jsonl` as the generator appends to it, one line a second."""

    def __init__(self, path: Path, duration_s: float, users: int, stop_timeout_s: float = 30.0) -> None:
        self.path = path
        self.duration_s = duration_s
        self.users = users
        self.stop_timeout_s = stop_timeout_s
        self.started = time.monotonic()
        self.latest: dict[str, Any] = {}
        self.failures = 0
        self.events = 0
        self._offset = 0
        self._partial = ""

    def poll(self) -> None:
        try:
            with open(self.path, encoding="utf-8") as handle:
                if os.fstat(handle.fileno()).st_size < self._offset:  # truncated: a new run started
                    self._offset, self._partial = 0, ""
                handle.seek(self._offset)
                chunk = handle.read()
                self._offset = handle.tell()
        except OSError:
            return
        text = self._partial + chunk
        lines = text.split("\n")
        self._partial = lines.pop()  # an unfinished line waits for the next poll
        for line in lines:
            try:
                row = json.loads(line)
            except ValueError:
                continue
            self.latest = row
            self.failures += int(row.get("failures", 0))
            self.events += int(row.get("events", 0))

    def render(self) -> RenderableType:
        row = self.latest
        elapsed = row.get("t", 0.0) if row else 0.0
        left = max(self.duration_s - elapsed, 0.0)
        progress = row.get("progress", {}) if row else {}
        cpu = row.get("cpu", {}) if row else {}
        table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
        for column in ("phase", "users", "sockets", "msgs/s", "p95 now", "p99 now", "failures", "CPU max", "time left"):
            table.add_column(column, justify="right")
        table.add_row(
            str(row.get("phase", "starting")) if row else "starting",
            f"{row.get('users', 0)}/{self.users}" if row else f"0/{self.users}",
            str(row.get("open_sockets", 0)) if row else "0",
            f"{row.get('events_per_s', 0):.0f}" if row else "0",
            f"{ms(progress.get('p95'))} ms",
            f"{ms(progress.get('p99'))} ms",
            Text(str(self.failures), style="red" if self.failures else ""),
            f"{max(cpu.values()):.0f} %" if cpu else "–",
            "–" if row.get("phase") == "stopping" else f"{left:.0f} s",
        )
        parts: list[RenderableType] = [Text("diagops loadtest (Ctrl-C stops it)", style="bold"), table]
        if row.get("phase") == "stopping":
            parts.append(Text(self._stopping_line(row, elapsed), style="yellow"))
        return Group(*parts)

    def _stopping_line(self, row: dict[str, Any], elapsed: float) -> str:
        """Past the run time the generator waits for the diagnoses still in flight (each user
        finishes the one it follows), up to the stop timeout: say so, rather than a stuck 0 s."""
        waiting = int(row.get("users", 0))
        most = max(self.duration_s + self.stop_timeout_s - elapsed, 0.0)
        return (f"run time over: {waiting} user{'s' if waiting != 1 else ''} finishing their diagnosis, "
                f"at most {most:.0f} s more (loadtest.final_timeout_s)")


def final_tables(results: dict[str, Any]) -> RenderableType:
    """Thresholds, latency per kind, and the one-line figures the verdict rests on."""
    verdict = results["verdict"]
    thresholds = Table(title="Thresholds (diagops.yaml)", title_justify="left")
    for column in ("threshold", "limit", "measured", "status"):
        thresholds.add_column(column, justify="left" if column == "threshold" else "right")
    for row in results["thresholds"]:
        thresholds.add_row(row["name"], limit_text(row), value_text(row),
                           Text(row["status"], style=STATUS_STYLE.get(row["status"], "")))
    latency = Table(title="Latency by message kind (ms)", title_justify="left")
    for column in ("kind", "count", "p50", "p95", "p99", "max"):
        latency.add_column(column, justify="left" if column == "kind" else "right")
    for kind in LATENCY_KINDS:
        r = results["latency"][kind]
        latency.add_row(kind, str(r["count"]), ms(r["p50"]), ms(r["p95"]), ms(r["p99"]), ms(r["max"]))
    d, loss, conn = results["diagnoses"], results["loss"], results["connections"]
    rate = "–" if d["error_rate"] is None else f"{d['error_rate'] * 100:.2f} %"
    facts = Text(
        f"diagnoses {d['started']} started, {d['completed']} complete, {d['failed']} failed (error rate {rate}); "
        f"events lost {loss['events_lost']}, never finished {d['timed_out']}, refused {d['refused']} "
        f"(busy answers: {d['refusals']['overloaded']} overloaded, {d['refusals']['too_many_diagnoses']} per-user; retried); "
        f"sockets peak {conn['peak_open']}, reconnects {conn['reconnects']}"
    )
    parts: list[RenderableType] = [thresholds, latency, facts]
    if results["generator"]["warning"]:
        parts.append(Text("warning: " + results["generator"]["warning"], style="bold yellow"))
    head = Text("PASS" if verdict["passed"] else "FAIL", style="bold green" if verdict["passed"] else "bold red")
    parts.append(head + Text("" if verdict["passed"] else ": " + "; ".join(verdict["reasons"])))
    return Group(*parts)
