"""`diagops signoff`: keys, signing in a role, what is refused, and the table it keeps."""

from __future__ import annotations

import stat
from pathlib import Path

from diagops.reports import canonical
from diagops.reports.attest import render_signoff_table
from diagops.reports.canonical import SIGNOFF_BEGIN, SIGNOFF_END, read_report, replace_signoff, subject_digest
from diagops.reports.keys import load_public_key, load_signer
from tests.reports.signkit import ROLES, SIGNERS, write_report


def _table_rows(report: Path) -> list[str]:
    text = read_report(report)
    block = text[text.index(SIGNOFF_BEGIN) + len(SIGNOFF_BEGIN):text.index(SIGNOFF_END)]
    return block.strip().splitlines()[2:]


def test_keygen_writes_a_private_key_only_its_owner_reads_and_a_public_key(cli, tmp_path: Path) -> None:
    run = cli("signoff", "keygen", "--name", "erin", "--out", tmp_path / "k")
    assert run.code == 0, run.err
    private, public = tmp_path / "k" / "erin.key", tmp_path / "k" / "erin.pub"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert public.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    keyid = load_public_key(public).keyid
    assert load_signer(private).public_key.keyid == keyid
    assert run.out.splitlines() == [
        f"private key: {private} (mode 0600: keep it to yourself, never commit it)",
        f"public key:  {public} (key id {keyid}): add it to the trusted-keys folder and roles.yaml",
    ]


def test_keygen_never_overwrites_a_key(cli, tmp_path: Path) -> None:
    assert cli("signoff", "keygen", "--name", "erin", "--out", tmp_path).code == 0
    before = (tmp_path / "erin.key").read_bytes()
    run = cli("signoff", "keygen", "--name", "erin", "--out", tmp_path)
    assert (run.code, run.err.strip()) == (2, f"diagops: error: {tmp_path / 'erin.key'} already exists: "
                                               "pick another --name or move it away")
    assert (tmp_path / "erin.key").read_bytes() == before


def test_four_roles_sign_and_the_table_shows_each_one(report: Path, sign, verify) -> None:
    digest = subject_digest(read_report(report))
    for line, name in enumerate(SIGNERS, 2):
        run = sign(report, name, "--name", f"{name.title()} Example")
        assert run.code == 0, run.err
        assert f"signed {report} as {SIGNERS[name]} ({name.title()} Example, approve)" in run.out
        assert f"REPORT.intoto.jsonl line {line}" in run.out
    assert subject_digest(read_report(report)) == digest
    rows = _table_rows(report)
    assert [r.split(" | ")[:3] for r in rows] == [
        ["| Chief architect", "Alice Example", "approved"], ["| Technical director", "Bob Example", "approved"],
        ["| Product manager", "Carol Example", "approved"], ["| Project manager", "Dave Example", "approved"]]
    result = verify(report)
    assert result.code == 0, result.out + result.err
    assert result.json["roles_approved"] == list(SIGNERS.values())


def test_a_new_signature_leaves_the_earlier_ones_valid(report: Path, sign, verify) -> None:
    assert sign(report, "alice").code == 0
    first = verify(report).json["signatures"]
    assert [(s["line"], s["counted"]) for s in first] == [(2, True)]
    assert sign(report, "bob").code == 0
    second = verify(report).json["signatures"]
    assert [(s["line"], s["role"], s["key"], s["counted"]) for s in second] == [
        (2, "chief_architect", "alice", True), (3, "tech_director", "bob", True)]
    assert [r.split(" | ")[1] for r in _table_rows(report)] == ["alice", "bob", "", ""]


def test_the_table_keeps_the_reports_language(tmp_path: Path, sign) -> None:
    report = write_report(tmp_path / "REPORT.md")
    canonical.write_report(report, replace_signoff(read_report(report), render_signoff_table(None, ROLES, "zh")))
    assert sign(report, "alice", "--accept-risk", "a | b <!-- diagops:signoff:end -->").code == 0
    rows = _table_rows(report)
    assert rows[0].startswith("| 首席架构师 | alice | 批准（接受风险） | ")
    assert "| a \\| b &lt;!-- diagops:signoff:end --&gt; |" in rows[0]  # one cell: no split, no forged marker
    assert rows[1] == "| 技术总监 |  |  |  |  |  |"


def test_a_changed_body_is_refused(report: Path, sign) -> None:
    report.write_text(report.read_text().replace("| latency | ok |", "| latency | ok (edited) |"))
    run = sign(report, "alice")
    assert run.code == 1
    assert "diagops: error: not signed: " in run.err and "was changed after the gate ran" in run.err
    assert len(report.with_name("REPORT.intoto.jsonl").read_text().splitlines()) == 1


def test_a_failed_gate_is_signed_only_with_an_accepted_risk(tmp_path: Path, sign, verify) -> None:
    report = write_report(tmp_path / "REPORT.md", "FAILED")
    refused = sign(report, "alice")
    assert (refused.code, refused.err.strip()) == (
        1, 'diagops: error: not signed: the gate result is FAILED: sign only with --accept-risk "the reason"')
    assert sign(report, "alice", "--accept-risk", "").code == 2
    assert sign(report, "alice", "--accept-risk", "loss is in the replay path only; fixed in 1.1").code == 0
    [signature] = verify(report).json["signatures"]
    assert (signature["decision"], signature["accepted_risk"], signature["counted"]) == (
        "approve-with-risk", "loss is in the replay path only; fixed in 1.1", True)


def test_usage_errors_are_one_line_and_exit_2(report: Path, sign, cli, keys: Path, tmp_path: Path) -> None:
    unknown = sign(report, "alice", role="cto")
    assert (unknown.code, unknown.err.strip()) == (2, "diagops: error: unknown role 'cto' (the spec's roles: "
                                                      "chief_architect, tech_director, product_manager, project_manager)")
    missing = cli("signoff", tmp_path / "NOPE.md", "--role", "chief_architect", "--key", keys / "alice.key")
    assert (missing.code, missing.err.strip()) == (2, f"diagops: error: {tmp_path / 'NOPE.md'}: no such file")
    not_a_key = cli("signoff", report, "--role", "chief_architect", "--key", keys / "alice.pub")
    assert not_a_key.code == 2 and "not an unencrypted PEM private key" in not_a_key.err
    no_bundle = tmp_path / "other" / "REPORT.md"
    no_bundle.parent.mkdir()
    no_bundle.write_text(report.read_text())
    run = sign(no_bundle, "alice")
    assert run.code == 2 and "REPORT.intoto.jsonl: no such file (the gate writes it" in run.err


def test_sign_is_also_reachable_by_its_name(report: Path, cli, keys: Path) -> None:
    run = cli("signoff", "sign", report, "--role", "tech_director", "--key", keys / "bob.key")
    assert run.code == 0, run.err
    assert cli("signoff", "--help").out.count("keygen") >= 1
