"""`diagops dashboards generate`: the Grafana dashboard from the spec (grafana-foundation-sdk)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from diagops.cli.artifacts import write_or_check
from diagops.cli.config import load_for_command
from diagops.cli.context import EXIT_FAILED, CommandError, get_context

DASHBOARD = Path("dashboards/diagops.json")

app = typer.Typer(name="dashboards", help="Generate the Grafana dashboard.", no_args_is_help=True, rich_markup_mode=None)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="dashboards")


@app.command("generate", short_help="Write the Grafana dashboard JSON.")
def generate(
    ctx: typer.Context,
    spec_path: Optional[Path] = typer.Option(None, "--spec", "--config", "-c", help="Spec file (default ./diagops.yaml if present)."),
    out: Path = typer.Option(DASHBOARD, "--out", "-o", help="Dashboard JSON to write; '-' prints it."),
    check: bool = typer.Option(False, "--check", help="Write nothing; exit 1 when the file differs from what the spec gives."),
    json_out: bool = typer.Option(False, "--json", help="Print a summary as JSON."),
) -> None:
    """Write the dashboard: traffic, latency, errors and budget, cache, diagnoses, reliability.

    Grafana loads it on start with the provisioning files in dashboards/provisioning/.
    """
    from diagops.dashboards.build import queries
    from diagops.dashboards.generate import PROVISIONING, render_dashboard

    spec = load_for_command(spec_path)
    text = render_dashboard(spec)
    if str(out) == "-":
        typer.echo(text, nl=False)
        return
    differs = write_or_check(out, text, check)
    context = get_context(ctx)
    import json

    board = json.loads(text)
    panels = [p for p in board["panels"] if p.get("type") != "row"]
    if json_out:
        context.emit_json({"dashboard": str(out), "uid": board["uid"], "schemaVersion": board.get("schemaVersion"),
                           "panels": len(panels), "queries": len(queries(board)),
                           "provisioning": str(PROVISIONING), "out_of_date" if check else "changed": differs})
    if check:
        if differs:
            raise CommandError(f"{out} out of date with the spec: run `diagops dashboards generate`", EXIT_FAILED)
        if not json_out:
            context.console.print(f"{out} matches the spec.", highlight=False)
        return
    if not json_out:
        said = f"wrote {out}" if differs else f"{out} already matches the spec"
        context.console.print(
            f"{said} ({len(panels)} panels, schemaVersion {board.get('schemaVersion')}); Grafana provisioning: {PROVISIONING}",
            highlight=False,
        )
