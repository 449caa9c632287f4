"""Checking a report against its bundle and the trusted keys: who signed, in which role, and what is wrong.

Each approval line is judged on its own (subject, signature, key, role, gate) and either counts or
gets a finding saying why not. The bundle is not authenticated as a whole, so lines prove nothing
by their number: approval is counted in distinct roles of verified envelopes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from diagops.reports.bundle import Bundle, BundleError, Entry, the_gate
from diagops.reports.canonical import subject_digest
from diagops.reports.statements import APPROVE_WITH_RISK, Approval, GateResult
from diagops.reports.trusted_keys import TrustedKeys
from diagops.spec.signoff import SignoffSpec

SHORT = 12  # hex digits of a digest or key id in messages


@dataclass(frozen=True)
class Finding:
    """One problem, with a stable `kind` for scripts and a message for people."""

    kind: str
    message: str
    line: int | None = None
    role: str | None = None


@dataclass(frozen=True)
class Signature:
    """One approval line as verified: `counted` only when every check held."""

    line: int
    role: str
    approver: str
    decision: str
    date: str
    accepted_risk: str | None
    keyids: tuple[str, ...]
    key: str | None  # the trusted key name that verified it
    counted: bool
    repeats: int | None = None  # the earlier line this one repeats byte for byte


@dataclass
class Verification:
    report: str
    sha256: str
    threshold: int
    gate_result: str | None = None
    gate_signed_by: list[str] = field(default_factory=list)
    signatures: list[Signature] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    roles_approved: list[str] = field(default_factory=list)
    roles_missing: list[str] = field(default_factory=list)
    intact: bool = False
    why_not_intact: str | None = None

    @property
    def approved(self) -> bool:
        return self.intact and len(self.roles_approved) >= self.threshold

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "approved": self.approved}


def verify_report(text: str, report_name: str, bundle: Bundle, trusted: TrustedKeys, signoff: SignoffSpec) -> Verification:
    """Judge every line of `bundle` against the report's current `text`; never raises on a bad signature."""
    result = Verification(report_name, subject_digest(text), signoff.required)
    gate = _check_gate(result, bundle, trusted)
    first_line: dict[bytes, int] = {}
    for entry in bundle.approvals:
        seen = first_line.setdefault(entry.envelope.payload, entry.line)
        result.signatures.append(_check_approval(result, entry, gate, trusted, signoff, seen if seen != entry.line else None))
    for entry in bundle.others:
        result.findings.append(Finding("other-statement", f"line {entry.line}: predicate type "
                                       f"{entry.statement.predicate_type} is not one diagops reads: ignored", entry.line))
    _count_roles(result, signoff)
    return result


def _check_gate(result: Verification, bundle: Bundle, trusted: TrustedKeys) -> GateResult | None:
    try:
        entry = the_gate(bundle)
    except BundleError as exc:
        _not_intact(result, Finding("no-gate" if not bundle.gates else "several-gates", str(exc)))
        return None
    predicate: GateResult = entry.statement.predicate  # type: ignore[assignment]
    result.gate_result = predicate.result
    result.gate_signed_by = _verified_by(entry, trusted)
    if entry.statement.subject.sha256 != result.sha256:
        _not_intact(result, Finding(
            "body-changed", f"line {entry.line}: the report's content (sha256 {result.sha256[:SHORT]}) is not what the "
            f"gate attested ({entry.statement.subject.sha256[:SHORT]}): it was changed after the gate ran", entry.line))
        return predicate
    result.intact = True
    return predicate


def _not_intact(result: Verification, finding: Finding) -> None:
    result.findings.append(finding)
    result.why_not_intact = finding.message


def _check_approval(result: Verification, entry: Entry, gate: GateResult | None, trusted: TrustedKeys,
                    signoff: SignoffSpec, repeats: int | None) -> Signature:
    approval: Approval = entry.statement.predicate  # type: ignore[assignment]
    keys = _verified_by(entry, trusted)
    problem = _approval_problem(result.sha256, entry, approval, keys, gate, trusted, signoff)
    if problem is not None:
        result.findings.append(problem)
    return Signature(entry.line, approval.role, approval.approver, approval.decision, approval.date,
                     approval.accepted_risk, tuple(entry.keyids), keys[0] if keys else None, problem is None, repeats)


