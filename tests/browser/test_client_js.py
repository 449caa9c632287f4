"""The JS client's own logic (backoff, seq merge, fallback and return, Retry-After), in Node's
built-in test runner against fakes behind the client's adapter interface: milliseconds per case."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.servicekit import REPO

JS_TESTS = REPO / "tests" / "browser" / "js"


def test_the_client_unit_tests_pass_in_node():
    node = shutil.which("node")
    if node is None:
        pytest.fail("the JS client's unit tests need Node 18+ (`node --test`) on PATH", pytrace=False)
    done = subprocess.run([node, "--test", "--test-reporter=tap", str(JS_TESTS)], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "# fail 0" in done.stdout and "# pass 0" not in done.stdout
