"""docs/protocol.md against the service's code: every code it names can be sent, and every code
the service can send is named, with the HTTP status it comes with.

The codes are read from the source (the calls that send them), so a new refusal without a line in
the document, or a line for a code no longer sent, fails here.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from aiohttp import web

from diagops.push import lifecycle, protocol
from tests.servicekit import REPO

DOC = REPO / "docs" / "protocol.md"
PUSH = REPO / "push"


def _trees() -> dict[Path, ast.Module]:
    return {path: ast.parse(path.read_text(encoding="utf-8")) for path in sorted(PUSH.rglob("*.py"))}


def _name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _string(node: ast.AST) -> str | None:
    """A code as written at a call: a literal, or a constant of push/protocol.py."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    value = getattr(protocol, _name(node) or "", None)
    return value if isinstance(value, str) else None


def sent_frame_codes() -> set[str]:
    codes = set()
    for tree in _trees().values():
        for call in ast.walk(tree):
            if isinstance(call, ast.Call) and _name(call.func) == "_reply_error":
                code = _string(call.args[2])
                assert code is not None, f"a frame error code that is not a constant: {ast.unparse(call)}"
                codes.add(code)
    return codes


def sent_http_codes() -> set[tuple[str, str]]:
    """(status, code) pairs; status 'other' for the fallback code of any other HTTP error."""
    refusals = {cls.__name__: cls for cls in lifecycle.PublishRefused.__subclasses__()}
    pairs = set()
    for tree in _trees().values():
        for node in ast.walk(tree):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and _name(node.exc.func) in refusals:
                cls = refusals[_name(node.exc.func)]  # type: ignore[index]
                pairs.add((str(cls.status), cls.code))
            if not isinstance(node, ast.Call):
                continue
            func = _name(node.func)
            if func == "json_error" and isinstance(node.args[0], ast.Constant):
                pairs.add((str(node.args[0].value), _string(node.args[1])))
            elif func == "json_refusal":
                pairs.add((str(getattr(web, _name(node.args[0])).status_code), _string(node.args[1])))
            elif func == "get" and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Dict):
                table = node.func.value  # the middleware's status -> code table and its fallback
                pairs.update((str(k.value), v.value) for k, v in zip(table.keys, table.values))
                pairs.add(("other", _string(node.args[1])))
    assert None not in {code for _, code in pairs}
    return pairs


def sent_close_codes() -> set[int]:
    """The CLOSE_* constants the service's modules use (1009 is aiohttp's, on max_msg_size)."""
    used = set()
    for path, tree in _trees().items():
        if path.name == "protocol.py":
            continue
        used |= {_name(n) for n in ast.walk(tree) if (_name(n) or "").startswith("CLOSE_")}
    return {getattr(protocol, name) for name in used if isinstance(getattr(protocol, name, None), int)}


def _table(heading: str) -> list[list[str]]:
    """The rows (cells, backticks dropped) of the first table under `heading`."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split(f"\n{heading}\n", 1)[1]
    rows = []
    for line in section.splitlines():
        if line.startswith("## ") or line.startswith("### "):
            break
        if line.startswith("|") and not re.match(r"\|\s*-", line):
            rows.append([cell.strip().strip("`") for cell in line.strip("|").split("|")])
    return rows[1:]  # the header row


def test_the_frame_error_codes_are_exactly_those_the_service_sends():
    documented = {row[0] for row in _table("### Frame error codes")}
    assert documented == sent_frame_codes()


def test_the_http_error_codes_are_exactly_those_the_service_sends_with_their_status():
    documented = {(row[0], row[1]) for row in _table("### HTTP error codes")}
    assert documented == sent_http_codes()


def test_the_close_codes_are_exactly_those_the_service_closes_with():
    documented = {int(row[0]) for row in _table("### Close codes")}
    assert documented == sent_close_codes()


def test_the_endpoints_are_exactly_the_service_s_routes():
    from diagops.push.http_api import routes

    served = {f"{r.method} {r.path}".replace("{execution_id}", "{id}") for r in routes} | {"GET /ws"}
    documented = {row[0] for row in _table("## HTTP endpoints")} | {"GET /ws"}
    assert {re.sub(r"\?.*", "", d) for d in documented} == served


def test_the_readme_and_serve_help_point_to_the_document():
    from tests.cli.test_cli_edge import diagops

    assert "(docs/protocol.md)" in (REPO / "README.md").read_text(encoding="utf-8")
    assert "docs/protocol.md" in diagops("serve", "--help").stdout
