"""Hostile input on the memory store: every answer is the contract's, never a 500 or a dropped socket.

The Redis tier runs the same cases (tests/redis/test_redis_hostile_input.py).
"""

from __future__ import annotations

import pytest

from tests.push.hostile_cases import HTTP_CASES, WS_CASES
from tests.push.hostile_checks import check_http_case, check_ws_case
from tests.servicekit import REPO


@pytest.mark.parametrize("case", WS_CASES, ids=lambda c: c.name)
async def test_a_hostile_frame_gets_an_error_frame(service, case):
    await check_ws_case(service, case)


@pytest.mark.parametrize("case", HTTP_CASES, ids=lambda c: c.name)
async def test_a_hostile_body_gets_a_json_400(service, case):
    await check_http_case(service, case)


def test_the_readme_table_names_every_case():
    section = (REPO / "README.md").read_text(encoding="utf-8").split("### Hostile input", 1)[1].split("\n### ", 1)[0]
    missing = [case.name for case in [*WS_CASES, *HTTP_CASES] if case.name not in section]
    assert not missing, f"README's Hostile input table lacks {missing}"
