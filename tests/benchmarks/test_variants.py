"""A benchmark variant runs another checkout's code, although the editable install maps `diagops` here."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.variants import link_checkout, parse_variant

PYPROJECT = """\
[tool.setuptools.package-dir]
"diagops" = "diagops"
"diagops.cli" = "cli"
"diagops.push" = "push"
"""


def fake_checkout(root: Path) -> Path:
    """A checkout with the namespace layout whose packages say where they come from."""
    (root / "diagops").mkdir(parents=True)
    (root / "diagops" / "__main__.py").write_text("print('variant main')\n")
    (root / "pyproject.toml").write_text(PYPROJECT)
    for part in ("cli", "push", "push/store"):
        (root / part).mkdir()
        (root / part / "__init__.py").write_text(f"WHERE = {str(root)!r}\n")
    return root


def test_the_linked_checkout_is_imported_instead_of_this_one(tmp_path: Path) -> None:
    checkout = fake_checkout(tmp_path / "other")
    code = link_checkout(checkout, tmp_path / "links")
    probe = ("import diagops.cli, diagops.push.store, diagops.spec\n"
             "print(diagops.cli.WHERE, diagops.push.store.WHERE, diagops.spec.__file__)")
    env = {**os.environ, "PYTHONPATH": str(code)}
    out = subprocess.run([sys.executable, "-c", probe], cwd=code, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    cli_from, store_from, spec_file = out.stdout.split()
    assert cli_from == store_from == str(checkout)
    assert not spec_file.startswith(str(code))  # what the variant lacks still comes from this checkout
    main = subprocess.run([sys.executable, "-m", "diagops"], cwd=code, env=env, capture_output=True, text=True, timeout=60)
    assert main.stdout.strip() == "variant main"


@pytest.mark.parametrize(("text", "reason"), [
    ("nopath", "want NAME=PATH"),
    ("nchan=.", "NAME must not be one of diagops, nchan"),
    ("x={missing}", "has no readable pyproject.toml"),
    ("x={old}", "is not a checkout with the diagops.* namespace layout"),
])
def test_a_bad_variant_is_refused_with_its_reason(tmp_path: Path, text: str, reason: str) -> None:
    old = tmp_path / "old"
    old.mkdir()
    (old / "pyproject.toml").write_text("[project]\nname = 'diagops'\n")
    with pytest.raises(SystemExit, match=reason):
        parse_variant(text.format(missing=tmp_path / "missing", old=old))
