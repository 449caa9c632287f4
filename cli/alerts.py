"""`diagops alerts generate | test`: Prometheus rules and runbook from the spec, proved with promtool."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from diagops.cli.artifacts import write_or_check
from diagops.cli.config import load_for_command
from diagops.cli.context import EXIT_ENVIRONMENT, EXIT_FAILED, EXIT_USAGE, CommandError, get_context

RULES = Path("alerts/diagops.rules.yml")
FORMATS = ("prometheus", "prometheus-operator")

app = typer.Typer(name="alerts", help="Generate and test the Prometheus alert rules.", no_args_is_help=True, rich_markup_mode=None)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="alerts")


@app.command("generate", short_help="Write the alert rules and their runbook.")
def generate(
    ctx: typer.Context,
    spec_path: Optional[Path] = typer.Option(None, "--spec", "--config", "-c", help="Spec file (default ./diagops.yaml if present)."),
    out: Path = typer.Option(RULES, "--out", "-o", help="Rule file to write; '-' prints it."),
    fmt: str = typer.Option("prometheus", "--format", help="prometheus (rule groups) or prometheus-operator (a PrometheusRule)."),
    runbook: Optional[Path] = typer.Option(None, "--runbook", help="Runbook to write (default RUNBOOK.md beside --out)."),
    check: bool = typer.Option(False, "--check", help="Write nothing; exit 1 when the files differ from what the spec gives."),
    json_out: bool = typer.Option(False, "--json", help="Print what was generated as JSON."),
) -> None:
    """Write standard Prometheus rule groups (SLI recordings, burn-rate and cause alerts) and their runbook."""
    if fmt not in FORMATS:
        raise CommandError(f"--format must be one of {', '.join(FORMATS)} (got '{fmt}')", EXIT_USAGE)
    from diagops.alerts import GenerateError, build_groups
    from diagops.alerts.render import render
    from diagops.alerts.runbook import render_runbook

    spec = load_for_command(spec_path)
    try:
        groups = build_groups(spec)
    except GenerateError as exc:
        raise CommandError(f"config: {exc}", EXIT_USAGE) from None
    rules_text = render(groups, spec.slo.alerting.runbook_url, fmt)  # type: ignore[arg-type]
    runbook_text = render_runbook(spec, groups)
    context = get_context(ctx)
    if str(out) == "-":
        typer.echo(rules_text, nl=False)
        return
    runbook = runbook if runbook is not None else out.parent / "RUNBOOK.md"
    changed = [str(p) for p, text in ((out, rules_text), (runbook, runbook_text)) if write_or_check(p, text, check)]
    alerts = [a.name for g in groups for a in g.alerts]
    recordings = sum(len(g.recordings) for g in groups)
    if json_out:
        context.emit_json({"rules": str(out), "runbook": str(runbook), "format": fmt, "groups": [g.name for g in groups],
                           "recording_rules": recordings, "alerts": alerts, "changed" if not check else "out_of_date": changed})
    if check:
        if changed:
            raise CommandError(f"{', '.join(changed)} out of date with the spec: run `diagops alerts generate`", EXIT_FAILED)
        if not json_out:
            context.console.print(f"{out} and {runbook} match the spec.", highlight=False)
        return
    if not json_out:
        what = f"{len(groups)} groups, {recordings} recording rules, {len(alerts)} alerts"
        current = [str(p) for p in (out, runbook) if str(p) not in changed]
        said = ([f"wrote {' and '.join(changed)}"] if changed else []) + (
            [f"{' and '.join(current)} already match{'es' if len(current) == 1 else ''} the spec"] if current else [])
        context.console.print(f"{'; '.join(said)} ({what})", highlight=False)


@app.command("test", short_help="promtool checks and unit tests of the rules.")
def run_tests(
    ctx: typer.Context,
    rules: Path = typer.Option(RULES, "--rules", help="Rule file to check and test."),
    tests: Optional[Path] = typer.Option(None, "--tests", help="Folder of promtool unit tests, *.test.yml (default: alerts/tests)."),
    promtool: Optional[str] = typer.Option(None, "--promtool", help="promtool executable (default: promtool on PATH)."),
    json_out: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Run `promtool check rules` on the rule file, then `promtool test rules` on the unit tests."""
    from diagops.alerts.promtool import TESTS_DIR, PromtoolMissing, find_promtool, run_check, run_unit_tests, unit_test_files

    if not rules.is_file():
        raise CommandError(f"{rules}: no such file (run `diagops alerts generate` first)", EXIT_USAGE)
    folder = tests if tests is not None else TESTS_DIR
    files = unit_test_files(folder)
    if not files:
        raise CommandError(f"{folder}: no *.test.yml unit tests there", EXIT_USAGE)
    try:
        exe = find_promtool(promtool)
        check = run_check(exe, rules)
        unit = run_unit_tests(exe, rules, files) if check.ok else None
    except PromtoolMissing as exc:
        raise CommandError(str(exc), EXIT_ENVIRONMENT) from None
    context = get_context(ctx)
    ok = check.ok and unit is not None and unit.ok
    if json_out:
        context.emit_json({
            "ok": ok, "rules": str(rules), "tests": [str(f) for f in files],
            "check": {"ok": check.ok, "output": check.output},
            "unit": None if unit is None else {"ok": unit.ok, "output": unit.output},
        })
    else:
        failed = check if not check.ok else unit
        if failed is not None and not failed.ok:
            context.err_console.print(failed.output, highlight=False, markup=False)
    if not check.ok:
        raise CommandError(f"promtool check rules failed on {rules}", EXIT_FAILED)
    if not ok:
        raise CommandError(f"promtool test rules failed ({len(files)} test files against {rules})", EXIT_FAILED)
    if not json_out:
        context.console.print(f"promtool check rules: {rules} OK; promtool test rules: {len(files)} files OK", highlight=False)
