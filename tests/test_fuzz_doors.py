"""Every door of the gateway, fuzzed with hypothesis: the venue file, WebSocket
actions and every MQTT topic it subscribes to.  Wanted: one clear line per
problem and a safe state, never a traceback, a crash or lost data; refusals
counted in /metrics by reason.  (The HTTP API: tests/test_api_contract.py.)"""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from gateway_helpers import (
    EXE,
    VENUE,
    Bands,
    GatewayProc,
    band_ids,
    metric,
    publisher,
    send_batch,
    write_venue,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crowdpulse.broker import Mosquitto
from crowdpulse.gateway import venue
from crowdpulse.mqtt import topic

TOKEN = "test-token"
ACTIONS = [
    "mode",
    "approve",
    "skip",
    "pin",
    "unpin",
    "veto",
    "unveto",
    "veto_artist",
    "unveto_artist",
    "lock",
    "arc",
    "playing",
    "remove",
    "event_over",
    "nonsense",
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda kids: (
        st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=10), kids, max_size=4)
    ),
    max_leaves=12,
)
# action-shaped objects: the right keys, anything in them
actions = st.fixed_dictionaries(
    {"action": st.sampled_from(ACTIONS)},
    optional={
        "mode": json_values | st.sampled_from(["auto", "assist", "manual"]),
        "track_id": json_values,
        "artist": json_values,
        "locked": json_values,
        "points": json_values,
        "index": json_values,
        "who": json_values,
    },
)


def fuzz(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))


# -- the venue file -------------------------------------------------------------------------
GOOD = """venue = "club-x"
[keys]
venue_key_file = "venue.key"
[[zones]]
name = "floor"
weight = 1.0
bands = ["B0001-B0040"]
[[zones]]
name = "bar"
bands = ["B0041", "B0042", "B0043", "B0044", "B0045"]
[sentiment]
k_anonymity = 5
age_out_s = 10
tick_hz = 10
[storage]
path = "gw.db"
retention_hours = 24
[http]
host = "127.0.0.1"
port = 8080
[console]
token = "secret"
view_requires_token = false
[selector]
mode = "assist"
recovery_threshold = 40
dwell_s = 20
[event]
window = ["2026-11-24T22:00:00Z", "2026-11-25T04:00:00Z"]
"""
LINES = GOOD.splitlines()
toml_values = st.one_of(
    st.integers(),
    st.floats(),
    st.booleans(),
    st.text(max_size=12).map(json.dumps),
    st.just("[]"),
    st.just("{}"),
    st.just('["B0001-B9"]'),
    st.just('"2026-13-40T99:00:00Z"'),
    st.text(max_size=12),
)


@st.composite
def mutated_venue(draw: st.DrawFn) -> str:
    lines = list(LINES)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        kind = draw(st.sampled_from(["drop", "dup", "value", "junk", "key"]))
        if kind == "drop":
            del lines[i]
        elif kind == "dup":
            lines.insert(i, lines[i])
        elif kind == "value" and "=" in lines[i]:
            lines[i] = lines[i].split("=")[0] + "= " + str(draw(toml_values))
        elif kind == "key" and "=" in lines[i]:
            lines[i] = (
                draw(st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12))
                + " ="
                + lines[i].split("=", 1)[1]
            )
        else:
            lines.insert(i, draw(st.text(max_size=30)))
        if not lines:
            break
    return "\n".join(lines)


@pytest.fixture(scope="module")
def venue_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("venue")
    (d / "venue.key").write_text(bytes(range(32)).hex())
    return d


def test_the_unmutated_venue_file_loads(venue_dir: Path) -> None:
    (venue_dir / "venue.toml").write_text(GOOD)
    assert venue.load(venue_dir / "venue.toml").venue == "club-x"


@fuzz(300)
@given(text=mutated_venue())
def test_a_mutated_venue_file_loads_or_says_one_line(venue_dir: Path, text: str) -> None:
    path = venue_dir / "venue.toml"
    path.write_text(text, errors="surrogatepass")
    try:
        venue.load(path)
    except venue.VenueConfigError as exc:
        line = str(exc)
        assert line and "\n" not in line and "Traceback" not in line
        assert bytes(range(32)).hex() not in line  # the key never shows


