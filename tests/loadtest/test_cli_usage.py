"""The command's edges: usage errors exit 2, an unreachable target exits 3, --help stays light."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from diagops.procs.ports import free_port
from tests.loadtest.conftest import run_cli


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--duration", "soon"], "--duration: not a duration"),
        (["--master-host", "10.0.0.2"], "--master-host only goes with --worker"),
        (["--worker"], "--worker needs --master-host"),
        (["--master-bind", "0.0.0.0:5557"], "--master-bind needs --workers N"),
        (["--master-bind", "nohost", "--workers", "2"], "--master-bind must be HOST:PORT"),
        (["--host", "127.0.0.1:8765", "--token-secret", "s"], "--host '127.0.0.1:8765' is not a URL"),
        (["--host", "http://127.0.0.1:9", "--users", "0"], "--users"),
        (["--token", "abc"], "only go with --host"),
    ],
)
def test_usage_errors_exit_2_with_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    run = run_cli(*args, cwd=tmp_path)
    assert run.code == 2, run.stderr
    assert message in run.stderr
    assert not (tmp_path / "out" / "results.json").exists()


def test_a_host_without_any_token_source_is_a_usage_error(tmp_path: Path) -> None:
    run = run_cli("--host", "http://127.0.0.1:9", cwd=tmp_path)
    assert run.code == 2 and "--host needs tokens" in run.stderr


def test_an_unreachable_target_exits_3_in_one_line(tmp_path: Path) -> None:
    port = free_port()
    run = run_cli("--host", f"http://127.0.0.1:{port}", "--token-secret", "s", cwd=tmp_path)
    assert run.code == 3
    assert run.stderr.strip() == f"diagops: error: cannot reach http://127.0.0.1:{port} (nothing answers http://127.0.0.1:{port}/readyz)"


def test_a_bad_config_value_exits_2(tmp_path: Path) -> None:
    (tmp_path / "diagops.yaml").write_text("loadtest:\n  think_min_s: 5\n  think_max_s: 1\n")
    run = run_cli(cwd=tmp_path)
    assert run.code == 2 and "think_max_s" in run.stderr


@pytest.mark.parametrize("argv", [["--help"], ["loadtest", "--help"]])
def test_help_does_not_import_the_generator(argv: list[str]) -> None:
    code = (
        "import sys\nfrom diagops.cli.__main__ import main\ncode = main(sys.argv[1:])\n"
        "print(sorted(m for m in ('locust', 'gevent', 'aiohttp') if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"
    if argv[0] == "loadtest":
        assert "--workers" in proc.stdout and "--master-bind" in proc.stdout


def test_the_embedded_engine_speed_is_the_load_tests_not_the_services(tmp_path: Path) -> None:
    # A diagops.yaml that writes the service's realistic speed out (as the committed one does)
    # must not slow the embedded service down to 20-s diagnoses.
    (tmp_path / "diagops.yaml").write_text("engine:\n  speed: 1.0\nloadtest:\n  embedded_engine_speed: 25\n")
    run = run_cli("--users", "2", "--duration", "2s", "--json", cwd=tmp_path)
    assert run.code == 0, run.stderr
    assert run.results["run"]["engine_speed"] == 25
    assert run.results["latency"]["diagnosis"]["p95"] < 2.0


def test_a_taken_ui_port_is_an_environment_error_found_before_the_run(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        run = run_cli("--ui", "--ui-port", str(port), "--duration", "2s", cwd=tmp_path)
    assert run.code == 3, run.stderr
    assert run.stderr.strip().splitlines() == [f"diagops: error: --ui-port {port}: port {port} on 127.0.0.1 is already in use"]
    assert not (tmp_path / "out" / "results.json").exists() and not (tmp_path / "out" / "service.log").exists()
