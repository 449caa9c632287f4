"""The gate's result as one versioned JSON document (schema: result.schema.json beside this file).

Everything the Markdown report, the JUnit file and the attestation say is derived from this
document, so the three can never disagree.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from diagops.checks.gate import GateRun
from diagops.spec import Spec

SCHEMA_VERSION = 1
KIND = "diagops.verify.result"
SCHEMA = Path(__file__).with_name("result.schema.json")
EXIT_CODES = {"pass": 0, "warn": 0, "fail": 1}


def spec_digest(spec: Spec) -> str:
    """sha256 of the effective spec (file, environment and flags applied), as canonical JSON."""
    canonical = json.dumps(spec.model_dump(mode="json", by_alias=True), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def current_commit(cwd: Path | None = None) -> str | None:
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=cwd, check=False)
    except OSError:
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def build_document(run: GateRun, *, spec: Spec, spec_source: str, target: str, embedded: bool, release: str,
                   lang: str, commit: str | None, strict: bool) -> dict[str, Any]:
    exit_code = EXIT_CODES[run.verdict.result]
    if strict and run.verdict.result == "warn":
        exit_code = 1
    counts = {status: sum(r.status == status for r in run.results) for status in ("pass", "warn", "fail", "skip", "manual")}
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": KIND,
        "release": release,
        "generated_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "target": {"url": target, "embedded": embedded},
        "commit": commit,
        "spec": {"source": spec_source, "sha256": spec_digest(spec),
                 "score": {"pass": spec.verify.score.pass_, "warn": spec.verify.score.warn}},
        "lang": lang,
        "run_id": run.run_id,
        "verdict": {**run.verdict.as_dict(), "exit_code": exit_code, "strict": strict},
        "counts": counts,
        "checks": [r.as_dict() for r in run.results],
        "deselected": [{"id": r.info.id, "category": r.info.category,
                        "title": {"en": r.info.title_en, "zh": r.info.title_zh}} for r in run.deselected],
        "files": {},
    }
