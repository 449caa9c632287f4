"""`diagops report verify`: each way a sign-off can be wrong has its own message; approval counts distinct roles."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from diagops.reports.attest import write_gate_statement
from diagops.reports.bundle import append_envelope
from diagops.reports.canonical import read_report, subject_digest
from diagops.reports.keys import load_signer
from diagops.reports.statements import RELEASE_APPROVAL, Approval, Subject, approval_predicate, statement
from tests.reports.signkit import SIGNERS, kinds, messages, write_report


def _sign_all(report: Path, sign, names=tuple(SIGNERS)) -> None:
    for name in names:
        assert sign(report, name).code == 0


def _bundle_lines(report: Path) -> list[str]:
    return report.with_name("REPORT.intoto.jsonl").read_text().splitlines()


def _write_lines(report: Path, lines: list[str]) -> None:
    report.with_name("REPORT.intoto.jsonl").write_text("".join(line + "\n" for line in lines))


def test_four_roles_make_an_intact_approved_report_listed_by_role(report: Path, sign, cli, trusted: Path) -> None:
    _sign_all(report, sign)
    run = cli("report", "verify", report, "--trusted-keys", trusted)
    assert run.code == 0, run.err
    for name, role in SIGNERS.items():
        assert name in run.out and role[:10] in run.out
    assert run.out.splitlines()[-1] == "REPORT.md: intact, gate PASSED; 4 of 4 roles approved (needs 4)"
    assert run.err == ""


def test_a_changed_body_has_its_own_message_and_fails(report: Path, sign, verify) -> None:
    _sign_all(report, sign)
    report.write_text(report.read_text().replace("latency | ok", "latency | fine"))
    result = verify(report)
    assert result.code == 1 and result.json["intact"] is False and result.json["roles_approved"] == []
    [gate] = [f for f in result.json["findings"] if f["kind"] == "body-changed" and f["line"] == 1]
    assert "is not what the gate attested" in gate["message"] and "changed after the gate ran" in gate["message"]
    assert len(messages(result, "body-changed")) == 5
    assert "the report was changed after this signature" in messages(result, "body-changed")[1]
    assert "NOT intact (line 1: the report's content" in result.err


def test_a_key_outside_the_trusted_keys_is_unknown(report: Path, sign, verify, trusted: Path) -> None:
    _sign_all(report, sign, ("alice", "bob", "carol"))
    assert sign(report, "mallory", role="project_manager").code == 0
    result = verify(report)
    assert result.code == 1
    [message] = messages(result, "unknown-key")
    assert message.startswith("line 5 (project_manager, mallory): signed by key ")
    assert message.endswith(f"which is not among the trusted keys in {trusted}")
    assert result.json["roles_missing"] == ["project_manager"]


def test_a_key_registered_for_another_role_does_not_count(report: Path, sign, verify, trusted: Path) -> None:
    _sign_all(report, sign, ("alice", "bob", "carol"))
    assert sign(report, "bob", role="project_manager").code == 0
    result = verify(report)
    assert result.code == 1
    assert messages(result, "key-not-registered") == [
        f"line 5 (project_manager, bob): key 'bob' is registered for tech_director in {trusted}/roles.yaml, "
        "not for project_manager"]
    (trusted / "roles.yaml").write_text("chief_architect: [alice]\n")
    assert "key 'bob' is registered for no role" in messages(verify(report), "key-not-registered")[0]


def test_a_missing_role_is_named(report: Path, sign, verify) -> None:
    _sign_all(report, sign, ("alice", "bob", "dave"))
    result = verify(report)
    assert result.code == 1
    assert messages(result, "missing-role") == ["product_manager (Product manager) has not approved"]
    assert "NOT approved: 3 of 4 roles approved (needs 4)" in result.err


def test_a_role_signed_twice_is_said_and_counted_once(report: Path, sign, verify) -> None:
    _sign_all(report, sign)
    assert sign(report, "alice").code == 0
    result = verify(report)
    assert result.code == 0
    assert messages(result, "duplicate-role") == ["chief_architect is signed 2 times (lines 2, 6): it counts once"]
    assert result.json["roles_approved"] == list(SIGNERS.values())


def test_repeated_lines_do_not_make_up_for_a_missing_role(report: Path, sign, verify) -> None:
    """Four approval lines, three roles: the bundle is not authenticated, so lines are not approvals."""
    _sign_all(report, sign, ("alice", "bob", "carol"))
    lines = _bundle_lines(report)
    _write_lines(report, lines + [lines[1]])
    result = verify(report)
    assert result.code == 1
    assert messages(result, "duplicate-role") == [
        "chief_architect is signed 2 times (lines 2, 5 repeating 2): it counts once"]
    assert len(result.json["signatures"]) == 4 and result.json["roles_missing"] == ["project_manager"]


def test_a_deleted_line_is_a_missing_role(report: Path, sign, verify) -> None:
    _sign_all(report, sign)
    _write_lines(report, [line for n, line in enumerate(_bundle_lines(report), 1) if n != 3])
    assert verify(report).json["roles_missing"] == ["tech_director"]


def test_an_altered_statement_fails_its_signature(report: Path, sign, verify) -> None:
    _sign_all(report, sign)
    lines = _bundle_lines(report)
    envelope = json.loads(lines[4])
    body = json.loads(base64.b64decode(envelope["payload"]))
    body["predicate"]["approver"] = "someone else"
    envelope["payload"] = base64.b64encode(json.dumps(body).encode()).decode()
    _write_lines(report, lines[:4] + [json.dumps(envelope)])
    result = verify(report)
    assert result.code == 1
    assert messages(result, "bad-signature") == [
        "line 5 (project_manager, someone else): the signature does not verify with key 'dave': "
        "the statement was altered after signing, or signed by another key claiming that id"]


def test_a_threshold_below_all_roles_is_met_by_that_many(report: Path, sign, verify, tmp_path: Path) -> None:
    config = tmp_path / "diagops.yaml"
    config.write_text("signoff:\n  threshold: 3\n")
    _sign_all(report, sign, ("alice", "bob"))
    assert verify(report, "--config", config).code == 1
    assert sign(report, "dave").code == 0
    result = verify(report, "--config", config)
    assert (result.code, result.json["threshold"], kinds(result)) == (0, 3, ["missing-role"])


def test_a_gate_rewritten_after_signing_breaks_the_approvals(report: Path, sign, verify) -> None:
    """The approvals name the gate result they saw; a gate statement swapped under them does not carry them."""
    _sign_all(report, sign)
    lines = _bundle_lines(report)
    write_gate_statement(report, result="FAILED", passed=[], warned=[], failed=["loss"], configuration=[])
    _write_lines(report, _bundle_lines(report) + lines[1:])
    result = verify(report)
    assert result.code == 1
    assert len(messages(result, "gate-mismatch")) == 4
    assert "approved a gate result of PASSED, but the gate statement says FAILED" in messages(result, "gate-mismatch")[0]


def test_a_failed_gate_approved_without_a_risk_does_not_count(tmp_path: Path, keys: Path, verify) -> None:
    """`signoff` refuses this; a hand-made envelope must not get through `verify` either."""
    report = write_report(tmp_path / "REPORT.md", "FAILED")
    subject = Subject(report.name, subject_digest(read_report(report)))
    approval = Approval("alice", "chief_architect", "approve", "2030-01-01T00:00:00.000Z", None, "FAILED")
    from securesystemslib.dsse import Envelope

    envelope = Envelope(json.dumps(statement(subject, RELEASE_APPROVAL, approval_predicate(approval))).encode(),
                        "application/vnd.in-toto+json", {})
    envelope.sign(load_signer(keys / "alice.key"))
    append_envelope(report.with_name("REPORT.intoto.jsonl"), envelope)
    result = verify(report)
    assert messages(result, "risk-not-accepted") == [
        "line 2 (chief_architect, alice): approves a FAILED gate without accepting a risk"]
    assert result.json["roles_approved"] == []


def test_usage_errors_are_one_line_and_exit_2(report: Path, sign, cli, trusted: Path, tmp_path: Path) -> None:
    missing = cli("report", "verify", tmp_path / "NOPE.md", "--trusted-keys", trusted)
    assert (missing.code, missing.err.strip()) == (2, f"diagops: error: {tmp_path / 'NOPE.md'}: no such file")
    _sign_all(report, sign, ("alice",))
    lines = _bundle_lines(report)
    for bad, says in ((lines + ["{not json"], "REPORT.intoto.jsonl:3: not JSON"),
                      (lines + ['{"payload": "e30="}'], "REPORT.intoto.jsonl:3: not a DSSE envelope (missing 'payloadType')"),
                      (lines + ['{"payload": "e30=", "payloadType": "text/plain", "signatures": []}'],
                       "REPORT.intoto.jsonl:3: payload type 'text/plain' is not application/vnd.in-toto+json"),
                      (lines + ['{"payload": "e30=", "payloadType": "application/vnd.in-toto+json", "signatures": []}'],
                       "REPORT.intoto.jsonl:3: the payload is not an in-toto Statement v1")):
        _write_lines(report, bad)
        run = cli("report", "verify", report, "--trusted-keys", trusted)
        assert run.code == 2 and len(run.err.strip().splitlines()) == 1 and says in run.err, (says, run.err)
        assert "Traceback" not in run.err
    _write_lines(report, lines)
    no_folder = cli("report", "verify", report, "--trusted-keys", tmp_path / "none")
    assert (no_folder.code, no_folder.err.strip()) == (
        2, f"diagops: error: {tmp_path / 'none'}: no such folder of trusted keys (pass --trusted-keys DIR)")
    (trusted / "roles.yaml").write_text("cto: [alice]\n")
    bad_role = cli("report", "verify", report, "--trusted-keys", trusted)
    assert bad_role.code == 2 and "roles.yaml: unknown role 'cto'" in bad_role.err
    (trusted / "roles.yaml").write_text("chief_architect: [erin]\n")
    bad_name = cli("report", "verify", report, "--trusted-keys", trusted)
    assert bad_name.code == 2 and "names key 'erin', but there is no erin.pub" in bad_name.err


def test_two_different_gate_statements_are_not_one_report(report: Path, sign, verify) -> None:
    _sign_all(report, sign)
    gate = _bundle_lines(report)[0]
    write_gate_statement(report, result="WARNED", passed=[], warned=["latency"], failed=[], configuration=[])
    _write_lines(report, [gate] + _bundle_lines(report) + [gate])
    result = verify(report)
    assert result.code == 1 and result.json["intact"] is False
    assert result.json["why_not_intact"] == (f"{report.with_name('REPORT.intoto.jsonl')}: holds 2 different gate "
                                             "statements (lines 1, 2); a gate run writes a new bundle: run "
                                             "`diagops verify` again")
    refused = sign(report, "alice")
    assert refused.code == 2 and "holds 2 different gate statements (lines 1, 2)" in refused.err


def test_a_bundle_without_its_gate_statement_is_not_intact(report: Path, sign, verify) -> None:
    _sign_all(report, sign)
    _write_lines(report, _bundle_lines(report)[1:])
    result = verify(report)
    assert result.code == 1 and kinds(result)[0] == "no-gate"
    assert "holds no gate statement (https://in-toto.io/attestation/test-result/v0.1)" in result.json["why_not_intact"]