@fuzz(6)
@given(text=mutated_venue())
def test_the_gateway_refuses_a_broken_venue_file_in_one_line(venue_dir: Path, text: str) -> None:
    path = venue_dir / "venue-cli.toml"
    path.write_text(text, errors="surrogatepass")
    try:
        venue.load(path)
        return  # still a good file: the gateway would start
    except venue.VenueConfigError:
        pass
    proc = subprocess.run(
        [EXE, "gateway", "--config", str(path), "--broker", "mqtt://127.0.0.1:9"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    said = (proc.stdout + proc.stderr).strip()
    assert "Traceback" not in said and len(said.splitlines()) == 1, said


# -- a running gateway -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def gateway(
    shared_mosquitto: Mosquitto, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProc]:
    cfg = write_venue(tmp_path_factory.mktemp("doors"))
    gw = GatewayProc(
        shared_mosquitto.url, cfg, "--share-group", "fuzz", "--worker", "w1"
    ).wait_ready(timeout=120)
    yield gw
    out = gw.stop()
    assert "Traceback" not in out, out[-3000:]


def _http(gw: GatewayProc, path: str) -> Any:
    req = urllib.request.Request(
        f"http://127.0.0.1:{gw.port}{path}", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        body = resp.read().decode()
    return json.loads(body) if path.startswith("/api") else body


def _controls(gw: GatewayProc) -> dict[str, Any]:
    s = _http(gw, "/api/selector")
    return {
        k: s[k]
        for k in (
            "mode",
            "locked",
            "queue",
            "vetoed_tracks",
            "vetoed_artists",
            "energy_arc",
            "now_playing",
            "event",
        )
    }


class Socket:
    """One WebSocket to the gateway, driven from the test thread."""

    def __init__(self, port: int) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.ws: aiohttp.ClientWebSocketResponse = self._run(self._open(port))

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(20)

    async def _open(self, port: int) -> aiohttp.ClientWebSocketResponse:
        self.session = aiohttp.ClientSession()
        return await self.session.ws_connect(f"http://127.0.0.1:{port}/ws")

    async def _ask(self, text: str) -> dict[str, Any]:
        await self.ws.send_str(text)
        while True:  # sentiment and selector messages go by; the next action_result is ours
            msg = await self.ws.receive(timeout=15)
            assert msg.type == aiohttp.WSMsgType.TEXT, msg
            data = json.loads(msg.data)
            if data.get("type") == "action_result":
                return data

    def ask(self, text: str) -> dict[str, Any]:
        return self._run(self._ask(text))

    def close(self) -> None:
        async def shut() -> None:
            await self.ws.close()
            await self.session.close()

        self._run(shut())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture(scope="module")
def socket(gateway: GatewayProc) -> Iterator[Socket]:
    s = Socket(gateway.port)
    yield s
    s.close()


@fuzz(150)
@given(
    message=st.one_of(
        st.text(max_size=200),
        json_values.map(json.dumps),
        st.builds(
            lambda a, t, i: json.dumps(
                {"type": "action", **a, **({"token": t} if t is not None else {}), "id": i}
            ),
            actions,
            st.none() | st.text(max_size=12),
            json_values,
        ),
    )
)
def test_websocket_actions_get_one_answer_and_no_token_changes_nothing(
    gateway: GatewayProc, socket: Socket, message: str
) -> None:
    before = _controls(gateway)
    reply = socket.ask(message)
    assert reply["type"] == "action_result" and isinstance(reply["ok"], bool)
    assert reply["ok"] or (isinstance(reply["error"], str) and "\n" not in reply["error"])
    if reply["ok"]:
        return
    assert _controls(gateway) == before  # a refused action changed nothing


def test_websocket_refusals_are_counted(gateway: GatewayProc, socket: Socket) -> None:
    socket.ask("{not json")
    socket.ask(json.dumps({"type": "action", "action": "skip", "token": "wrong"}))
    text = _http(gateway, "/metrics")
    for reason in ("not_json", "unauthorised"):
        assert f'crowdpulse_input_errors_total{{reason="{reason}",source="ws"}}' in text


# every topic the gateway subscribes to (docs/asyncapi.yaml), with a made-up id where it has one
ids = st.text("abcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=1, max_size=16)
topics = st.one_of(
    ids.map(lambda r: topic(VENUE, "relay", r, "batch")),
    ids.map(lambda b: topic(VENUE, "band", b, "report")),
    ids.map(lambda r: topic(VENUE, "relay", r, "status")),
    st.just(topic(VENUE, "selector", "cmd")),
    ids.filter(lambda w: w != "w1").map(lambda w: topic(VENUE, "gateway", "accepted", w)),
)
payloads = st.one_of(
    st.binary(max_size=3000),
    json_values.map(lambda v: json.dumps(v).encode()),
    actions.map(lambda a: json.dumps(a).encode()),
    st.builds(
        lambda n, state: json.dumps({"state": state, "n": n}).encode(), st.integers(), json_values
    ),
)


@pytest.fixture(scope="module")
def mqtt_pub(shared_mosquitto: Mosquitto) -> Iterator[Any]:
    pub = publisher(shared_mosquitto.url)
    yield pub
    pub.loop_stop()


@fuzz(600)
@given(name=topics, payload=payloads)
def test_random_payloads_on_every_subscribed_topic(
    gateway: GatewayProc, mqtt_pub: Any, name: str, payload: bytes
) -> None:
    mqtt_pub.publish(name, payload).wait_for_publish(5)


def test_after_the_flood_the_gateway_is_up_counts_it_and_takes_good_reports(
    gateway: GatewayProc, mqtt_pub: Any
) -> None:
    # runs after the flood above (same module, same gateway)
    time.sleep(1.0)
    assert gateway.proc.poll() is None
    assert _http(gateway, "/api/health")["mqtt"] is True
    text = _http(gateway, "/metrics")
    before = metric(text, "crowdpulse_reports_accepted_total")
    assert metric(text, "crowdpulse_batches_malformed_total") > 0
    for reason in ("status_not_json", "cmd_not_json", "accepted_bad_size"):
        assert f'reason="{reason}",source="mqtt"' in text, reason
    bands = Bands(gateway.cfg, band_ids(1, 20))
    now = int(time.time() * 1000)
    send_batch(mqtt_pub, bands.reports(now), now)
    deadline = time.monotonic() + 10
    while metric(_http(gateway, "/metrics"), "crowdpulse_reports_accepted_total") < before + 20:
        assert time.monotonic() < deadline, "good reports no longer get in"
        time.sleep(0.1)
    state = _http(gateway, "/api/state")
    assert isinstance(state["zones"], list) and all(
        isinstance(r["state"], str) for r in state.get("relays", [])
    )
    json.dumps(state)
