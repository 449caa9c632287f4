"""What every command shares: the console, output mode, and the error edge.

Commands raise `CommandError` (or let a domain error through, mapped in
`cli.__main__`) instead of calling `sys.exit`, so the exit code is decided in
one place.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

# Documented in README.md ("Exit codes").
EXIT_OK = 0
EXIT_FAILED = 1  # a threshold, check or alert test failed
EXIT_USAGE = 2  # bad flag, bad config, missing or malformed input file
EXIT_ENVIRONMENT = 3  # port in use, store or service unreachable, missing tool
EXIT_INTERNAL = 70  # a bug: rerun with --debug and report the traceback
EXIT_INTERRUPTED = 130


class CommandError(Exception):
    """An expected failure: printed as one line, mapped to `exit_code`."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _console(stderr: bool) -> Console:
    """Imported here, not at the top: `--help` and most errors never print through rich. Piped output keeps each message on one line (a path does not break where 80 columns end),
    so scripts and greps see what a person sees; a terminal still wraps to its width."""
    from rich.console import Console

    console = Console(stderr=stderr)
    console.soft_wrap = not console.is_terminal
    return console


@dataclass
class Context:
    """Carried on `typer.Context.obj`; built once by the root callback."""

    debug: bool = False

    @cached_property
    def console(self) -> Console:
        return _console(stderr=False)

    @cached_property
    def err_console(self) -> Console:
        return _console(stderr=True)

    def emit_json(self, payload: Any) -> None:
        """Machine output goes to stdout alone, one JSON document, nothing else."""
        sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2, default=str) + "\n")
        sys.stdout.flush()


def get_context(ctx: Any) -> Context:
    """The shared context from a typer/click context (a fresh one in direct calls)."""
    obj = getattr(ctx, "obj", None) if ctx is not None else None
    if isinstance(obj, Context):
        return obj
    root = ctx.find_root() if ctx is not None else None
    if root is not None and isinstance(root.obj, Context):
        return root.obj
    return Context()
