"""The bundle beside a report: JSON Lines of DSSE envelopes (`<report stem>.intoto.jsonl`).

The file as a whole is not authenticated (a line can be deleted, repeated or added), so this only
reads and writes lines; what counts is decided per verified envelope in `verification`.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from diagops.reports.errors import InputError
from diagops.reports.statements import (
    PAYLOAD_TYPE,
    TEST_RESULT,
    Approval,
    GateResult,
    Statement,
    StatementError,
    parse_statement,
)

if TYPE_CHECKING:
    from securesystemslib.dsse import Envelope

SUFFIX = ".intoto.jsonl"


class BundleError(InputError):
    """A bundle that is missing or holds a line that is not a readable envelope."""


@dataclass(frozen=True)
class Entry:
    """One line of the bundle: its envelope and the statement inside, parsed but not yet verified."""

    line: int
    envelope: Envelope
    statement: Statement

    @property
    def keyids(self) -> list[str]:
        return list(self.envelope.signatures)


@dataclass(frozen=True)
class Bundle:
    path: Path
    entries: tuple[Entry, ...]

    @property
    def gates(self) -> list[Entry]:
        """Gate statements, a repeated line counted once: more than one means the bundle was mixed up."""
        found: dict[bytes, Entry] = {}
        for e in self.entries:
            if isinstance(e.statement.predicate, GateResult):
                found.setdefault(e.envelope.payload, e)
        return list(found.values())

    @property
    def approvals(self) -> list[Entry]:
        return [e for e in self.entries if isinstance(e.statement.predicate, Approval)]

    @property
    def others(self) -> list[Entry]:
        return [e for e in self.entries if e.statement.predicate is None]


def the_gate(bundle: Bundle) -> Entry:
    """The bundle's one gate statement (a repeated identical line is still one)."""
    gates = bundle.gates
    if not gates:
        raise BundleError(f"{bundle.path}: holds no gate statement ({TEST_RESULT}): run `diagops verify` first")
    if len(gates) > 1:
        lines = ", ".join(str(g.line) for g in gates)
        raise BundleError(f"{bundle.path}: holds {len(gates)} different gate statements (lines {lines}); "
                          "a gate run writes a new bundle: run `diagops verify` again")
    return gates[0]


def bundle_path(report: Path) -> Path:
    """`REPORT.md` -> `REPORT.intoto.jsonl`, beside it."""
    return report.with_name(report.stem + SUFFIX)


def envelope_line(envelope: Envelope) -> str:
    return json.dumps(envelope.to_dict(), separators=(",", ":"), ensure_ascii=False)


def write_bundle(path: Path, envelopes: Iterable[Envelope]) -> None:
    """Replace the bundle: a new gate run starts a new one."""
    path.write_text("".join(envelope_line(e) + "\n" for e in envelopes), encoding="utf-8")


def append_envelope(path: Path, envelope: Envelope) -> int:
    """Add one envelope as the last line; returns its line number."""
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    separator = "" if existing == "" or existing.endswith("\n") else "\n"
    with path.open("a", encoding="utf-8") as f:
        f.write(separator + envelope_line(envelope) + "\n")
    return len((existing + separator).splitlines()) + 1


def read_bundle(path: Path) -> Bundle:
    """Every non-empty line parsed; the first bad line raises BundleError naming file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BundleError(f"{path}: no such file (the gate writes it: run `diagops verify` first)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BundleError(f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    entries = [_entry(path, number, line) for number, line in enumerate(text.splitlines(), 1) if line.strip()]
    return Bundle(path, tuple(entries))


def _entry(path: Path, number: int, line: str) -> Entry:
    from securesystemslib.dsse import Envelope

    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise BundleError(f"{path}:{number}: not JSON ({exc.msg})") from None
    try:
        # from_dict rewrites the signatures it is given in some versions: give it a copy.
        envelope = Envelope.from_dict(copy.deepcopy(data))
    except Exception as exc:  # noqa: BLE001 - KeyError, TypeError, ValueError, binascii.Error: all mean "not an envelope"
        raise BundleError(f"{path}:{number}: not a DSSE envelope ({_reason(exc)})") from None
    if envelope.payload_type != PAYLOAD_TYPE:
        raise BundleError(f"{path}:{number}: payload type {envelope.payload_type!r} is not {PAYLOAD_TYPE}")
    try:
        statement = parse_statement(envelope.payload)
    except StatementError as exc:
        raise BundleError(f"{path}:{number}: {exc}") from None
    return Entry(number, envelope, statement)


def _reason(exc: Exception) -> str:
    return f"missing {exc}" if isinstance(exc, KeyError) else f"{type(exc).__name__}: {exc}"

