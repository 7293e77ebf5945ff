"""The gateway process against a real Mosquitto: ingest, retained sentiment, HTTP,
WebSocket, metrics, SQLite, broker restarts and bad input."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

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

from crowdpulse.broker import Mosquitto
from crowdpulse.gateway.store import Store
from crowdpulse.mqtt import BrokerURL, make_client, topic


def _play(broker: Mosquitto, cfg: Path, seconds: float, direct: bool = True) -> int:
    """Floor bands through a relay, bar bands directly; returns reports sent."""
    floor, bar = Bands(cfg, band_ids(1, 20)), Bands(cfg, band_ids(21, 30))
    pub = publisher(broker.url)
    sent = 0
    end = time.time() + seconds
    while time.time() < end:
        now = int(time.time() * 1000)
        reps = floor.reports(now)
        send_batch(pub, reps, now)
        sent += len(reps)
        if direct:
            for b, r in zip(bar.keys, bar.reports(now), strict=True):
                pub.publish(topic(VENUE, "band", b, "report"), r).wait_for_publish(5)
                sent += 1
        time.sleep(0.25)
    pub.loop_stop()
    return sent


def _retained(broker: Mosquitto, sub: str, wait: float = 3.0) -> dict | None:
    got: list[bytes] = []
    c = make_client(BrokerURL.parse(broker.url))
    c.on_message = lambda cl, u, m: got.append(bytes(m.payload))
    c.connect("127.0.0.1", broker.port)
    c.subscribe(topic(VENUE, sub))
    c.loop_start()
    deadline = time.monotonic() + wait
    while not got and time.monotonic() < deadline:
        time.sleep(0.05)
    c.loop_stop()
    return json.loads(got[0]) if got else None


@pytest.fixture
def running(mosquitto: Mosquitto, tmp_path: Path):  # type: ignore[no-untyped-def]
    cfg = write_venue(tmp_path)
    gw = GatewayProc(mosquitto.url, cfg).wait_ready()
    yield gw, cfg
    gw.stop()


def test_reports_become_retained_sentiment_and_api_state(mosquitto: Mosquitto, running) -> None:  # type: ignore[no-untyped-def]
    gw, cfg = running
    sent = _play(mosquitto, cfg, 3.0)
    time.sleep(0.5)
    state = gw.get("/api/state")
    assert state["bands"] == 30 and state["score"] is not None
    assert {z["zone"]: z["bands"] for z in state["zones"]} == {"floor": 20, "bar": 10}
    metrics = gw.get("/metrics")
    assert f"crowdpulse_reports_accepted_total {float(sent)}" in metrics
    assert 'crowdpulse_bands_active{zone="bar"} 10.0' in metrics
    assert "crowdpulse_tick_duration_ms" in metrics and "crowdpulse_loss_estimate" in metrics
    venue = _retained(mosquitto, "sentiment")
    floor = _retained(mosquitto, "sentiment/floor")
    assert venue is not None and venue["score"] == pytest.approx(state["score"], abs=5)
    assert floor is not None and floor["zone"] == "floor" and floor["bands"] == 20


def test_websocket_streams_every_tick(mosquitto: Mosquitto, running) -> None:  # type: ignore[no-untyped-def]
    gw, cfg = running
    crowd = threading.Thread(target=_play, args=(mosquitto, cfg, 2.0, False), daemon=True)
    crowd.start()

    async def listen() -> list[dict]:
        out: list[dict] = []
        async with (
            aiohttp.ClientSession() as s,
            s.ws_connect(f"http://127.0.0.1:{gw.port}/ws") as ws,
        ):
            while sum(m["type"] == "sentiment" for m in out) < 8:
                msg = await ws.receive(timeout=30)
                out.append(json.loads(msg.data))
        return out

    msgs = asyncio.run(listen())
    crowd.join(10)  # its publisher must not outlive this test's gateway
    ticks = [m for m in msgs if m["type"] == "sentiment"]
    assert len(ticks) == 8 and all("zones" in m for m in ticks)
    t = [m["t"] for m in ticks]
    assert t == sorted(set(t))  # one message per tick, in order, none twice
    assert "selector" in {m["type"] for m in msgs[:2]}  # its state on connect
    assert {m["type"] for m in msgs} == {"sentiment", "selector"}


def test_history_and_sqlite_keep_zone_aggregates_only(mosquitto: Mosquitto, running) -> None:  # type: ignore[no-untyped-def]
    gw, cfg = running
    _play(mosquitto, cfg, 3.0)
    hist = gw.get("/api/history?minutes=1&zone=floor")
    assert len(hist["points"]) >= 20 and hist["points"][-1][1] is not None
    db = cfg.parent / "gateway.db"
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    zones = {r[0] for r in con.execute("SELECT zone FROM zone_scores")}
    assert zones == {"_venue", "floor", "bar"}
    con.close()
    raw = b"".join(p.read_bytes() for p in cfg.parent.glob("gateway.db*"))
    assert b"B00" not in raw  # no band id, nothing per band, on disk


def test_retention_purges_old_rows(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "h.db"), retention_hours=1)
    now = 1_800_000_000_000
    for t in (now - 3 * 3600_000, now - 30 * 60_000, now):
        store.write(
            {
                "t": t,
                "score": 50.0,
                "confidence": 1.0,
                "trend_per_min": 0.0,
                "bands": 9,
                "zones": [
                    {
                        "zone": "floor",
                        "score": 50.0,
                        "confidence": 1.0,
                        "trend_per_min": 0.0,
                        "bands": 9,
                    }
                ],
            }
        )
    assert store.purge(now) == 2
    assert [t for t, _ in store.history(0)] == [now - 30 * 60_000, now]


def test_broker_restart_reconnects_resubscribes_and_republishes(
    mosquitto: Mosquitto, running
) -> None:  # type: ignore[no-untyped-def]
    gw, cfg = running
    _play(mosquitto, cfg, 2.0, direct=False)
    before = gw.get("/metrics")
    mosquitto.stop()
    time.sleep(10.0)
    mosquitto.start()  # persistence off: the broker lost every retained message
    deadline = time.monotonic() + 10
    venue = None
    while venue is None and time.monotonic() < deadline:
        venue = _retained(mosquitto, "sentiment", wait=1.0)
    assert venue is not None, "gateway did not republish its retained state"
    accepted_before = metric(before, "crowdpulse_reports_accepted_total")
    _play(mosquitto, cfg, 1.5, direct=False)
    after = gw.get("/metrics")
    accepted_after = metric(after, "crowdpulse_reports_accepted_total")
    assert accepted_after >= accepted_before + 100  # resubscribed; nothing accepted was lost
    assert "crowdpulse_broker_connected 1.0" in after


def test_junk_on_every_topic_is_counted_not_fatal(mosquitto: Mosquitto, running) -> None:  # type: ignore[no-untyped-def]
    gw, cfg = running
    pub = publisher(mosquitto.url)
    for payload in (b"", b"\x01", b"garbage" * 10, bytes(12), bytes(39)):
        pub.publish(topic(VENUE, "relay", "r9", "batch"), payload).wait_for_publish(5)
        pub.publish(topic(VENUE, "band", "B0001", "report"), payload).wait_for_publish(5)
    pub.publish(topic("othervenue", "relay", "r1", "batch"), bytes(40)).wait_for_publish(5)
    pub.loop_stop()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # batches are checked on the gateway's ingest thread
        metrics = gw.get("/metrics")
        if metric(metrics, "crowdpulse_batches_malformed_total") >= 5.0:
            break
        time.sleep(0.1)
    assert gw.proc.poll() is None
    assert metric(metrics, "crowdpulse_batches_malformed_total") == 5.0
    assert 'crowdpulse_reports_rejected_total{reason="format"} 5.0' in metrics
    _play(mosquitto, cfg, 1.0, direct=False)
    deadline = time.monotonic() + 5  # the next tick counts them
    while gw.get("/api/state")["bands"] != 20 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert gw.get("/api/state")["bands"] == 20


@pytest.mark.parametrize(
    "toml,needle",
    [
        ("venue = 'Bad Name'", "venue must be"),
        (
            "venue = 'x'\n[[zones]]\nname = 'floor'\nbands = ['B1']\n[keys]\nvenue_key = 'aa'",
            "not hold the key",
        ),
        (
            "venue = 'x'\n[[zones]]\nname = 'floor'\nbands = ['B1']\n"
            "[keys]\nvenue_key_file = 'nope.key'",
            "nope.key",
        ),
        ("this is [not toml", "not valid TOML"),
    ],
)
def test_bad_config_is_one_line_and_exit_2(tmp_path: Path, toml: str, needle: str) -> None:
    cfg = tmp_path / "v.toml"
    cfg.write_text(toml)
    out = subprocess.run(
        [EXE, "gateway", "--config", str(cfg)], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 2 and needle in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr


def test_dead_broker_at_start_then_alive(tmp_path: Path) -> None:
    broker = Mosquitto()
    cfg = write_venue(tmp_path)
    gw = GatewayProc(broker.url, cfg).wait_ready(mqtt=False)
    try:
        time.sleep(1.0)
        assert gw.proc.poll() is None
        assert "crowdpulse_broker_connected 0.0" in gw.get("/metrics")
        broker.start()
        deadline = time.monotonic() + 10
        while "crowdpulse_broker_connected 1.0" not in gw.get("/metrics"):
            assert time.monotonic() < deadline
            time.sleep(0.2)
    finally:
        out = gw.stop()
        broker.close()
    assert "Traceback" not in out


def test_port_in_use_is_one_line(mosquitto: Mosquitto, running, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    gw, cfg = running
    other = write_venue(tmp_path / "second" if (tmp_path / "second").mkdir() is None else tmp_path)
    out = subprocess.run(
        [
            EXE,
            "gateway",
            "--broker",
            mosquitto.url,
            "--config",
            str(other),
            "--http-port",
            str(gw.port),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and "cannot listen" in out.stderr and "Traceback" not in out.stderr