def _approval_problem(sha256: str, entry: Entry, approval: Approval, keys: list[str], gate: GateResult | None,
                      trusted: TrustedKeys, signoff: SignoffSpec) -> Finding | None:
    """The first reason this approval does not count, or None when it does."""
    where = f"line {entry.line} ({approval.role}, {approval.approver})"

    def finding(kind: str, message: str) -> Finding:
        return Finding(kind, f"{where}: {message}", entry.line, approval.role)

    if entry.statement.subject.sha256 != sha256:
        return finding("body-changed", f"signed other content (sha256 {entry.statement.subject.sha256[:SHORT]}, the "
                       f"report's is {sha256[:SHORT]}): the report was changed after this signature")
    if not entry.keyids:
        return finding("unsigned", "the envelope carries no signature")
    known = [trusted.name_of(k) for k in entry.keyids if trusted.name_of(k) is not None]
    if not known:
        ids = ", ".join(k[:SHORT] for k in entry.keyids)
        return finding("unknown-key", f"signed by key {ids}, which is not among the trusted keys in {trusted.folder}")
    if not keys:
        return finding("bad-signature", f"the signature does not verify with key '{known[0]}': the statement was "
                       "altered after signing, or signed by another key claiming that id")
    if approval.role not in signoff.roles:
        return finding("unknown-role", f"role '{approval.role}' is not one of the spec's ({', '.join(signoff.roles)})")
    if not any(approval.role in trusted.roles_of(k) for k in keys):
        registered = sorted({r for k in keys for r in trusted.roles_of(k)})
        elsewhere = f"registered for {', '.join(registered)}" if registered else "registered for no role"
        return finding("key-not-registered", f"key '{keys[0]}' is {elsewhere} in {trusted.folder}/roles.yaml, "
                       f"not for {approval.role}")
    if gate is not None and approval.gate_result != gate.result:
        return finding("gate-mismatch", f"approved a gate result of {approval.gate_result}, but the gate "
                       f"statement says {gate.result}")
    if gate is not None and gate.result == "FAILED" and not (approval.decision == APPROVE_WITH_RISK
                                                            and approval.accepted_risk):
        return finding("risk-not-accepted", "approves a FAILED gate without accepting a risk")
    return None


def _verified_by(entry: Entry, trusted: TrustedKeys) -> list[str]:
    """Names of the trusted keys whose signature on this envelope verifies (securesystemslib raises otherwise)."""
    from securesystemslib.exceptions import VerificationError

    candidates = [trusted.keys[n] for n in trusted.keys if trusted.keys[n].keyid in entry.envelope.signatures]
    if not candidates:
        return []
    try:
        accepted = entry.envelope.verify(candidates, 1)
    except VerificationError:
        return []
    return [name for name, key in trusted.keys.items() if key.keyid in accepted]


def _count_roles(result: Verification, signoff: SignoffSpec) -> None:
    """Distinct roles among counted signatures; a role signed twice (or a repeated line) is said and counted once."""
    by_role: dict[str, list[Signature]] = {}
    for signature in result.signatures:
        if signature.counted:
            by_role.setdefault(signature.role, []).append(signature)
    for role, signatures in by_role.items():
        if len(signatures) > 1:
            lines = ", ".join(str(s.line) if s.repeats is None else f"{s.line} repeating {s.repeats}" for s in signatures)
            result.findings.append(Finding(
                "duplicate-role", f"{role} is signed {len(signatures)} times (lines {lines}): it counts once", role=role))
    result.roles_approved = [r for r in signoff.roles if r in by_role]
    result.roles_missing = [r for r in signoff.roles if r not in by_role]
    for role in result.roles_missing:
        result.findings.append(Finding("missing-role", f"{role} ({signoff.title(role, 'en')}) has not approved",
                                       role=role))
