"""The gateway stops cleanly on SIGINT and on SIGTERM, whenever they come: while
it starts, and while reports flow and consoles are connected.  Clean: exit code
0, no traceback, its retained status says offline."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from gateway_helpers import (
    EXE,
    VENUE,
    Bands,
    GatewayProc,
    band_ids,
    publisher,
    send_batch,
    write_venue,
)

from crowdpulse.broker import Mosquitto
from crowdpulse.mqtt import BrokerURL, make_client, topic

pytestmark = pytest.mark.broker


def _finish(proc: subprocess.Popen[str], sig: int) -> str:
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=30)
    return _clean(proc.returncode, out)


def _clean(code: int | None, out: str) -> str:
    assert code == 0, out
    assert "Traceback" not in out and "Error" not in out and "Exception" not in out, out
    assert "crowdpulse gateway: stopped" in out, out
    return out


def _status(mosquitto: Mosquitto) -> dict[str, object]:
    got: list[dict[str, object]] = []
    c = make_client(BrokerURL.parse(mosquitto.url))
    c.on_message = lambda cl, u, m: got.append(json.loads(m.payload))
    c.connect("127.0.0.1", mosquitto.port)
    c.subscribe(topic(VENUE, "gateway", "1", "status"))
    c.loop_start()
    deadline = time.monotonic() + 5
    while not got and time.monotonic() < deadline:
        time.sleep(0.05)
    c.loop_stop()
    return got[0] if got else {}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_stops_cleanly_while_starting(mosquitto: Mosquitto, tmp_path: Path, sig: int) -> None:
    cfg = write_venue(tmp_path)
    for delay in (0.0, 1.5):  # at its first line, and while the engine compiles
        proc = subprocess.Popen(
            [EXE, "gateway", "--broker", mosquitto.url, "--config", str(cfg)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert "crowdpulse gateway: starting" in first, first
        time.sleep(delay)
        _finish(proc, sig)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_stops_cleanly_while_reports_flow_and_a_console_listens(
    mosquitto: Mosquitto, tmp_path: Path, sig: int
) -> None:
    cfg = write_venue(tmp_path)
    gw = GatewayProc(mosquitto.url, cfg).wait_ready()
    pub = publisher(mosquitto.url)
    bands = Bands(cfg, band_ids(1, 20))
    stop = threading.Event()

    def crowd() -> None:
        while not stop.is_set():
            now = int(time.time() * 1000)
            send_batch(pub, bands.reports(now), now)
            stop.wait(0.1)

    th = threading.Thread(target=crowd, daemon=True)
    th.start()
    # a console on the WebSocket: the tick thread is pushing to it when the signal lands
    import socket

    ws = socket.create_connection(("127.0.0.1", gw.port))
    ws.sendall(
        b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    assert b"101" in ws.recv(1024)
    try:
        deadline = time.monotonic() + 15
        while urllib.request.urlopen(f"http://127.0.0.1:{gw.port}/api/health").status == 200:
            if json.loads(urllib.request.urlopen(f"http://127.0.0.1:{gw.port}/api/health").read())[
                "live"
            ]:
                break
            assert time.monotonic() < deadline, "reports never flowed"
            time.sleep(0.2)
        out = gw.stop(sig, grace=30.0)
        _clean(gw.proc.returncode, out)
    finally:
        stop.set()
        th.join(5)
        pub.loop_stop()
        ws.close()
    assert _status(mosquitto).get("state") == "offline"
