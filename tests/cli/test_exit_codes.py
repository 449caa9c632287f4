"""The README's exit-code table, row by row, against what real commands exit with."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from diagops.cli import context
from diagops.procs.ports import free_port
from tests.cli.test_cli_edge import diagops
from tests.cli.test_client_resilience import interrupted_run
from tests.servicekit import REPO, SECRET, serve_process


def readme_rows() -> dict[int, str]:
    section = (REPO / "README.md").read_text(encoding="utf-8").split("\n### Exit codes\n", 1)[1].split("\n#", 1)[0]
    return {int(m.group(1)): m.group(2) for m in re.finditer(r"^\| (\d+) \| (.+) \|$", section, re.M)}


def test_the_table_has_a_row_for_each_code_the_cli_uses_and_no_other():
    used = {getattr(context, name) for name in dir(context) if name.startswith("EXIT_")}
    assert set(readme_rows()) == used


def test_0_success(tmp_path):
    rules = tmp_path / "rules.yml"
    assert diagops("alerts", "generate", "--out", str(rules), "--config", os.devnull).returncode == 0
    assert diagops("alerts", "generate", "--check", "--out", str(rules), "--config", os.devnull).returncode == 0
    assert "success" in readme_rows()[0]


def test_1_a_check_failed(tmp_path):
    rules = tmp_path / "rules.yml"
    rules.write_text("groups: []\n")
    done = diagops("alerts", "generate", "--check", "--out", str(rules), "--config", os.devnull)
    assert done.returncode == 1 and "out of date" in done.stderr
    assert "check" in readme_rows()[1]


@pytest.mark.parametrize("args", [["serve", "--port", "eighty"], ["serve", "--port", "99999", "--config", os.devnull],
                                  ["run", "--brand", "x", "--url", "not-a-url"], ["status", "--config", "/nonexistent.yaml"]])
def test_2_usage_error(args):
    assert diagops(*args).returncode == 2
    assert all(word in readme_rows()[2] for word in ("flag", "config", "URL", "input file"))


def test_3_environment_error():
    done = diagops("run", "--brand", "x", "--url", f"http://127.0.0.1:{free_port()}", "--config", os.devnull,
                   env={"DIAGOPS_JWT_SECRET": SECRET})
    assert done.returncode == 3 and "cannot reach" in done.stderr
    assert "unreachable" in readme_rows()[3] and "--timeout" in readme_rows()[3]


def test_70_internal_error_with_or_without_debug():
    script = ("import sys\nfrom diagops.cli import app\nfrom diagops.cli.__main__ import main\n"
              "@app.command('boom')\ndef boom() -> None:\n    raise RuntimeError('a bug')\n"
              "sys.exit(main(sys.argv[1:]))\n")
    for debug in ([], ["--debug"]):
        done = subprocess.run([sys.executable, "-c", script, *debug, "boom"], capture_output=True, text=True, cwd=REPO,
                              timeout=30)
        assert done.returncode == 70, done.stderr
        assert ("Traceback" in done.stderr) == bool(debug)
    assert "internal error" in readme_rows()[70]


def test_130_interrupted(tmp_path):
    with serve_process(tmp_path, env={"DIAGOPS_ENGINE__SPEED": "0.05"}) as svc:
        code, _ = interrupted_run(svc.url)
    assert code == 130
    assert "interrupted" in readme_rows()[130]
