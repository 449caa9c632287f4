"""What the attestations sign: the report without its sign-off block.

The sign-off table changes with every signature; cutting it out of the signed content is what lets
a new signature leave the earlier ones valid. Everything else, to the byte, is signed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from diagops.reports.errors import InputError

SIGNOFF_BEGIN = "<!-- diagops:signoff:begin -->"
SIGNOFF_END = "<!-- diagops:signoff:end -->"


class ReportFormatError(InputError):
    """The report has no single sign-off block, so its signed content is not defined."""


def _block(text: str) -> tuple[int, int]:
    """Start of SIGNOFF_BEGIN and end of SIGNOFF_END, after checking there is exactly one of each, in order."""
    begins, ends = text.count(SIGNOFF_BEGIN), text.count(SIGNOFF_END)
    if begins != 1 or ends != 1:
        raise ReportFormatError(
            f"the report must hold exactly one sign-off block ({SIGNOFF_BEGIN} ... {SIGNOFF_END}); "
            f"found {begins} begin and {ends} end markers"
        )
    start, end = text.index(SIGNOFF_BEGIN), text.index(SIGNOFF_END)
    if end < start:
        raise ReportFormatError(f"the sign-off block ends ({SIGNOFF_END}) before it begins ({SIGNOFF_BEGIN})")
    return start, end + len(SIGNOFF_END)


def canonical_bytes(text: str) -> bytes:
    """The report's UTF-8 text with the sign-off block, markers included, cut out."""
    start, end = _block(text)
    return (text[:start] + text[end:]).encode("utf-8")


def subject_digest(text: str) -> str:
    """sha256 hex of the canonical content: the subject digest every statement in the bundle names."""
    return hashlib.sha256(canonical_bytes(text)).hexdigest()


def signoff_block(text: str) -> str:
    """What stands between the markers (the current table)."""
    start, end = _block(text)
    return text[start + len(SIGNOFF_BEGIN):end - len(SIGNOFF_END)]


def replace_signoff(text: str, table_markdown: str) -> str:
    """The report with `table_markdown` as the only thing between the markers."""
    start, end = _block(text)
    return f"{text[:start]}{SIGNOFF_BEGIN}\n{table_markdown.strip(chr(10))}\n{SIGNOFF_END}{text[end:]}"


def read_report(path: Path) -> str:
    """The report's text as its bytes say (no newline translation), so the digest is of the file itself."""
    try:
        with path.open(encoding="utf-8", newline="") as f:
            return f.read()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None


def write_report(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write(text)
