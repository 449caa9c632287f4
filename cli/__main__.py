"""Console entry point: runs the Typer app and owns the error edge."""

from __future__ import annotations

import os
import sys


def _debug_requested(argv: list[str]) -> bool:
    return "--debug" in argv or os.environ.get("DIAGOPS_DEBUG", "") not in ("", "0")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; expected failures print one line, tracebacks only with --debug."""
    from cli import app
    from cli.context import EXIT_INTERNAL, EXIT_INTERRUPTED, CommandError
    from spec import SpecError

    args = sys.argv[1:] if argv is None else argv
    debug = _debug_requested(args)
    try:
        result = app(args=args, prog_name="diagops", standalone_mode=False)
    except CommandError as exc:
        if debug:
            raise
        print(f"diagops: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except SpecError as exc:
        if debug:
            raise
        print(f"diagops: error: config: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("diagops: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # the click exceptions are handled below
        import click

        if isinstance(exc, click.exceptions.Exit):
            return exc.exit_code
        if isinstance(exc, click.ClickException):
            exc.show()
            return exc.exit_code
        if isinstance(exc, click.exceptions.Abort):
            print("diagops: aborted", file=sys.stderr)
            return EXIT_INTERRUPTED
        if debug:
            raise
        print(
            f"diagops: internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
