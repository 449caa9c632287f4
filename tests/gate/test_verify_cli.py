"""`diagops verify` as a release manager runs it: the embedded build, its outputs, its exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from diagops.cli.__main__ import main
from diagops.reports.canonical import SIGNOFF_BEGIN, SIGNOFF_END
from diagops.reports.document import SCHEMA
from diagops.reports.markdown import render_report
from diagops.spec import load_spec
from diagops.procs.ports import free_port
from tests.servicekit import SECRET, serve_process

REPO = Path(__file__).resolve().parents[2]


def write_quality_inputs(tmp: Path, rate: float = 0.9) -> tuple[Path, Path]:
    coverage = tmp / "coverage.xml"
    coverage.write_text(f'<coverage line-rate="{rate}" lines-valid="10" lines-covered="9"/>', encoding="utf-8")
    junit = tmp / "junit.xml"
    junit.write_text('<testsuites><testsuite name="t" tests="5" failures="0" errors="0" skipped="0"/></testsuites>',
                     encoding="utf-8")
    return coverage, junit


@pytest.fixture(scope="module")
def healthy(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    """One real `diagops verify` of the embedded build, every check selected."""
    tmp = tmp_path_factory.mktemp("verify")
    coverage, junit = write_quality_inputs(tmp)
    out = tmp / "out"
    env = {**os.environ, "DIAGOPS_VERIFY__ENGINE_SPEED": "50"}
    done = subprocess.run([sys.executable, "-m", "diagops", "verify", "--config", os.devnull, "--coverage", str(coverage),
                           "--junit", str(junit), "--out", str(out), "--release", "rc-1", "--json"],
                          capture_output=True, text=True, env=env, cwd=tmp, timeout=300)
    return done, out


def test_a_healthy_build_passes_and_the_json_follows_its_schema(healthy):
    done, out = healthy
    assert done.returncode == 0, done.stderr[-3000:]
    document = json.loads(done.stdout)
    jsonschema.validate(document, json.loads(SCHEMA.read_text()))
    assert document == json.loads((out / "result.json").read_text())
    assert document["verdict"]["result"] == "pass", document["verdict"]
    statuses = {c["id"]: c["status"] for c in document["checks"]}
    assert statuses.pop("quality.code_review") == "manual"
    assert {statuses.pop(i) for i in ("loadtest.results", "bench.results", "monitoring.alerts_quiet")} == {"skip"}
    assert set(statuses.values()) == {"pass"} and len(statuses) == 15
    assert document["release"] == "rc-1" and document["target"]["embedded"] is True


def test_the_junit_file_has_one_case_per_check(healthy):
    _, out = healthy
    document = json.loads((out / "result.json").read_text())
    suite = ET.parse(out / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert set(cases) == {c["id"] for c in document["checks"]}
    assert suite.get("failures") == "0" and suite.get("tests") == str(len(document["checks"]))
    assert cases["bench.results"].find("skipped") is not None


def test_the_report_renders_in_both_languages_with_an_unsigned_sign_off_block(healthy):
    _, out = healthy
    document = json.loads((out / "result.json").read_text())
    english = (out / "REPORT.md").read_text()
    assert english.startswith("# Phase 3 acceptance report: rc-1")
    assert "**Verdict: PASS**" in english and "| Progress delivery latency p95 | 2-30 s (polling) | p95 " in english
    assert english.count(SIGNOFF_BEGIN) == english.count(SIGNOFF_END) == 1
    assert "![Delivery latency of live frames](charts/push-latency_p95.svg)" in english
    assert (out / "charts" / "push-latency_p95.svg").read_text().startswith("<svg")
    chinese = render_report(document, load_spec(os.devnull, env={}), "zh", signoff_table="|角色|\n|---|")
    assert chinese.startswith("# 第三阶段验收报告: rc-1") and "**结论: 通过**" in chinese
    assert "| 进度推送延迟 p95 | 2-30 s (polling) |" in chinese


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with serve_process(tmp_path_factory.mktemp("target")) as svc:
        yield svc


def run_cli(args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
            secret: str | None = SECRET) -> tuple[int, str, str]:
    if secret is None:
        monkeypatch.delenv("DIAGOPS_JWT_SECRET", raising=False)
    else:
        monkeypatch.setenv("DIAGOPS_JWT_SECRET", secret)
    code = main(["verify", "--config", os.devnull, *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_failed_required_check_exits_1_and_the_verdict_names_it(target, tmp_path, monkeypatch, capsys):
    coverage, junit = write_quality_inputs(tmp_path, rate=0.5)
    code, out, _ = run_cli(["--target", target.url, "--select", "quality", "--coverage", str(coverage),
                            "--junit", str(junit), "--out", str(tmp_path / "o")], monkeypatch, capsys)
    assert code == 1
    assert "fail: 1 required check failed: quality.coverage" in out


def test_deselected_checks_are_listed_as_deselected_not_passed(target, tmp_path, monkeypatch, capsys):
    code, out, _ = run_cli(["--target", target.url, "--select", "auth.refusals", "--out", str(tmp_path / "o"), "--json"],
                           monkeypatch, capsys)
    document = json.loads(out)
    assert code == 0 and [c["id"] for c in document["checks"]] == ["auth.refusals"]
    assert "push.end_to_end" in {d["id"] for d in document["deselected"]}
    report = (tmp_path / "o" / "REPORT.md").read_text()
    assert "Not selected (deselected with --select, so neither passed nor failed): `push.end_to_end`" in report


@pytest.mark.parametrize(("args", "secret", "code", "message"), [
    (["--select", "functional,nonsense"], SECRET, 2, "--select: unknown nonsense; categories: functional"),
    (["--coverage", "/nonexistent/coverage.xml"], SECRET, 2, "--coverage /nonexistent/coverage.xml: no such file"),
    (["--lang", "fr"], SECRET, 2, "--lang must be zh or en (got 'fr')"),
    (["--max-age", "soon"], SECRET, 2, "--max-age: not a duration: 'soon'"),
    (["--target", "not-a-url"], SECRET, 2, "--target 'not-a-url' is not a URL: the scheme must be http:// or https://"),
    (["--target", "http://127.0.0.1:{port}"], None, 2, "--target needs the service's JWT secret"),
    (["--target", "http://127.0.0.1:{port}"], SECRET, 3, "cannot reach http://127.0.0.1:{port}"),
])
def test_bad_input_is_one_line_and_its_exit_code(args, secret, code, message, tmp_path, monkeypatch, capsys):
    port = free_port()
    args = [a.format(port=port) for a in args]
    got, out, err = run_cli([*args, "--out", str(tmp_path / "o")], monkeypatch, capsys, secret=secret)
    assert got == code
    assert message.format(port=port) in err and len(err.strip().splitlines()) == 1 and out == ""


def test_the_gate_s_report_is_signed_by_four_roles_and_then_verifies(healthy, tmp_path, monkeypatch, capsys):
    """The whole release path on the real report: verify, four sign-offs, report verify; then a tamper."""
    import shutil

    import yaml

    _, out = healthy
    report = tmp_path / "REPORT.md"
    shutil.copy(out / "REPORT.md", report)
    shutil.copy(out / "REPORT.intoto.jsonl", tmp_path / "REPORT.intoto.jsonl")
    trusted = tmp_path / "trusted"
    roles = ["chief_architect", "tech_director", "product_manager", "project_manager"]
    for role in roles:
        assert main(["signoff", "keygen", "--name", role, "--out", str(trusted)]) == 0
    (trusted / "roles.yaml").write_text(yaml.safe_dump({role: [role] for role in roles}), encoding="utf-8")
    for role in roles[:3]:
        assert main(["signoff", str(report), "--role", role, "--key", str(trusted / f"{role}.key"),
                     "--config", os.devnull]) == 0
    assert main(["report", "verify", str(report), "--trusted-keys", str(trusted), "--config", os.devnull]) == 1
    assert main(["signoff", str(report), "--role", roles[3], "--key", str(trusted / f"{roles[3]}.key"),
                 "--config", os.devnull]) == 0
    capsys.readouterr()
    assert main(["report", "verify", str(report), "--trusted-keys", str(trusted), "--config", os.devnull, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["approved"] is True
    text = report.read_text()
    table = text.split(SIGNOFF_BEGIN)[1].split(SIGNOFF_END)[0]
    assert all(f"| {title} | {role} |" in table for role, title in (
        ("chief_architect", "Chief architect"), ("tech_director", "Technical director"),
        ("product_manager", "Product manager"), ("project_manager", "Project manager"))), table
    report.write_text(text.replace("**Verdict: PASS**", "**Verdict: PASS!**"), encoding="utf-8")
    assert main(["report", "verify", str(report), "--trusted-keys", str(trusted), "--config", os.devnull]) == 1
