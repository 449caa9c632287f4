"""A real Prometheus (the Debian package) for tests: free port, temp data dir, 1 s scrape and evaluation.

Tests poll it for conditions with deadlines; nothing here sleeps to synchronise.
"""

from __future__ import annotations

import os
import shutil
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from diagops.procs.executor import Executor
from diagops.procs.ports import free_port
from diagops.procs.readiness import HttpStatus
from tests.servicekit import REPO

# The test profile of the spec: the same objectives, windows and `for:` in seconds.
PROFILE = REPO / "alerts" / "tests" / "profile-fast.yaml"


def require(tool: str) -> str:
    """The tool's path; skipped on a developer machine without it, a failure in CI (CI=true) where it must be."""
    found = shutil.which(tool)
    if found is None:
        message = f"{tool} not installed (Debian: apt-get install prometheus)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return found


@dataclass
class PrometheusProcess:
    url: str
    executor: Executor
    config_path: Path

    def log(self) -> str:
        return self.executor.log_text()

    def client(self) -> Any:
        from prometheus_api_client import PrometheusConnect

        return PrometheusConnect(url=self.url, disable_ssl=True)

    def reload(self) -> None:
        """Re-read the config and rule files (POST /-/reload needs --web.enable-lifecycle)."""
        req = urllib.request.Request(self.url + "/-/reload", method="POST")
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert resp.status == 200


def write_config(path: Path, targets: list[str], rules: list[Path], job: str = "diagops") -> None:
    config: dict[str, Any] = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(r) for r in rules],
        "scrape_configs": [{"job_name": job, "static_configs": [{"targets": targets}]}] if targets else [],
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")


@contextmanager
def prometheus(tmp_path: Path, targets: list[str], rules: list[Path], ready_timeout: float = 20.0) -> Iterator[PrometheusProcess]:
    exe = require("prometheus")
    port = free_port()
    config = tmp_path / "prometheus.yml"
    write_config(config, targets, rules)
    url = f"http://127.0.0.1:{port}"
    cmd = [exe, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
           f"--web.listen-address=127.0.0.1:{port}", "--web.enable-lifecycle", "--log.level=warn"]
    with Executor(cmd, log=tmp_path / "prometheus.log", ready=HttpStatus(url + "/-/ready"), name="prometheus",
                  ready_timeout_s=ready_timeout) as executor:
        yield PrometheusProcess(url, executor, config)
