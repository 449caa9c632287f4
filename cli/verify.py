"""`diagops verify`: the release gate. Runs the acceptance checks against a build, renders the report.

Exit 0 pass (and warn, unless --strict), 1 fail, 2 usage (bad flag, missing input file, bad
selection), 3 the target cannot be started or reached. The verdict line names the checks that
decided it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from diagops.cli.config import duration_flag, load_for_command, resolve_secret
from diagops.cli.context import EXIT_ENVIRONMENT, EXIT_USAGE, CommandError, get_context
from diagops.cli.urls import checked_url

DEFAULT_OUT = Path("reports/out/verify")
# Where `make test` leaves the suite's own results; used when --coverage / --junit are not given.
DEFAULT_COVERAGE = Path("reports/out/tests/coverage.xml")
DEFAULT_JUNIT = Path("reports/out/tests/junit.xml")
REPORT_FILE = "REPORT.md"
RESULT_FILE = "result.json"
JUNIT_FILE = "junit.xml"
STATUS_STYLE = {"pass": "green", "warn": "yellow", "fail": "red", "skip": "magenta", "manual": "cyan"}


def register(app: typer.Typer) -> None:
    app.command("verify", short_help="The release gate: acceptance checks and their report.")(verify)


def _existing(path: Optional[Path], flag: str) -> Optional[Path]:
    if path is not None and not path.is_file():
        raise CommandError(f"{flag} {path}: no such file", EXIT_USAGE)
    return path


def verify(
    ctx: typer.Context,
    target: Optional[str] = typer.Option(None, "--target", help="Base URL of the build to verify (default: start the embedded service)."),
    jwt_secret_file: Optional[Path] = typer.Option(None, "--jwt-secret-file", help="The target's HS256 secret (or DIAGOPS_JWT_SECRET)."),
    spec_path: Optional[Path] = typer.Option(None, "--spec", "--config", "-c", help="Spec file (default ./diagops.yaml if present)."),
    select: Optional[str] = typer.Option(None, "--select", help="Categories or check ids, comma-separated (default: all)."),
    loadtest: Optional[Path] = typer.Option(None, "--loadtest", help="results.json of diagops loadtest, to check its figures."),
    bench: Optional[Path] = typer.Option(None, "--bench", help="JSON of diagops bench, to check its figures."),
    coverage: Optional[Path] = typer.Option(None, "--coverage", help=f"Cobertura coverage.xml (default {DEFAULT_COVERAGE} if present)."),
    junit: Optional[Path] = typer.Option(None, "--junit", help=f"JUnit XML of the test run (default {DEFAULT_JUNIT} if present)."),
    rules: Optional[Path] = typer.Option(None, "--rules", help="Rule file to check (default: the rules generated from the spec)."),
    prometheus_url: Optional[str] = typer.Option(None, "--prometheus-url", help="Prometheus watching the target: no alert may fire."),
    max_age: Optional[str] = typer.Option(None, "--max-age", help="--loadtest/--bench results older than this warn, e.g. 2d (verify.max_input_age_s)."),
    release: Optional[str] = typer.Option(None, "--release", help="Release name in the report (default: version and commit)."),
    lang: str = typer.Option("en", "--lang", help="Report language: zh or en."),
    out: Path = typer.Option(DEFAULT_OUT, "--out", "-o", help="Directory for REPORT.md, result.json, junit.xml, the bundle."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 on a warn verdict too."),
    json_output: bool = typer.Option(False, "--json", help="Print the result JSON on stdout (no live view)."),
) -> None:
    """Run the Phase-3 acceptance checks against a build; write the report the approvers sign.

    Thresholds come from diagops.yaml (slo, verify). Exit 0 pass, 1 fail (or warn with --strict),
    2 usage, 3 target unreachable.
    """
    context = get_context(ctx)
    if lang not in ("zh", "en"):
        raise CommandError(f"--lang must be zh or en (got {lang!r})", EXIT_USAGE)
    from diagops.checks.inputs import GateInputs
    from diagops.checks.registry import SelectionError
    from diagops.checks.registry import select as resolve

    spec = load_for_command(spec_path, {"verify.max_input_age_s": ("--max-age", duration_flag("--max-age", max_age))})
    try:
        resolve(select)
    except SelectionError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None
    if prometheus_url is not None:
        checked_url(prometheus_url, "--prometheus-url")
    if target is not None:
        checked_url(target, "--target")
    inputs = GateInputs(
        loadtest=_existing(loadtest, "--loadtest"), bench=_existing(bench, "--bench"),
        coverage=_existing(coverage, "--coverage") or (DEFAULT_COVERAGE if DEFAULT_COVERAGE.is_file() else None),
        junit=_existing(junit, "--junit") or (DEFAULT_JUNIT if DEFAULT_JUNIT.is_file() else None),
        rules=_existing(rules, "--rules"), prometheus_url=prometheus_url,
    )
    out.mkdir(parents=True, exist_ok=True)
    from diagops.loadtests.embedded import EmbeddedService, ServiceError, check_reachable

    try:
        if target is None:
            if jwt_secret_file is not None:
                raise CommandError("--jwt-secret-file only goes with --target (the embedded service has its own)", EXIT_USAGE)
            from diagops.push.auth import random_secret

            secret = random_secret()
            with EmbeddedService(out / "service.log", secret=secret, engine_speed=spec.verify.engine_speed,
                                 config=spec_path) as service:
                document = _gate(context, spec, service.url, secret, inputs, select, lang, json_output, embedded=True,
                                 release=release, strict=strict, spec_path=spec_path)
        else:
            secret = resolve_secret(spec, jwt_secret_file)
            if not secret:
                raise CommandError("--target needs the service's JWT secret: --jwt-secret-file or DIAGOPS_JWT_SECRET",
                                   EXIT_USAGE)
            check_reachable(target)
            document = _gate(context, spec, target, secret, inputs, select, lang, json_output, embedded=False,
                             release=release, strict=strict, spec_path=spec_path)
    except ServiceError as exc:
        raise CommandError(str(exc), EXIT_ENVIRONMENT) from None
    _write_outputs(document, spec, out, lang)
    if json_output:
        context.emit_json(document)
    else:
        _print_summary(context, document, out)
    raise typer.Exit(document["verdict"]["exit_code"])


def _gate(context: Any, spec: Any, url: str, secret: str, inputs: Any, select: Optional[str], lang: str,
          json_output: bool, *, embedded: bool, release: Optional[str], strict: bool, spec_path: Optional[Path]) -> dict[str, Any]:
    import asyncio

    from diagops.checks.gate import run_gate
    from diagops.cli import __version__
    from diagops.reports.document import build_document, current_commit

    commit = current_commit()
    command = "diagops verify" + ("" if embedded else f" --target {url}")
    if json_output:
        run = asyncio.run(run_gate(spec, url, secret, inputs=inputs, selection=select, lang=lang, command=command))
    else:
        run = _run_live(context, spec, url, secret, inputs, select, lang, command)
    source = str(spec_path) if spec_path is not None else ("diagops.yaml" if Path("diagops.yaml").is_file() else "defaults")
    return build_document(run, spec=spec, spec_source=source, target=url, embedded=embedded,
                          release=release or f"diagops {__version__}" + (f" ({commit[:12]})" if commit else ""),
                          lang=lang, commit=commit, strict=strict)


def _run_live(context: Any, spec: Any, url: str, secret: str, inputs: Any, select: Optional[str], lang: str,
              command: str) -> Any:
    import asyncio

    from rich.live import Live
    from rich.table import Table

    from diagops.checks.gate import run_gate

    rows: dict[str, tuple[str, str]] = {}

    def render() -> Table:
        table = Table(title=f"diagops verify {url}", show_edge=False)
        for column in ("check", "status", "why"):
            table.add_column(column, overflow="fold")
        for check_id, (status, summary) in rows.items():
            style = STATUS_STYLE.get(status, "white")
            table.add_row(check_id, f"[{style}]{status}[/]", summary)
        return table

    with Live(render(), console=context.err_console, refresh_per_second=4, transient=True) as live:
        def progress(reg: Any, result: Any) -> None:
            rows[reg.info.id] = ("running…", "") if result is None else (result.status, result.outcome.summary)
            live.update(render())

        return asyncio.run(run_gate(spec, url, secret, inputs=inputs, selection=select, lang=lang, command=command,
                                    progress=progress))


def _write_outputs(document: dict[str, Any], spec: Any, out: Path, lang: str) -> None:
    import json

    from diagops.reports.attest import render_signoff_table, write_gate_statement
    from diagops.reports.canonical import write_report
    from diagops.reports.charts import write_charts
    from diagops.reports.junit import write_junit
    from diagops.reports.markdown import render_report
    from diagops.reports.texts import TEXTS

    charts = write_charts(document, out, TEXTS[lang]["chart"])
    document["files"] = {"report": REPORT_FILE, "result": RESULT_FILE, "junit": JUNIT_FILE,
                         "bundle": Path(REPORT_FILE).stem + ".intoto.jsonl",
                         **{f"chart{i + 1}": c for i, c in enumerate(charts)}}
    (out / RESULT_FILE).write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    write_junit(document, out / JUNIT_FILE)
    table = render_signoff_table(None, spec.signoff.roles, lang)  # empty until the approvers sign
    report = out / REPORT_FILE
    write_report(report, render_report(document, spec, lang, signoff_table=table, charts=charts))
    checks = document["checks"]
    write_gate_statement(
        report, result={"pass": "PASSED", "warn": "WARNED", "fail": "FAILED"}[document["verdict"]["result"]],
        passed=[c["id"] for c in checks if c["status"] == "pass"],
        warned=[c["id"] for c in checks if c["status"] == "warn"],
        # A required check with no data fails the release, so the statement counts it as failed.
        failed=[c["id"] for c in checks if c["status"] == "fail" or (c["status"] == "skip" and c["required"])],
        configuration=[{"name": document["spec"]["source"], "digest": {"sha256": document["spec"]["sha256"]}},
                       {"name": "target", "uri": document["target"]["url"]}],
        url=document["target"]["url"],
    )


def _print_summary(context: Any, document: dict[str, Any], out: Path) -> None:
    from rich.table import Table

    table = Table(title="diagops verify", show_edge=False)
    for column in ("check", "category", "req", "status", "why"):
        table.add_column(column, overflow="fold")
    for c in document["checks"]:
        style = STATUS_STYLE.get(c["status"], "white")
        table.add_row(c["id"], c["category"], "yes" if c["required"] else "", f"[{style}]{c['status']}[/]", c["summary"])
    for d in document["deselected"]:
        table.add_row(d["id"], d["category"], "", "[dim]deselected[/]", "")
    context.console.print(table)
    verdict = document["verdict"]
    style = {"pass": "bold green", "warn": "bold yellow", "fail": "bold red"}[verdict["result"]]
    context.console.print(f"[{style}]{verdict['reason']}[/]", highlight=False)
    context.console.print(f"Report in {out}/{REPORT_FILE} (result.json, junit.xml, the sign-off bundle beside it)",
                          highlight=False)
