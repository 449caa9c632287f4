"""What may import what: the process toolkit stays below its callers, and benchmarks stay out of tests/."""

from __future__ import annotations

import subprocess
import sys

from tests.servicekit import REPO


def _loaded_after(imports: str, prefixes: tuple[str, ...]) -> list[str]:
    code = (f"import sys\n{imports}\n"
            f"print(sorted(m for m in sys.modules if any(m == p or m.startswith(p + '.') for p in {prefixes!r})))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return eval(out.stdout.strip().splitlines()[-1])  # noqa: S307 - our own print of a list of names


def test_procs_imports_none_of_its_callers_nor_heavy_libraries() -> None:
    imports = "import diagops.procs.executor, diagops.procs.service, diagops.procs.redis_server, diagops.procs.readiness"
    callers = ("diagops.cli", "diagops.loadtests", "tests", "benchmarks", "aiohttp", "locust", "gevent", "websocket")
    assert _loaded_after(imports, callers) == []


def test_the_benchmarks_import_nothing_from_tests() -> None:
    imports = ("import benchmarks.push_bench, benchmarks.redis_bench, benchmarks.nchan, benchmarks.redis_server, "
               "benchmarks.loadtest_common")
    assert _loaded_after(imports, ("tests",)) == []
