"""The terminal client against a busy service: a start refused with Retry-After is retried after
it (plus jitter), and the person is told why nothing has started yet."""

from __future__ import annotations

import pytest

from diagops.push.client import ClientError, start_diagnosis
from tests.cli.test_cli_edge import diagops
from tests.servicekit import SECRET, serve_process, token

# ~5 s a diagnosis: the first one must still run when `diagops run` (a new process) asks, even on a busy machine.
BUSY = {"DIAGOPS_ENGINE__SPEED": "4", "DIAGOPS_LIMITS__MAX_DIAGNOSES_PER_USER": "1"}


def test_run_waits_out_a_per_user_refusal_and_says_so(tmp_path):
    with serve_process(tmp_path, env=BUSY) as svc:
        first = start_diagnosis(svc.url, token("demo"), {"brand": "First"}, retry_for_s=0)
        with pytest.raises(ClientError) as refused:
            start_diagnosis(svc.url, token("demo"), {"brand": "Second"}, retry_for_s=0)
        assert (refused.value.status, refused.value.code) == (429, "too_many_diagnoses")
        assert refused.value.retryable_start and refused.value.retry_after_s >= 1

        result = diagops("run", "--brand", "Second", "--url", svc.url, "--user", "demo", "--json", "--timeout", "60",
                         env={"DIAGOPS_JWT_SECRET": SECRET}, timeout=90)
        assert result.returncode == 0, result.stderr
        assert "busy (too_many_diagnoses)" in result.stderr and "plus jitter" in result.stderr
        assert '"complete"' in result.stdout
        assert first["execution_id"] not in result.stdout  # a new diagnosis, started once the first finished
