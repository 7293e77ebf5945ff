"""Faithful mode: real firmware in real MicroPython, a real Mosquitto, the real gateway."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt
import pytest

from crowdpulse.broker import Mosquitto
from crowdpulse.gateway.service import Gateway
from crowdpulse.gateway.venue import VenueConfig, Zone
from crowdpulse.mqtt import BrokerURL, make_client, topic
from crowdpulse.sim.runs.faithful import run_faithful
from crowdpulse.sim.world.scenario import parse
from wristband import packet

pytestmark = pytest.mark.micropython

BANDS = 6  # k-anonymity hides a zone under 5 active bands
REACT_S = 14.0


def _scenario() -> dict[str, object]:
    """A track the crowd does not care for, then a cheer (a drop): they cheer and
    start clapping along.  Half the bands on WiFi, half on BLE through the relay."""
    return {
        "name": "faithful test",
        "duration_min": 10,
        "seed": 5,
        "mqtt_share": 0.5,
        "zones": [
            {
                "name": "floor",
                "share": 1.0,
                "size_m": [20, 10],
                "music_db": [90, 96],
                "relays": [[10, 5]],
            }
        ],
        "timeline": [{"pick": "unloved", "length_s": 600}],
        "events": [{"at_min": REACT_S / 60, "kind": "cheer"}],
    }


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_firmware_reports_reach_the_gateway_and_sentiment_follows_the_crowd(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    key = secrets.token_bytes(32)
    ids = [f"S{i + 1:05d}" for i in range(BANDS)]
    url = BrokerURL.parse(mosquitto.url)
    seen: list[bytes] = []  # every report on the broker, from a plain subscriber

    def on_message(_c: object, _u: object, m: mqtt.MQTTMessage) -> None:
        payload = bytes(m.payload)
        if m.topic.endswith("/batch"):
            seen.extend(r for r, _rssi, _ms in packet.decode_batch(payload))
        else:
            seen.append(payload)

    listener = make_client(url)
    listener.on_message = on_message
    listener.connect("127.0.0.1", mosquitto.port)
    listener.subscribe(
        [(topic("faith", "band", "+", "report"), 0), (topic("faith", "relay", "+", "batch"), 0)]
    )
    listener.loop_start()
    cfg = VenueConfig(
        "faith",
        [Zone("floor", 1.0)],
        [(b, "floor") for b in ids],
        key,
        db_path=str(tmp_path / "gw.db"),
    )
    gateway = Gateway(cfg, url).start()
    try:
        assert gateway.connected.wait(30)
        res = run_faithful(parse(_scenario()), BANDS, url, "faith", key, seconds=REACT_S + 11)
        counters = gateway.engine.counters()
    finally:
        gateway.stop()
        listener.loop_stop()

    assert res.bands_started == BANDS and not res.interrupted
    assert 0 < res.direct_bands < BANDS  # both radios are exercised
    # every band was fed sound (how close to real time a machine keeps up is a
    # speed figure: docs/sim.md measures it, no test asserts it)
    assert res.realtime > 0, res.realtime
    assert not any(_alive(pid) for pid in res.pids)
    # the firmware's own reports, signed with each band's derived key: all of them verify,
    # every band is heard, and the gateway takes them all
    keys = {b: packet.band_key(key, b) for b in ids}
    owners = [next((b for b, k in keys.items() if packet.verify(r, k)), None) for r in seen]
    assert None not in owners
    assert set(owners) == set(ids)
    assert counters["accepted"] >= 0.9 * len(seen), (counters, len(seen))
    assert sum(counters["rejected"].values()) == 0, counters
    assert res.reports_relayed > 0 and res.reports_direct > 0
    # the crowd cheers and claps at REACT_S: the truth rises, and so must what the
    # gateway makes of the firmware's numbers
    t = np.array(res.truth.scene_s[: len(res.estimate)])
    est = np.array([np.nan if e is None else e for e in res.estimate])
    truth = np.array([np.nan if v is None else v for v in res.truth.venue[: len(est)]])
    quiet, react = (t >= 5) & (t < REACT_S), (t >= REACT_S + 2) & (t < REACT_S + 11)
    assert np.isfinite(est[quiet]).all() and np.isfinite(est[react]).all(), est
    assert np.mean(truth[react]) > np.mean(truth[quiet]) + 20
    assert np.mean(est[react]) > np.mean(est[quiet]) + 5, (est[quiet], est[react])
    assert np.max(est[quiet]) - np.min(est[quiet]) < 5, est[quiet]  # steady while nothing happens


def test_the_music_reference_is_a_real_firmware_band_too(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """With reference=True one more real-firmware band, REF, hears the dry mix at the
    booth and publishes over WiFi; the gateway, told REF is the reference, scores
    the crowd against it."""
    key = secrets.token_bytes(32)
    ids = [f"S{i + 1:05d}" for i in range(BANDS)]
    url = BrokerURL.parse(mosquitto.url)
    cfg = VenueConfig(
        "faithref",
        [Zone("floor", 1.0)],
        [(b, "floor") for b in [*ids, "REF"]],
        key,
        band_references=["REF"],
        db_path=str(tmp_path / "gw.db"),
    )
    gateway = Gateway(cfg, url).start()
    try:
        assert gateway.connected.wait(30)
        res = run_faithful(
            parse(_scenario()), BANDS, url, "faithref", key, seconds=12, reference=True
        )
        snap = gateway.engine.tick()
        counters = gateway.engine.counters()
    finally:
        gateway.stop()
    assert res.bands_started == BANDS + 1 and not res.interrupted
    assert not any(_alive(pid) for pid in res.pids)
    assert sum(counters["rejected"].values()) == 0, counters
    assert snap["evidence"]["reference"] == "live", snap["evidence"]
    assert snap["bands"] <= BANDS  # the reference is not one of the crowd's


_CTRL_C = """
import json, sys
from crowdpulse.mqtt import BrokerURL
from crowdpulse.sim.runs.faithful import run_faithful
from crowdpulse.sim.world.scenario import load
res = run_faithful(load("normal"), 3, BrokerURL.parse(sys.argv[1]), "faith", bytes(32), seconds=120)
print(json.dumps({"interrupted": res.interrupted, "pids": res.pids, "started": res.bands_started}))
"""


def _children(pid: int) -> list[int]:
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                stat = (p / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid and "micropython" in (p / "cmdline").read_bytes().decode(
                errors="replace"
            ):
                out.append(int(p.name))
    return out


def test_ctrl_c_stops_every_band(mosquitto: Mosquitto) -> None:
    # SIGINT to the simulator alone (not its process group, as a terminal would):
    # it, not the bands' own reaction to the signal, must stop them all
    proc = subprocess.Popen(
        [sys.executable, "-c", _CTRL_C, mosquitto.url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 40
        while len(_children(proc.pid)) < 3 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        bands = _children(proc.pid)
        assert len(bands) == 3, (
            proc.stderr.read() if proc.poll() is not None and proc.stderr else bands
        )
        time.sleep(2.0)
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    report = json.loads(out.strip().splitlines()[-1])
    assert report["interrupted"] and report["started"] == 3
    assert sorted(report["pids"]) == sorted(bands)
    assert not any(_alive(pid) for pid in bands)
