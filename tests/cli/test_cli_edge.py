"""The CLI's promises: fast start, one readable line per expected failure, documented exit codes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import jwt
import pytest

from diagops.push.auth import verify_token
from tests.servicekit import REPO, SECRET


def diagops(*args: str, env: dict[str, str] | None = None, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("DIAGOPS_")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "diagops", *args], capture_output=True, text=True, env=full_env,
                          cwd=REPO, timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["serve", "--help"], ["alerts", "--help"],
                                  ["signoff", "--help"], ["bench", "cache", "--help"]])
def test_help_does_not_import_the_heavy_libraries(argv):
    # The spec's models were about 140 ms of a 0.3 s start, Typer's rich help (rich.markdown and its
    # renderer) about 120 ms more: help needs none of them (pydantic itself is not on the list: Typer
    # parses a command's parameters with it).
    heavy = ('aiohttp', 'locust', 'gevent', 'requests', 'urllib3', 'yaml', 'diagops.spec', 'typer.rich_utils',
             'rich.markdown', 'rich.console')
    code = (f"import sys\nfrom diagops.cli.__main__ import main\nmain({argv!r})\n"
            f"print(sorted(m for m in {heavy!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=30)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_version():
    result = diagops("--version")
    assert result.returncode == 0 and result.stdout.startswith("diagops ")


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("service:\n  prot: 1\n", "unknown key 'service.prot'"),
        ("service:\n  port: eighty\n", "'service.port'"),
        ("limits: [1, 2]\n", "'limits'"),
        ("service: {port: 1\n", "not valid YAML"),
    ],
)
def test_a_bad_config_is_one_line_naming_the_file_and_key(tmp_path, yaml_text, expected):
    config = tmp_path / "bad.yaml"
    config.write_text(yaml_text)
    result = diagops("serve", "--config", str(config))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(config) in lines[0] and expected in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_config_file_and_a_bad_flag_are_usage_errors(tmp_path):
    missing = diagops("serve", "--config", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and "no such file" in missing.stderr
    bad_flag = diagops("serve", "--port", "eighty")
    assert bad_flag.returncode == 2 and "Traceback" not in bad_flag.stderr


def test_an_env_override_with_a_wrong_type_names_the_key():
    result = diagops("serve", "--config", os.devnull, env={"DIAGOPS_ENGINE__SPEED": "fast"})
    assert result.returncode == 2 and "'engine.speed'" in result.stderr


def test_a_port_in_use_is_an_environment_error():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = diagops("serve", "--config", os.devnull, "--port", str(port), env={"DIAGOPS_JWT_SECRET": SECRET})
    assert result.returncode == 3
    assert result.stderr.strip().splitlines()[-1] == f"diagops: error: port {port} on 127.0.0.1 is already in use"
    assert "Traceback" not in result.stderr


def test_debug_shows_the_traceback(tmp_path):
    result = diagops("--debug", "serve", "--config", str(tmp_path / "nope.yaml"))
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_workers_need_redis():
    result = diagops("serve", "--config", os.devnull, "--workers", "2")
    assert result.returncode == 2 and "--redis-url" in result.stderr


def test_token_mints_a_token_the_service_accepts():
    result = diagops("token", "--user", "u1", "--scope", "subscribe", "--scope", "publish", "--ttl", "15m",
                     "--lang", "en", env={"DIAGOPS_JWT_SECRET": SECRET})
    assert result.returncode == 0, result.stderr
    claims = verify_token(result.stdout.strip(), SECRET, need="publish")
    assert claims.sub == "u1" and claims.lang == "en" and claims.scopes == {"subscribe", "publish"}
    raw = jwt.decode(result.stdout.strip(), SECRET, algorithms=["HS256"])
    assert raw["exp"] - raw["iat"] == 900


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--user", "u"], {}, "no JWT secret configured"),
        (["--user", "u", "--scope", "admin"], {"DIAGOPS_JWT_SECRET": SECRET}, "unknown scope 'admin'"),
        (["--user", "u", "--ttl", "soon"], {"DIAGOPS_JWT_SECRET": SECRET}, "not a duration"),
        (["--user", "u", "--jwt-secret-file", "/nonexistent/secret"], {}, "no such file"),
    ],
)
def test_token_refusals(args, env, message):
    result = diagops("token", *args, env=env)
    assert result.returncode == 2 and message in result.stderr, result.stderr


def test_token_reads_the_secret_file(tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n")
    result = diagops("token", "--user", "u", "--jwt-secret-file", str(secret_file))
    assert verify_token(result.stdout.strip(), SECRET, need="subscribe").sub == "u"


def test_run_against_nothing_is_an_environment_error():
    result = diagops("run", "--brand", "x", "--url", "http://127.0.0.1:9", env={"DIAGOPS_JWT_SECRET": SECRET})
    assert result.returncode == 3 and "cannot reach" in result.stderr


def test_run_needs_a_token_source():
    result = diagops("run", "--brand", "x", "--config", os.devnull)
    assert result.returncode == 2 and "no token" in result.stderr


def test_json_output_is_one_document(tmp_path):
    from tests.servicekit import serve_process

    with serve_process(tmp_path) as svc:
        result = diagops("run", "--brand", "Acme", "--url", svc.url, "--json", env={"DIAGOPS_JWT_SECRET": SECRET})
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["event"] == "complete" and body["events"] >= 5 and body["polled"] is False


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["run", "--brand", "x", "--url", "not-a-url"], "--url"),
        (["watch", "e-1", "--url", "http://"], "--url"),
        (["status", "-p", "not-a-url"], "--prometheus-url"),
        (["verify", "--target", "ftp://host", "--jwt-secret-file", os.devnull], "--target"),
        (["verify", "--prometheus-url", "localhost:9090"], "--prometheus-url"),
        (["loadtest", "--host", "127.0.0.1:8765"], "--host"),
        (["serve", "--redis-url", "localhost:6379"], "--redis-url"),
        (["serve", "--redis-url", "redis://127.0.0.1:6379/0", "--redis-url", "ftp://host"], "--redis-url"),
    ],
)
@pytest.mark.parametrize("debug", [False, True])
def test_a_malformed_url_is_a_usage_error_naming_the_flag(args, flag, debug):
    result = diagops(*(["--debug"] if debug else []), *args, "--config", os.devnull, env={"DIAGOPS_JWT_SECRET": SECRET})
    assert result.returncode == 2, result.stderr
    assert flag in result.stderr.strip().splitlines()[-1]
    assert ("Traceback" in result.stderr) == debug


def test_debug_never_changes_the_exit_code(tmp_path):
    plain = diagops("serve", "--config", str(tmp_path / "nope.yaml"))
    debug = diagops("--debug", "serve", "--config", str(tmp_path / "nope.yaml"))
    assert plain.returncode == debug.returncode == 2


def test_a_bad_value_names_the_environment_variable_or_flag_it_came_from():
    by_env = diagops("serve", "--config", os.devnull, env={"DIAGOPS_ENGINE__SPEED": "fast"})
    by_alias = diagops("serve", "--config", os.devnull, env={"DIAGOPS_PORT": "http"})
    by_flag = diagops("serve", "--config", os.devnull, "--port", "99999")
    assert by_env.returncode == by_alias.returncode == by_flag.returncode == 2
    assert "DIAGOPS_ENGINE__SPEED" in by_env.stderr and "'engine.speed'" in by_env.stderr
    assert "DIAGOPS_PORT" in by_alias.stderr and "'service.port'" in by_alias.stderr
    assert "--port" in by_flag.stderr and "'service.port'" in by_flag.stderr
    for done in (by_env, by_alias, by_flag):
        assert os.devnull not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_a_shard_listed_twice_or_a_bad_shard_in_the_file_is_a_config_error(tmp_path):
    url = "redis://127.0.0.1:6379/0"
    twice = diagops("serve", "--config", os.devnull, "--redis-url", url, "--redis-url", url)
    config = tmp_path / "diagops.yaml"
    config.write_text(f"service:\n  redis_url: [{url}, 'localhost:6380']\n")
    in_file = diagops("serve", "--config", str(config))
    assert twice.returncode == in_file.returncode == 2
    assert "--redis-url" in twice.stderr and "listed twice" in twice.stderr
    assert "'service.redis_url'" in in_file.stderr and "localhost:6380" in in_file.stderr
    for done in (twice, in_file):
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_the_file_must_be_valid_on_its_own_even_where_a_flag_overrides_it(tmp_path):
    config = tmp_path / "diagops.yaml"
    config.write_text("service:\n  port: notanint\n")
    result = diagops("serve", "--config", str(config), "--port", "8000", env={"DIAGOPS_PORT": "8001"})
    assert result.returncode == 2
    assert str(config) in result.stderr and "'service.port'" in result.stderr and "notanint" in result.stderr


def test_serve_prints_no_ready_token_when_it_cannot_start():
    from diagops.procs.ports import free_port

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port_in_use = diagops("serve", "--config", os.devnull, "--port", str(busy.getsockname()[1]))
    no_redis = diagops("serve", "--config", os.devnull, "--port", str(free_port()),
                       "--redis-url", f"redis://127.0.0.1:{free_port()}/0")
    for done in (port_in_use, no_redis):
        assert done.returncode == 3, done.stderr
        assert "eyJ" not in done.stdout and "Token" not in done.stdout, done.stdout


def test_a_click_usage_error_is_one_line_naming_the_help():
    result = diagops("run", "--bogus")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("diagops: error: ") and "--bogus" in lines[0], result.stderr
    assert "diagops run --help" in lines[0]


@pytest.mark.parametrize("algorithm", ["HS256", "HS512"])
def test_token_refuses_a_secret_too_short_for_its_algorithm(algorithm):
    short = "x" * (31 if algorithm == "HS256" else 63)
    result = diagops("token", "--user", "u", env={"DIAGOPS_JWT_SECRET": short, "DIAGOPS_AUTH__ALGORITHM": algorithm})
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "at least" in lines[0] and "Warning" not in result.stderr, result.stderr


def test_watch_names_an_expired_token_as_run_does(tmp_path):
    from tests.servicekit import serve_process, token

    expired = token(ttl_s=-60)
    with serve_process(tmp_path) as svc:
        watched = diagops("watch", "e-1", "--url", svc.url, "--token", expired)
        ran = diagops("run", "--brand", "x", "--url", svc.url, "--token", expired)
    assert watched.returncode == ran.returncode == 2
    assert "the token has expired" in watched.stderr and "the token has expired" in ran.stderr


def test_dashboards_generate_says_wrote_only_when_it_wrote(tmp_path):
    board = tmp_path / "board.json"
    first = diagops("dashboards", "generate", "--out", str(board), "--config", os.devnull)
    again = diagops("dashboards", "generate", "--out", str(board), "--config", os.devnull)
    assert first.returncode == again.returncode == 0, first.stderr
    assert first.stdout.startswith(f"wrote {board} (")
    assert again.stdout.startswith(f"{board} already matches the spec (") and "wrote" not in again.stdout


def test_alerts_generate_says_which_files_it_wrote_and_which_were_already_current(tmp_path):
    rules = tmp_path / "rules.yml"
    first = diagops("alerts", "generate", "--out", str(rules), "--config", os.devnull)
    again = diagops("alerts", "generate", "--out", str(rules), "--config", os.devnull)
    assert first.returncode == again.returncode == 0, first.stderr
    assert first.stdout.startswith(f"wrote {rules}") and str(tmp_path / "RUNBOOK.md") in first.stdout
    assert "wrote" not in again.stdout and "already match the spec" in again.stdout, again.stdout
