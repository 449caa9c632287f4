"""Load the spec for a command, turning spec errors into the CLI's usage error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cli.context import EXIT_USAGE, CommandError
from spec import Spec, SpecError, load_spec


def load_for_command(config: Path | None, overrides: dict[str, Any] | None = None) -> Spec:
    try:
        return load_spec(config, overrides=overrides)
    except SpecError as exc:
        raise CommandError(f"config: {exc}", EXIT_USAGE) from None
