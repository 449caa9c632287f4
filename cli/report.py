"""`diagops report verify REPORT`: is the acceptance report intact and approved by the roles the spec names?"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from diagops.cli.config import load_for_command
from diagops.cli.context import EXIT_FAILED, CommandError, get_context
from diagops.cli.signoff import attestation_errors

if TYPE_CHECKING:
    from rich.console import Console

    from diagops.reports.verification import Verification

TRUSTED_KEYS = Path("trusted-keys")

app = typer.Typer(name="report", help="Check the signed acceptance report.", no_args_is_help=True, rich_markup_mode=None)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="report")


@app.command("verify", short_help="Check the signatures and approvals of a report.")
def verify(
    ctx: typer.Context,
    report: Path = typer.Argument(..., help="The acceptance report (REPORT.md); its bundle is REPORT.intoto.jsonl beside it."),
    trusted_keys: Path = typer.Option(TRUSTED_KEYS, "--trusted-keys", help="Folder of NAME.pub keys and roles.yaml."),
    json_out: bool = typer.Option(False, "--json", help="Print the verification as JSON."),
    config: Optional[Path] = typer.Option(None, "--config", "-c"),
) -> None:
    """Check every signature and subject; exit 0 only when intact and approved (1 not, 2 usage)."""
    from diagops.reports.bundle import bundle_path, read_bundle
    from diagops.reports.canonical import read_report
    from diagops.reports.trusted_keys import load_trusted_keys
    from diagops.reports.verification import verify_report

    spec = load_for_command(config)
    with attestation_errors():
        text = read_report(report)
        bundle = read_bundle(bundle_path(report))
        trusted = load_trusted_keys(trusted_keys, spec.signoff.roles)
        result = verify_report(text, report.name, bundle, trusted, spec.signoff)
    context = get_context(ctx)
    if json_out:
        context.emit_json(result.as_dict())
    else:
        _print(context.console, result)
    if not result.approved:
        raise CommandError(f"{report}: {_verdict(result)}", EXIT_FAILED)


def _verdict(result: Verification) -> str:
    counts = f"{len(result.roles_approved)} of {len(result.roles_approved) + len(result.roles_missing)} roles " \
             f"approved (needs {result.threshold})"
    if result.approved:
        return f"intact, gate {result.gate_result}; {counts}"
    if not result.intact:
        return f"NOT intact ({result.why_not_intact}); {counts}"
    return f"NOT approved: {counts}"


def _print(console: Console, result: Verification) -> None:
    from rich.table import Table

    table = Table(title=f"{result.report} (sha256 {result.sha256[:12]}), gate {result.gate_result or '?'}")
    for column in ("line", "role", "approver", "decision", "date", "key", "counts"):
        table.add_column(column, overflow="fold")
    for s in result.signatures:
        table.add_row(str(s.line), s.role, s.approver, s.decision, s.date, s.key or (s.keyids[0][:12] if s.keyids else "-"),
                      "yes" if s.counted else "[red]no[/red]")
    console.print(table)
    for finding in result.findings:
        console.print(f"- {finding.message}", highlight=False, markup=False, soft_wrap=True)
    if result.approved:
        console.print(f"{result.report}: {_verdict(result)}", highlight=False, soft_wrap=True)
