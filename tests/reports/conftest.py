"""Fixtures for the sign-off tests: fixed key pairs, a trusted-keys folder, a gated report, the real CLI.

The keys are generated once per session with the real `signoff keygen` code; the report is a small
Markdown file holding the sign-off markers and an empty table, gated as `diagops verify` does it.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from diagops.cli.__main__ import main
from diagops.reports.keys import generate_key_pair
from tests.reports.signkit import SIGNERS, Run, write_report


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """NAME.key and NAME.pub for the four signers and a stranger."""
    folder = tmp_path_factory.mktemp("keys")
    for name in (*SIGNERS, "mallory"):
        generate_key_pair(name, folder)
    return folder


@pytest.fixture
def trusted(keys: Path, tmp_path: Path) -> Path:
    """The trusted-keys folder: the four signers' public keys, each registered for one role."""
    folder = tmp_path / "trusted-keys"
    folder.mkdir()
    for name in SIGNERS:
        shutil.copy(keys / f"{name}.pub", folder)
    (folder / "roles.yaml").write_text("".join(f"{role}: [{name}]\n" for name, role in SIGNERS.items()))
    return folder


@pytest.fixture
def report(tmp_path: Path) -> Path:
    return write_report(tmp_path / "REPORT.md")


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Run]:
    """Run `diagops ARGS...` in this process; returns the exit code and what it printed."""

    def run(*args: str | Path) -> Run:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


@pytest.fixture
def sign(cli: Callable[..., Run], keys: Path) -> Callable[..., Run]:
    """`sign(report, "alice")` signs in alice's registered role; `role=` and extra flags override."""

    def run(report: Path, name: str, *extra: str, role: str | None = None) -> Run:
        return cli("signoff", report, "--role", role or SIGNERS.get(name, "chief_architect"),
                   "--key", keys / f"{name}.key", *extra)

    return run


@pytest.fixture
def verify(cli: Callable[..., Run], trusted: Path) -> Callable[..., Run]:
    """`verify(report)` -> `diagops report verify REPORT --trusted-keys DIR --json`."""

    def run(report: Path, *extra: str | Path) -> Run:
        return cli("report", "verify", report, "--trusted-keys", trusted, "--json", *extra)

    return run
