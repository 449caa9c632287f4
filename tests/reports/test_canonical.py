"""The signed content is the report without its sign-off block: exactly that block, nothing more or less."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from diagops.reports.canonical import (
    SIGNOFF_BEGIN,
    SIGNOFF_END,
    ReportFormatError,
    canonical_bytes,
    read_report,
    replace_signoff,
    subject_digest,
)

BEFORE, AFTER = "# Report\n\nbody\n", "\ntail\n"
TEXT = f"{BEFORE}{SIGNOFF_BEGIN}\n| a | b |\n{SIGNOFF_END}{AFTER}"


def test_canonical_content_is_the_text_with_the_block_and_its_markers_cut_out() -> None:
    assert canonical_bytes(TEXT) == (BEFORE + AFTER).encode("utf-8")
    assert subject_digest(TEXT) == hashlib.sha256((BEFORE + AFTER).encode("utf-8")).hexdigest()


def test_anything_between_the_markers_leaves_the_digest_alone() -> None:
    rewritten = replace_signoff(TEXT, "| 角色 | 审批人 |\n| --- | --- |\n| 首席架构师 | alice |\n")
    assert rewritten != TEXT
    assert subject_digest(rewritten) == subject_digest(TEXT)


@pytest.mark.parametrize("edited", [
    TEXT.replace(f"\n{SIGNOFF_BEGIN}", SIGNOFF_BEGIN),  # the newline just before the block
    TEXT.replace(f"{SIGNOFF_END}\n", SIGNOFF_END),  # the newline just after it
    TEXT.replace("body", "bodY"),
    TEXT + " ",
])
def test_one_character_outside_the_block_changes_the_digest(edited: str) -> None:
    assert subject_digest(edited) != subject_digest(TEXT)


def test_replace_signoff_changes_only_what_is_between_the_markers() -> None:
    assert replace_signoff(TEXT, "\n| new |\n\n") == f"{BEFORE}{SIGNOFF_BEGIN}\n| new |\n{SIGNOFF_END}{AFTER}"


@pytest.mark.parametrize(("text", "says"), [
    ("no block at all\n", "found 0 begin and 0 end markers"),
    (TEXT + TEXT, "found 2 begin and 2 end markers"),
    (f"{SIGNOFF_BEGIN}\n", "found 1 begin and 0 end markers"),
    (f"{SIGNOFF_END}\n{SIGNOFF_BEGIN}\n", "ends (<!-- diagops:signoff:end -->) before it begins"),
])
def test_a_report_without_exactly_one_block_is_a_clear_error(text: str, says: str) -> None:
    for function in (canonical_bytes, subject_digest):
        with pytest.raises(ReportFormatError, match="sign-off block") as error:
            function(text)
        assert says in str(error.value)


def test_the_file_is_read_as_its_bytes_say(tmp_path: Path) -> None:
    """CRLF line ends stay as they are, so the digest matches the file's own bytes minus the block."""
    path = tmp_path / "REPORT.md"
    path.write_bytes(TEXT.replace("\n", "\r\n").encode("utf-8"))
    data = path.read_bytes()
    start, end = data.index(SIGNOFF_BEGIN.encode()), data.index(SIGNOFF_END.encode()) + len(SIGNOFF_END)
    assert subject_digest(read_report(path)) == hashlib.sha256(data[:start] + data[end:]).hexdigest()
