"""`diagops signoff REPORT --role ROLE --key KEY` and `diagops signoff keygen`: approve the acceptance report."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import click
import typer
from typer.core import TyperGroup

from diagops.cli.config import load_for_command
from diagops.cli.context import EXIT_FAILED, EXIT_USAGE, CommandError, get_context
from diagops.reports.errors import InputError, SignoffRefused


class DefaultCommandGroup(TyperGroup):
    """A group whose arguments go to its default command unless they start with a subcommand's name.

    So `diagops signoff REPORT ...` signs, `diagops signoff keygen ...` makes a key, and
    `diagops signoff --help` still shows both.
    """

    default_command = "sign"

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)


app = typer.Typer(name="signoff", cls=DefaultCommandGroup, no_args_is_help=True, rich_markup_mode=None,
                  short_help="Sign the acceptance report as one approver.",
                  help="`diagops signoff REPORT --role ROLE --key KEY` signs the acceptance report (the default command, "
                       "`sign`); `diagops signoff keygen --name NAME` makes a signing key.")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="signoff")


@contextmanager
def attestation_errors() -> Iterator[None]:
    """The reports package's two expected failures as exit codes: bad input 2, a refused or failed check 1."""
    try:
        yield
    except InputError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None
    except SignoffRefused as exc:
        raise CommandError(f"not signed: {exc}", EXIT_FAILED) from None


@app.command("sign", short_help="Sign the report as one approver (the default).")
def sign(
    ctx: typer.Context,
    report: Path = typer.Argument(..., help="The acceptance report (REPORT.md); its bundle is REPORT.intoto.jsonl beside it."),
    role: str = typer.Option(..., "--role", help="The role you sign in (one of the spec's signoff.roles)."),
    key: Path = typer.Option(..., "--key", help="Your private key file (NAME.key from `diagops signoff keygen`)."),
    accept_risk: Optional[str] = typer.Option(None, "--accept-risk", help="Approve with this risk accepted (required when the gate FAILED)."),
    name: Optional[str] = typer.Option(None, "--name", help="Your name as the approver (default: the key file's name)."),
    lang: Optional[str] = typer.Option(None, "--lang", help="zh or en: the table's language (default: the one the report uses)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c"),
) -> None:
    """Append your signed approval to the report's bundle and update its sign-off table."""
    if lang is not None and lang not in ("zh", "en"):
        raise CommandError("--lang must be zh or en", EXIT_USAGE)
    from diagops.reports.attest import sign_report

    spec = load_for_command(config)
    with attestation_errors():
        signed = sign_report(report, role=role, key=key, signoff=spec.signoff, approver=name,
                             accepted_risk=accept_risk, lang=lang)  # type: ignore[arg-type]
    approval = signed.approval
    get_context(ctx).console.print(
        f"signed {report} as {approval.role} ({approval.approver}, {approval.decision}) with key "
        f"{signed.keyid[:16]}: {signed.bundle} line {signed.line}; sign-off table updated",
        highlight=False, soft_wrap=True,
    )


@app.command("keygen", short_help="Make an Ed25519 signing key pair.")
def keygen(
    ctx: typer.Context,
    name: str = typer.Option(..., "--name", help="Key name: writes NAME.key and NAME.pub."),
    out: Path = typer.Option(Path("."), "--out", help="Folder to write them to."),
) -> None:
    """Make an Ed25519 key pair: NAME.key (private, mode 0600) and NAME.pub (for the trusted-keys folder)."""
    from diagops.reports.keys import generate_key_pair

    with attestation_errors():
        private, public, keyid = generate_key_pair(name, out)
    console = get_context(ctx).console
    console.print(f"private key: {private} (mode 0600: keep it to yourself, never commit it)", highlight=False, soft_wrap=True)
    console.print(f"public key:  {public} (key id {keyid}): add it to the trusted-keys folder and roles.yaml",
                  highlight=False, soft_wrap=True)
