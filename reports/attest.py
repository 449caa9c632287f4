"""Writing the attestations: the gate's statement, an approver's signed approval, and the table they show.

The gate (`diagops verify`) writes a fresh bundle with one test-result statement; each approver
appends one signed approval of the same subject; the report's sign-off table is then rendered
again from the bundle. The table sits outside the signed content, so re-rendering it never
invalidates a signature; it is a view, and `diagops report verify` is what decides.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from diagops.reports.bundle import Bundle, Entry, append_envelope, bundle_path, read_bundle, the_gate, write_bundle
from diagops.reports.canonical import read_report, replace_signoff, signoff_block, subject_digest, write_report
from diagops.reports.errors import InputError, SignoffRefused
from diagops.reports.keys import load_signer
from diagops.reports.statements import (
    APPROVE,
    APPROVE_WITH_RISK,
    PAYLOAD_TYPE,
    RELEASE_APPROVAL,
    TEST_RESULT,
    Approval,
    GateResult,
    Subject,
    approval_predicate,
    gate_predicate,
    statement,
)
from diagops.spec.signoff import Lang, RoleTitle, SignoffSpec

if TYPE_CHECKING:
    from securesystemslib.dsse import Envelope

HEADERS: dict[str, tuple[str, ...]] = {
    "en": ("Role", "Approver", "Decision", "Date (UTC)", "Accepted risk", "Key ID"),
    "zh": ("角色", "审批人", "结论", "日期 (UTC)", "接受的风险", "密钥 ID"),
}
DECISIONS: dict[str, dict[str, str]] = {
    "en": {APPROVE: "approved", APPROVE_WITH_RISK: "approved, risk accepted"},
    "zh": {APPROVE: "批准", APPROVE_WITH_RISK: "批准（接受风险）"},
}
KEY_ID_SHOWN = 16  # hex digits of the key id in the table; `report verify --json` has them all


@dataclass(frozen=True)
class Signed:
    """What `sign_report` appended."""

    bundle: Path
    line: int
    keyid: str
    approval: Approval


def write_gate_statement(report: Path, *, result: str, passed: list[str], warned: list[str], failed: list[str],
                         configuration: list[dict[str, Any]], url: str | None = None,
                         key: Path | None = None) -> Path:
    """Start the report's bundle with the gate's test result; unsigned unless a gate key is given."""
    subject = Subject(report.name, subject_digest(read_report(report)))
    envelope = _envelope(statement(subject, TEST_RESULT, gate_predicate(result, passed, warned, failed,
                                                                        configuration, url)))
    if key is not None:
        envelope.sign(load_signer(key))
    path = bundle_path(report)
    write_bundle(path, [envelope])
    return path


def sign_report(report: Path, *, role: str, key: Path, signoff: SignoffSpec, approver: str | None = None,
                accepted_risk: str | None = None, lang: Lang | None = None) -> Signed:
    """Append the approver's signed approval of the report as the gate left it, then re-render the table.

    Refuses when the report's content no longer matches the gate's subject (the body was edited), and
    when the gate FAILED and no risk is accepted.
    """
    if role not in signoff.roles:
        raise InputError(f"unknown role '{role}' (the spec's roles: {', '.join(signoff.roles)})")
    if accepted_risk is not None and not accepted_risk.strip():
        raise InputError("--accept-risk needs the reason the risk is accepted")
    text = read_report(report)
    subject = Subject(report.name, subject_digest(text))
    bundle = read_bundle(bundle_path(report))
    gate = the_gate(bundle)
    if gate.statement.subject.sha256 != subject.sha256:
        raise SignoffRefused(
            f"{report} was changed after the gate ran (content sha256 {subject.sha256[:12]}, the gate's "
            f"{gate.statement.subject.sha256[:12]}): run `diagops verify` again, then sign")
    result = _gate_result(gate).result
    if result == "FAILED" and accepted_risk is None:
        raise SignoffRefused("the gate result is FAILED: sign only with --accept-risk \"the reason\"")
    signer = load_signer(key)
    approval = Approval(approver or key.stem, role, APPROVE_WITH_RISK if accepted_risk else APPROVE,
                        _now(), accepted_risk, result)
    envelope = _envelope(statement(subject, RELEASE_APPROVAL, approval_predicate(approval)))
    envelope.sign(signer)
    line = append_envelope(bundle.path, envelope)
    table = render_signoff_table(bundle.path, signoff.roles, lang or table_language(text) or "zh")
    write_report(report, replace_signoff(text, table))
    return Signed(bundle.path, line, signer.public_key.keyid, approval)


def render_signoff_table(bundle: Bundle | Path | None, roles: Mapping[str, RoleTitle], lang: Lang) -> str:
    """The sign-off table: a row per approval of the gate's subject, an empty row for a role not yet signed.

    `bundle` may be a read Bundle, the path of one (a missing file has no signatures), or None (no
    signatures: the table a fresh report starts with).
    """
    approvals = _approvals_of_gate(_as_bundle(bundle))
    rows = [HEADERS[lang], ("---",) * len(HEADERS[lang])]
    for role, title in roles.items():
        signed = [a for a in approvals if a[0].role == role]
        rows.extend(_approval_row(getattr(title, lang), approval, keyid, lang) for approval, keyid in signed)
        if not signed:
            rows.append((getattr(title, lang),) + ("",) * (len(HEADERS[lang]) - 1))
    return "".join("| " + " | ".join(_cell(c) for c in row) + " |\n" for row in rows)


def table_language(text: str) -> Lang | None:
    """The language of the report's current sign-off table, so signing keeps it (None: not recognised)."""
    block = signoff_block(text)
    for lang in ("zh", "en"):
        if "| " + " | ".join(HEADERS[lang]) + " |" in block:
            return lang  # type: ignore[return-value]
    return None


def _as_bundle(bundle: Bundle | Path | None) -> Bundle | None:
    if isinstance(bundle, Path):
        return read_bundle(bundle) if bundle.exists() else None
    return bundle


def _approvals_of_gate(bundle: Bundle | None) -> list[tuple[Approval, str]]:
    gates = bundle.gates if bundle is not None else []
    if bundle is None or not gates:
        return []
    digest = gates[0].statement.subject.sha256
    return [(e.statement.predicate, ",".join(e.keyids)) for e in bundle.approvals  # type: ignore[misc]
            if e.statement.subject.sha256 == digest]


def _approval_row(title: str, approval: Approval, keyid: str, lang: Lang) -> tuple[str, ...]:
    return (title, approval.approver, DECISIONS[lang][approval.decision], approval.date,
            approval.accepted_risk or "", keyid[:KEY_ID_SHOWN])


def _cell(text: str) -> str:
    """One table cell: on one line, no `|` to split it, no `<!--` to open a comment or forge a marker."""
    return html.escape(" ".join(text.split()), quote=False).replace("|", "\\|")


def _gate_result(gate: Entry) -> GateResult:
    return gate.statement.predicate  # type: ignore[return-value]


def _envelope(body: dict[str, Any]) -> Envelope:
    from securesystemslib.dsse import Envelope

    return Envelope(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8"), PAYLOAD_TYPE, {})


def _now() -> str:
    from diagops.push.protocol import utc_timestamp

    return utc_timestamp()
