"""Console entry point: runs the Typer app and owns the error edge."""

from __future__ import annotations

import os
import signal
import sys
from typing import Any


class Interrupted(KeyboardInterrupt):
    """Ctrl-C as diagops raises it. CPython marks an exact `KeyboardInterrupt` that crosses some
    of its own C frames as unhandled and, at exit, kills itself with SIGINT even after the CLI
    caught it and chose exit code 130 (seen under load: `run` then exited -2); a subclass is
    never so marked, and every `except KeyboardInterrupt` still catches it."""


def _raise_interrupted(_signum: int, _frame: Any) -> None:
    raise Interrupted()


def _debug_requested(argv: list[str]) -> bool:
    return "--debug" in argv or os.environ.get("DIAGOPS_DEBUG", "") not in ("", "0")


def _is_usage_error(exc: BaseException) -> bool:
    """Click's usage errors, whether from click itself or the copy Typer vendors."""
    return any(cls.__name__ == "ClickException" for cls in type(exc).__mro__)


def _is_spec_error(exc: BaseException) -> bool:
    """Without importing the spec (slow, and `--help` needs none of it): a SpecError can only
    have been raised once its module was loaded."""
    load = sys.modules.get("diagops.spec.load")
    return load is not None and isinstance(exc, load.SpecError)


def _usage_line(exc: BaseException) -> str:
    """Click's usage block (usage, hint, blank, error) as the one line every other error is."""
    message = exc.format_message().rstrip(".")  # type: ignore[attr-defined]
    ctx = getattr(exc, "ctx", None)
    return f"{message} (see '{ctx.command_path} --help')" if message and ctx is not None else message


def _traceback_if(debug: bool) -> None:
    """--debug adds the traceback of the exception being handled; it never changes the exit code."""
    if debug:
        import traceback

        traceback.print_exc(file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; expected failures print one line, tracebacks only with --debug."""
    from diagops.cli import app
    from diagops.cli.context import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_USAGE, CommandError

    args = sys.argv[1:] if argv is None else argv
    debug = _debug_requested(args)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _raise_interrupted)
    try:
        result = app(args=args, prog_name="diagops", standalone_mode=False)
    except CommandError as exc:
        _traceback_if(debug)
        print(f"diagops: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("diagops: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        import typer

        if isinstance(exc, typer.Exit):
            return exc.exit_code
        if _is_spec_error(exc):
            _traceback_if(debug)
            print(f"diagops: error: config: {exc}", file=sys.stderr)
            return EXIT_USAGE
        if type(exc).__name__ == "NoArgsIsHelpError":  # a bare command group: its help, as Click shows it
            print(exc.format_message(), file=sys.stderr)  # type: ignore[attr-defined]
            return exc.exit_code  # type: ignore[attr-defined]
        if _is_usage_error(exc):
            _traceback_if(debug)
            line = _usage_line(exc)
            print(f"diagops: error: {line}", file=sys.stderr)
            return exc.exit_code  # type: ignore[attr-defined]
        if isinstance(exc, typer.Abort):
            print("diagops: aborted", file=sys.stderr)
            return EXIT_INTERRUPTED
        _traceback_if(debug)
        print(
            f"diagops: internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
