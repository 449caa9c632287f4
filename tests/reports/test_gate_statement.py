"""What the gate writes beside the report: one unsigned in-toto test-result statement, and the empty table."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from diagops.reports.attest import render_signoff_table, write_gate_statement
from diagops.reports.canonical import read_report, subject_digest
from diagops.reports.keys import load_public_key
from tests.reports.signkit import ROLES, write_report


def _envelopes(bundle: Path) -> list[dict]:
    return [json.loads(line) for line in bundle.read_text().splitlines()]


def test_the_gate_writes_one_unsigned_test_result_statement_of_the_report(report: Path) -> None:
    [envelope] = _envelopes(report.with_name("REPORT.intoto.jsonl"))
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    assert envelope["signatures"] == []
    assert json.loads(base64.b64decode(envelope["payload"])) == {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "REPORT.md", "digest": {"sha256": subject_digest(read_report(report))}}],
        "predicateType": "https://in-toto.io/attestation/test-result/v0.1",
        "predicate": {"result": "PASSED", "passedTests": ["latency"], "warnedTests": [], "failedTests": [],
                      "configuration": [{"name": "diagops.yaml", "digest": {"sha256": "ab" * 32}}],
                      "url": "http://127.0.0.1:8765"},
    }


def test_a_new_gate_run_replaces_the_bundle(report: Path, sign) -> None:
    assert sign(report, "alice").code == 0
    bundle = report.with_name("REPORT.intoto.jsonl")
    assert len(_envelopes(bundle)) == 2
    assert write_report(report, "WARNED") == report
    [envelope] = _envelopes(bundle)
    assert json.loads(base64.b64decode(envelope["payload"]))["predicate"]["result"] == "WARNED"


def test_with_a_gate_key_the_statement_is_signed(report: Path, keys: Path) -> None:
    bundle = write_gate_statement(report, result="FAILED", passed=[], warned=[], failed=["loss"], configuration=[],
                                  key=keys / "alice.key")
    [envelope] = _envelopes(bundle)
    assert [s["keyid"] for s in envelope["signatures"]] == [load_public_key(keys / "alice.pub").keyid]
    assert "url" not in json.loads(base64.b64decode(envelope["payload"]))["predicate"]


def test_the_empty_table_has_a_row_per_role_in_either_language() -> None:
    assert render_signoff_table(None, ROLES, "en") == (
        "| Role | Approver | Decision | Date (UTC) | Accepted risk | Key ID |\n"
        "| --- | --- | --- | --- | --- | --- |\n"
        "| Chief architect |  |  |  |  |  |\n"
        "| Technical director |  |  |  |  |  |\n"
        "| Product manager |  |  |  |  |  |\n"
        "| Project manager |  |  |  |  |  |\n"
    )
    assert render_signoff_table(Path("/nonexistent.intoto.jsonl"), ROLES, "zh").splitlines()[::2] == [
        "| 角色 | 审批人 | 结论 | 日期 (UTC) | 接受的风险 | 密钥 ID |",
        "| 首席架构师 |  |  |  |  |  |",
        "| 产品经理 |  |  |  |  |  |",
    ]
