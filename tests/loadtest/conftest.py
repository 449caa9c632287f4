"""Fixtures for the load-test tests: a real `diagops serve` process and a way to run the real CLI.

Every run here is a real short Locust run against a real service on 127.0.0.1;
the CLI runs in a child process through a wrapper that fails if the CLI process
itself ever imported locust or gevent (it must not: `import locust` monkey-patches
the whole process with gevent).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from diagops.loadtests.embedded import EmbeddedService

REPO = Path(__file__).resolve().parents[2]
SECRET = "loadtest-tests-secret-0123456789abcdef"
RUN_TIMEOUT_S = 100.0

# Runs the CLI, then checks what it imported: the generator must live in children only.
_WRAPPER = (
    "import sys\n"
    "from diagops.cli.__main__ import main\n"
    "code = main(sys.argv[1:])\n"
    "leaked = sorted(m for m in ('locust', 'gevent') if m in sys.modules)\n"
    "if leaked:\n"
    "    print('IMPORTED IN THE CLI PROCESS: ' + ', '.join(leaked), file=sys.stderr)\n"
    "    sys.exit(99)\n"
    "sys.exit(code)\n"
)


@dataclass
class CliRun:
    code: int
    stdout: str
    stderr: str
    out: Path

    @property
    def results(self) -> dict[str, Any]:
        return json.loads((self.out / "results.json").read_text(encoding="utf-8"))

    def threshold(self, name_start: str) -> dict[str, Any]:
        (row,) = [t for t in self.results["thresholds"] if t["name"].startswith(name_start)]
        return row


# A run of a few seconds cannot warm the service's cache to the production objective (80 %): these
# runs test other things, so the objective is off unless a test sets it (test_results judges it).
SHORT_RUN_ENV = {"DIAGOPS_SLO__CACHE_HIT__MIN_HIT_RATIO": "0"}


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None, out: Path | None = None) -> CliRun:
    """`diagops loadtest ARGS --out OUT` in a child process, from `cwd` (no stray diagops.yaml)."""
    out = out or cwd / "out"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("DIAGOPS_")}
    full_env.update(SHORT_RUN_ENV)
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-c", _WRAPPER, "loadtest", *args, "--out", str(out)],
        cwd=cwd, env=full_env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
    )
    return CliRun(proc.returncode, proc.stdout, proc.stderr, out)


@pytest.fixture(scope="module")
def lt_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedService]:
    """`diagops serve` in its own process on a free port: memory store, engine speed 10 (~2 s a diagnosis)."""
    log = tmp_path_factory.mktemp("service") / "service.log"
    with EmbeddedService(log, secret=SECRET, engine_speed=10.0) as service:
        yield service
