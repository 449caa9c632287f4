"""Hostile input on the memory store: every answer is the contract's, never a 500 or a dropped socket.

The Redis tier runs the same cases (tests/redis/test_redis_hostile_input.py).
"""

from __future__ import annotations

import re

import pytest

from tests.push.hostile_cases import HTTP_CASES, WS_CASES, HttpCase
from tests.push.hostile_checks import check_http_case, check_ws_case
from tests.servicekit import REPO


@pytest.mark.parametrize("case", WS_CASES, ids=lambda c: c.name)
async def test_a_hostile_frame_gets_an_error_frame(service, case):
    await check_ws_case(service, case)


@pytest.mark.parametrize("case", HTTP_CASES, ids=lambda c: c.name)
async def test_a_hostile_body_gets_a_json_400(service, case):
    await check_http_case(service, case)


def _readme_table() -> list[list[str]]:
    section = (REPO / "README.md").read_text(encoding="utf-8").split("### Hostile input", 1)[1].split("\n### ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|") and not line.startswith("|---")]
    return [[cell.strip() for cell in line.strip().strip("|").split(" | ")] for line in lines[1:]]


def _test_names() -> set[str]:
    return {match for path in (REPO / "tests").rglob("test_*.py")
            for match in re.findall(r"^(?:async )?def (test_\w+)\(", path.read_text(encoding="utf-8"), re.M)}


def test_every_row_of_the_readme_table_names_tests_that_exist():
    rows, tests = _readme_table(), _test_names()
    assert len(rows) > 10
    for cells in rows:
        assert len(cells) == 3, cells
        named = re.findall(r"`(test_\w+)`", cells[2])
        assert named, f"row {cells[0]!r} names no test"
        assert not set(named) - tests, f"row {cells[0]!r} names tests that do not exist: {set(named) - tests}"


def test_every_hostile_case_is_in_the_row_that_gives_its_answer():
    rows = _readme_table()
    for case in [*WS_CASES, *HTTP_CASES]:
        row = next((cells for cells in rows if case.name in cells[0]), None)
        assert row is not None, f"README's Hostile input table lacks {case.name!r}"
        assert f"`{case.code}`" in row[1], f"{case.name!r}: the README answers {row[1]!r}, the test expects {case.code}"
        if isinstance(case, HttpCase):
            assert str(case.status) in row[1]
        assert "test_a_hostile_" in row[2]
