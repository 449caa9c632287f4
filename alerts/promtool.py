"""Run `promtool check rules` and `promtool test rules`: the real Prometheus parser and evaluator.

The unit tests in alerts/tests/ name `../diagops.rules.yml`; to test another
rule file (a custom spec's), each test file is copied to a temporary folder
with `rule_files` pointing at it, since promtool resolves that list relative
to the test file.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

TESTS_DIR = Path(__file__).resolve().parent / "tests"
INSTALL_HINT = "install Prometheus's promtool (Debian/Ubuntu: apt-get install prometheus) or pass --promtool PATH"


class PromtoolMissing(Exception):
    """promtool is not installed or not executable."""


@dataclass(frozen=True)
class PromtoolRun:
    command: list[str]
    returncode: int
    output: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def find_promtool(explicit: str | None = None) -> str:
    found = shutil.which(explicit or "promtool")
    if found is None:
        where = f"'{explicit}'" if explicit else "promtool on PATH"
        raise PromtoolMissing(f"{where} not found: {INSTALL_HINT}")
    return found


def _run(command: list[str], timeout: float) -> PromtoolRun:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except OSError as exc:
        raise PromtoolMissing(f"cannot run {command[0]}: {exc.strerror}; {INSTALL_HINT}") from None
    return PromtoolRun(command, done.returncode, (done.stdout + done.stderr).strip())


def run_check(promtool: str, rules: Path, timeout: float = 60.0) -> PromtoolRun:
    return _run([promtool, "check", "rules", str(rules)], timeout)


def unit_test_files(tests_dir: Path = TESTS_DIR) -> list[Path]:
    return sorted(tests_dir.glob("*.test.yml"))


def run_unit_tests(promtool: str, rules: Path, tests: list[Path], timeout: float = 300.0) -> PromtoolRun:
    """`promtool test rules` on `tests`, each evaluated against `rules`."""
    with tempfile.TemporaryDirectory(prefix="diagops-promtool-") as tmp:
        copies = []
        for test in tests:
            data = yaml.safe_load(test.read_text(encoding="utf-8"))
            data["rule_files"] = [str(rules.resolve())]
            copy = Path(tmp) / test.name
            copy.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
            copies.append(copy)
        run = _run([promtool, "test", "rules", *map(str, copies)], timeout)
    # Name the real files in the output, not the temporary copies.
    return PromtoolRun(run.command, run.returncode, run.output.replace(tmp + "/", str(tests[0].parent) + "/") if tests else run.output)
