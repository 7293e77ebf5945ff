"""OSC for lights and visuals: the real gateway sends to a real python-osc
server on loopback; every tick's values equal what /api/state (and the retained
MQTT sentiment, the same snapshot) say, and a crowd reaction sends /reaction."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from gateway_helpers import VENUE, Bands, GatewayProc, band_ids, publisher, send_batch, write_venue
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_server import BlockingOSCUDPServer

from crowdpulse.broker import Mosquitto
from crowdpulse.mqtt import BrokerURL, make_client, topic
from wristband import packet


def _started(gw: GatewayProc) -> GatewayProc:
    """Ready, or stopped: a gateway that never came up must not outlive the test."""
    try:
        return gw.wait_ready(timeout=90)
    except AssertionError:
        gw.stop()
        raise


def f32(x: float) -> float:
    return float(np.float32(x))


class Receiver:
    """A python-osc server on a free loopback port, recording (address, args) in order."""

    def __init__(self) -> None:
        self.got: list[tuple[str, tuple[Any, ...]]] = []
        d = Dispatcher()
        d.set_default_handler(lambda address, *args: self.got.append((address, args)))
        self.server = BlockingOSCUDPServer(("127.0.0.1", 0), d)  # one thread: datagrams in order
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def values(self, address: str) -> list[Any]:
        return [
            args[0] if len(args) == 1 else list(args) for a, args in list(self.got) if a == address
        ]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _snapshots(broker: Mosquitto) -> tuple[Any, list[dict[str, Any]]]:
    """Every venue snapshot the gateway publishes (retained sentiment, QoS 0), in order."""
    snaps: list[dict[str, Any]] = []
    c = make_client(BrokerURL.parse(broker.url))
    c.on_message = lambda _c, _u, m: snaps.append(json.loads(m.payload))
    c.connect("127.0.0.1", broker.port)
    c.subscribe(topic(VENUE, "sentiment"))
    c.loop_start()
    return c, snaps


def test_osc_at_tick_rate_equals_api_state_and_reactions(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    rx = Receiver()
    cfg = write_venue(tmp_path, extra=f'[osc]\ntargets = ["127.0.0.1:{rx.port}"]\n')
    sub, snaps = _snapshots(mosquitto)
    gw = _started(GatewayProc(mosquitto.url, cfg))
    floor, bar = Bands(cfg, band_ids(1, 20)), Bands(cfg, band_ids(21, 30))
    pub = publisher(mosquitto.url)
    states: list[dict[str, Any]] = []
    try:
        for i in range(24):  # six seconds of a crowd getting louder, then a reaction on the floor
            now = int(time.time() * 1000)
            level = 80.0 + i
            flags = packet.FLAG_EVENT if i == 20 else 0
            send_batch(pub, floor.reports(now, laeq_db=level, claps=i // 2, flags=flags), now)
            send_batch(pub, bar.reports(now, laeq_db=level - 5), now, relay="r2")
            if i % 4 == 3:
                states.append(gw.get("/api/state"))
            time.sleep(0.25)
        time.sleep(1.0)
    finally:
        out = gw.stop()
        pub.loop_stop()
        sub.loop_stop()
        rx.close()
    assert "Traceback" not in out
    scored = [s for s in snaps if s["score"] is not None]
    osc = rx.values(f"/crowdpulse/{VENUE}/score")
    assert len(scored) >= 20 and len(set(osc)) >= 3  # the score moved
    # one OSC message per tick with a score, carrying that tick's value (OSC floats are 32-bit)
    assert osc == [f32(s["score"]) for s in scored]
    levels = rx.values(f"/crowdpulse/{VENUE}/level")
    assert levels == [f32(s["score"] / 100) for s in scored]
    # what /api/state said at a moment is what OSC sent for that tick
    checked = 0
    for st in states:
        if st["score"] is None:
            continue
        i = next(n for n, s in enumerate(scored) if s["t"] == st["t"])
        assert osc[i] == f32(st["score"])
        for z in st["zones"]:
            zone_osc = rx.values(f"/crowdpulse/{VENUE}/zone/{z['zone']}/score")
            assert z["score"] is None or f32(z["score"]) in zone_osc
        checked += 1
    assert checked >= 3
    reactions = rx.values(f"/crowdpulse/{VENUE}/reaction")
    assert reactions and reactions[0][0] == "floor" and 0 < reactions[0][1] <= 1
    assert all(r[0] != "bar" for r in reactions)  # the bar did not react
