"""What the sign-off tests share besides fixtures: the signers, a gated report, reading the CLI's answer."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from diagops.reports.attest import render_signoff_table, write_gate_statement
from diagops.spec import Spec

ROLES = Spec().signoff.roles
# key name -> the role roles.yaml registers it for; "mallory" is in no trusted folder.
SIGNERS = {"alice": "chief_architect", "bob": "tech_director", "carol": "product_manager", "dave": "project_manager"}
REPORT_HEAD = "# Acceptance report\n\nGate: {result}\n\n| check | result |\n| --- | --- |\n| latency | ok |\n\n## Sign-off\n\n"
REPORT_TAIL = "\nEnd of report.\n"


def write_report(path: Path, result: str = "PASSED") -> Path:
    """A report as the lead's template writes it (empty sign-off table), then its gate statement."""
    table = render_signoff_table(None, ROLES, "en")
    path.write_text(REPORT_HEAD.format(result=result) + "<!-- diagops:signoff:begin -->\n" + table
                    + "<!-- diagops:signoff:end -->\n" + REPORT_TAIL, encoding="utf-8")
    write_gate_statement(path, result=result, passed=["latency"], warned=[], failed=[] if result != "FAILED" else ["loss"],
                         configuration=[{"name": "diagops.yaml", "digest": {"sha256": "ab" * 32}}],
                         url="http://127.0.0.1:8765")
    return path


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        return json.loads(self.out)


def kinds(result: Run) -> list[str]:
    return [f["kind"] for f in result.json["findings"]]


def messages(result: Run, kind: str) -> list[str]:
    return [f["message"] for f in result.json["findings"] if f["kind"] == kind]
