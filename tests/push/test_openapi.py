"""The OpenAPI 3.1 document of the HTTP API (push/openapi.json): valid, served as committed, and
true of a real `diagops serve`, as Schemathesis finds it with every one of its checks on."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.config import SchemathesisConfig

from tests.servicekit import ServiceProcess, serve_process, token

DOCUMENT = Path(__file__).parents[2] / "push" / "openapi.json"
USER_AND_ENGINE = token("alice", ("subscribe", "publish"))

load_all_checks()
EVERY_CHECK = CHECKS.get_all()


def test_the_document_is_valid_openapi_3_1() -> None:
    document = json.loads(DOCUMENT.read_text())
    assert document["openapi"].startswith("3.1")
    validate(document)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    with serve_process(tmp_path_factory.mktemp("openapi")) as running:
        yield running


def test_the_service_serves_the_committed_document(service: ServiceProcess) -> None:
    with urllib.request.urlopen(f"{service.url}/openapi.json", timeout=10) as resp:
        assert resp.headers["Content-Type"].startswith("application/json")
        assert json.loads(resp.read()) == json.loads(DOCUMENT.read_text())


def test_every_route_the_service_has_is_in_the_document_or_named_as_left_out() -> None:
    from diagops.push.app import create_app
    from tests.servicekit import test_spec

    app = create_app(test_spec(), secret="x" * 32)
    routes = {(r.method, r.resource.canonical) for r in app.router.routes() if r.method != "HEAD"}
    documented = {(m.upper(), path) for path, ops in json.loads(DOCUMENT.read_text())["paths"].items() for m in ops}
    # The WebSocket side (docs/protocol.md), and the live page with its files: not an API.
    not_http = {("GET", "/ws"), ("GET", "/"), ("GET", "/static/{name}")}
    assert routes - not_http == documented


# Loaded from the committed file, not from the service, so every operation is a test of its own
# at collection; the module's service is given as each call's base URL.
# A schema-valid publish may still break the execution's rules, which no schema holds (no owner on
# the first event, progress going back, the event cap): 422 there is the documented answer.
CONFIG = SchemathesisConfig.from_dict({"operations": [{
    "include-operation-id": "publishEvent",
    "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "401", "403", "404", "409", "422"]}},
}]})
schema = schemathesis.openapi.from_dict(json.loads(DOCUMENT.read_text()), config=CONFIG)


@schema.hook
def filter_body(context: schemathesis.HookContext, body: object) -> bool:
    """JSON Schema counts 83.0 as an integer; the contract's `progress` is a JSON integer, and the
    service refuses 83.0 (tests/push/test_hostile_fields.py). No schema can say so: don't send it
    as valid data."""
    data = body.get("data") if isinstance(body, dict) else None
    progress = data.get("progress") if isinstance(data, dict) else None
    return not isinstance(progress, float)


@schema.parametrize()
@settings(max_examples=15, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture])
def test_the_service_conforms_to_its_document(case: schemathesis.Case, service: ServiceProcess) -> None:
    response = case.call_and_validate(base_url=service.url, headers={"Authorization": f"Bearer {USER_AND_ENGINE}"},
                                      checks=EVERY_CHECK, timeout=10)
    assert response.status_code < 500
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
        assert isinstance(body["error"]["code"], str) and isinstance(body["error"]["message"], str)
