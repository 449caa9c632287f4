"""The Locust half's fast cases (`tests/loadtest/generator/cases_*.py`), each reported here by name.

`import locust` monkey-patches the process that does it, so those
cases cannot share this pytest process with the asyncio and Redis tests: one
child interpreter imports locust first and runs them all with pytest (a few
seconds), and every case named in those files is a test here that passes only
if it ran there and passed.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CASES = Path(__file__).with_name("generator")
CASE_FILES = sorted(CASES.glob("cases_*.py"))
CHILD_TIMEOUT_S = 100.0
# Locust first, then pytest: the same order as the `locust` command's own process.
_BOOT = "import locust, sys, pytest; sys.exit(pytest.main(sys.argv[1:]))"


@dataclass
class Outcome:
    passed: bool
    text: str


def case_names(path: Path) -> list[str]:
    """The test functions a cases file defines, read without importing it (that would import locust)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [node.name for node in tree.body if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")]


def read_junit(path: Path) -> dict[str, Outcome]:
    """`file_stem::test_name` -> outcome; parametrized variants fold into their function."""
    outcomes: dict[str, Outcome] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        key = f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name', '').split('[')[0]}"
        problems = [child for child in case if child.tag in ("failure", "error", "skipped")]
        text = "\n".join(f"{p.tag}: {p.get('message', '')}\n{p.text or ''}" for p in problems)
        earlier = outcomes.get(key, Outcome(True, ""))
        outcomes[key] = Outcome(earlier.passed and not problems, (earlier.text + "\n" + text).strip())
    return outcomes


@dataclass
class ChildRun:
    outcomes: dict[str, Outcome]
    output: str


@pytest.fixture(scope="module")
def child_run(tmp_path_factory: pytest.TempPathFactory) -> ChildRun:
    junit = tmp_path_factory.mktemp("locust-side") / "junit.xml"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIAGOPS_")}
    proc = subprocess.run(
        [sys.executable, "-c", _BOOT, "-q", "-p", "no:cacheprovider", "-W", "ignore::pytest.PytestAssertRewriteWarning",
         f"--confcutdir={CASES}", f"--junitxml={junit}", *map(str, CASE_FILES)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S,
    )
    output = (proc.stdout + proc.stderr)[-6000:]
    return ChildRun(read_junit(junit) if junit.is_file() else {}, output)


@pytest.mark.parametrize("case", [f"{path.stem}::{name}" for path in CASE_FILES for name in case_names(path)])
def test_locust_side(case: str, child_run: ChildRun) -> None:
    outcome = child_run.outcomes.get(case)
    assert outcome is not None, f"{case} did not run in the Locust process:\n{child_run.output}"
    assert outcome.passed, outcome.text
