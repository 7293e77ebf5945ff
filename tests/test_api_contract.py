"""The HTTP API against its published OpenAPI 3.1 document, fuzzed by schemathesis.

A real `crowdpulse gateway` process (real Mosquitto) whose venue wants the token
even for viewing, so that every route has a door to try.  Every operation of
/api/openapi.json gets schemathesis' explicit examples, coverage cases and
random fuzzing, each request sent twice: without the token and with it.
Wanted: no 5xx, every answer conforms to the document (status, content type,
headers, body schema), and nothing sent without the token changes the
selector.  `GET /api/state?at=-99999999999999999999` once answered 500: it is
an example in the document and a test of its own here.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from gateway_helpers import GatewayProc, write_venue
from hypothesis import HealthCheck, settings
from schemathesis import checks as st_checks

from crowdpulse.broker import Mosquitto

TOKEN = "test-token"
CHECKS = [
    st_checks.not_a_server_error,
    st_checks.status_code_conformance,
    st_checks.content_type_conformance,
    st_checks.response_headers_conformance,
    st_checks.response_schema_conformance,
]


@pytest.fixture(scope="module")
def gateway(
    shared_mosquitto: Mosquitto, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProc]:
    cfg = write_venue(tmp_path_factory.mktemp("api"), extra="view_requires_token = true\n")
    gw = GatewayProc(shared_mosquitto.url, cfg).wait_ready(timeout=120)
    yield gw
    gw.stop()


# the document in the repository, which the gateway serves as is (checked below);
# loaded here rather than from the running gateway, whose port is not known yet
DOCUMENT = Path(__file__).resolve().parents[1] / "gateway" / "openapi.json"
schema = schemathesis.openapi.from_path(str(DOCUMENT))


def _get(gw: GatewayProc, path: str, token: bool = True) -> tuple[int, Any]:
    req = urllib.request.Request(
        f"http://127.0.0.1:{gw.port}{path}",
        headers={"Authorization": f"Bearer {TOKEN}"} if token else {},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _controls(gw: GatewayProc) -> dict[str, Any]:
    """What the artist's actions set (suggestions move on their own; these do not)."""
    status, state = _get(gw, "/api/selector")
    assert status == 200
    keep = (
        "mode",
        "locked",
        "queue",
        "vetoed_tracks",
        "vetoed_artists",
        "energy_arc",
        "now_playing",
        "event",
    )
    out = {k: state[k] for k in keep}
    out["pinned"] = (
        state["next"] if state["next"] and state["next"].get("kind") == "pinned" else None
    )
    return out


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_route_conforms_with_and_without_the_token(case: Any, gateway: GatewayProc) -> None:
    base = f"http://127.0.0.1:{gateway.port}"
    before = _controls(gateway)
    case.call_and_validate(base_url=base, checks=CHECKS)  # without the token
    assert _controls(gateway) == before, "a request without the token changed the selector"
    case.call_and_validate(
        base_url=base, checks=CHECKS, headers={"Authorization": f"Bearer {TOKEN}"}
    )


@pytest.mark.parametrize(
    "at", ["-99999999999999999999", "99999999999999999999", "-1", "1e3", "nan", ""]
)
def test_state_at_out_of_range_is_a_clear_400(gateway: GatewayProc, at: str) -> None:
    status, body = _get(gateway, f"/api/state?at={at}")
    assert status == 400 and "at must be unix milliseconds" in body["error"]


def test_state_at_in_range_scores_that_moment(gateway: GatewayProc) -> None:
    status, body = _get(gateway, "/api/state?at=1795498145057")
    assert status == 200 and body["t"] == 1795498145057


def test_refusals_are_counted_in_metrics(gateway: GatewayProc) -> None:
    _get(gateway, "/api/state?at=-99999999999999999999")
    _get(gateway, "/api/history?minutes=nan")
    _get(gateway, "/api/selector", token=False)
    with urllib.request.urlopen(f"http://127.0.0.1:{gateway.port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    for reason in ("bad_at", "bad_minutes", "unauthorised"):
        assert f'crowdpulse_input_errors_total{{reason="{reason}",source="http"}}' in text, reason


def test_the_document_is_the_one_in_the_repository(gateway: GatewayProc) -> None:
    status, served = _get(gateway, "/api/openapi.json", token=False)
    shipped = json.loads(DOCUMENT.read_text())
    assert status == 200 and served == shipped and served["openapi"].startswith("3.1")
