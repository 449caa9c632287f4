"""Generated files that are committed: write them, or check them for drift."""

from __future__ import annotations

from pathlib import Path

from diagops.cli.context import EXIT_USAGE, CommandError


def write_or_check(path: Path, text: str, check: bool) -> bool:
    """Write `text` to `path` (or with `check`, write nothing); True when the file differed."""
    current = path.read_text(encoding="utf-8") if path.is_file() else None
    differs = current != text
    if differs and not check:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"cannot write {path}: {exc.strerror}", EXIT_USAGE) from None
    return differs
