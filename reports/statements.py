"""The in-toto Statements diagops writes and reads: the gate's test result and an approver's approval.

Plain dicts on the way out (they are JSON), small frozen records on the way in, so the verifier
works on checked values and a malformed statement fails here with the field it lacks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

from diagops.reports.errors import InputError

STATEMENT_TYPE: Final = "https://in-toto.io/Statement/v1"
PAYLOAD_TYPE: Final = "application/vnd.in-toto+json"
TEST_RESULT: Final = "https://in-toto.io/attestation/test-result/v0.1"
RELEASE_APPROVAL: Final = "https://diagops.dev/attestation/release-approval/v1"
RESULTS: Final = ("PASSED", "WARNED", "FAILED")
APPROVE: Final = "approve"
APPROVE_WITH_RISK: Final = "approve-with-risk"


class StatementError(InputError):
    """A payload that is not a statement diagops can read; the message names what is wrong."""


@dataclass(frozen=True)
class Subject:
    name: str
    sha256: str


@dataclass(frozen=True)
class GateResult:
    result: str
    passed: tuple[str, ...]
    warned: tuple[str, ...]
    failed: tuple[str, ...]


@dataclass(frozen=True)
class Approval:
    approver: str
    role: str
    decision: str
    date: str
    accepted_risk: str | None
    gate_result: str


@dataclass(frozen=True)
class Statement:
    subject: Subject
    predicate_type: str
    predicate: GateResult | Approval | None  # None: a predicate type diagops does not read


def statement(subject: Subject, predicate_type: str, predicate: dict[str, Any]) -> dict[str, Any]:
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": subject.name, "digest": {"sha256": subject.sha256}}],
        "predicateType": predicate_type,
        "predicate": predicate,
    }


def gate_predicate(result: str, passed: list[str], warned: list[str], failed: list[str],
                   configuration: list[dict[str, Any]], url: str | None) -> dict[str, Any]:
    """The in-toto test-result predicate; `url` is left out when there is none (the field is optional)."""
    if result not in RESULTS:
        raise ValueError(f"result must be one of {', '.join(RESULTS)} (got {result!r})")
    predicate: dict[str, Any] = {"result": result, "configuration": configuration, "passedTests": list(passed),
                                 "warnedTests": list(warned), "failedTests": list(failed)}
    if url is not None:
        predicate["url"] = url
    return predicate


def approval_predicate(approval: Approval) -> dict[str, Any]:
    return {"approver": approval.approver, "role": approval.role, "decision": approval.decision,
            "date": approval.date, "acceptedRisk": approval.accepted_risk, "gateResult": approval.gate_result}


def parse_statement(payload: bytes) -> Statement:
    """A checked Statement from an envelope's payload; raises StatementError naming the first fault."""
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise StatementError("the payload is not JSON") from None
    if not isinstance(data, dict) or data.get("_type") != STATEMENT_TYPE:
        raise StatementError(f"the payload is not an in-toto Statement v1 (_type {STATEMENT_TYPE})")
    predicate_type = _field(data, "predicateType", str)
    predicate = _field(data, "predicate", dict)
    return Statement(_subject(data), predicate_type, _predicate(predicate_type, predicate))


def _subject(data: dict[str, Any]) -> Subject:
    subjects = data.get("subject")
    first = subjects[0] if isinstance(subjects, list) and subjects else None
    digest = first.get("digest") if isinstance(first, dict) else None
    if not isinstance(digest, dict) or not isinstance(digest.get("sha256"), str) or not isinstance(first.get("name"), str):
        raise StatementError("the statement's first subject has no name and sha256 digest")
    return Subject(first["name"], digest["sha256"])


def _predicate(predicate_type: str, predicate: dict[str, Any]) -> GateResult | Approval | None:
    if predicate_type == TEST_RESULT:
        result = _field(predicate, "result", str)
        if result not in RESULTS:
            raise StatementError(f"test-result 'result' must be one of {', '.join(RESULTS)} (got {result!r})")
        return GateResult(result, *(tuple(_field(predicate, k, list, default=[]))
                                    for k in ("passedTests", "warnedTests", "failedTests")))
    if predicate_type == RELEASE_APPROVAL:
        decision = _field(predicate, "decision", str)
        if decision not in (APPROVE, APPROVE_WITH_RISK):
            raise StatementError(f"approval 'decision' must be {APPROVE} or {APPROVE_WITH_RISK} (got {decision!r})")
        risk = predicate.get("acceptedRisk")
        if risk is not None and not isinstance(risk, str):
            raise StatementError("approval 'acceptedRisk' must be text or null")
        return Approval(_field(predicate, "approver", str), _field(predicate, "role", str), decision,
                        _field(predicate, "date", str), risk, _field(predicate, "gateResult", str))
    return None


def _field(data: dict[str, Any], key: str, kind: type, default: Any = None) -> Any:
    value = data.get(key, default)
    if not isinstance(value, kind):
        raise StatementError(f"'{key}' is missing or not a {kind.__name__}")
    return value
