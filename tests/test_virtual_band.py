"""The firmware, unchanged, in real MicroPython, against a real Mosquitto."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pytest

from crowdpulse.broker import Mosquitto
from crowdpulse.mqtt import BrokerURL, make_client, topic
from crowdpulse.sim import clapset as C
from crowdpulse.sim import signals as S
from crowdpulse.sim.virtualband import Medium, VirtualBand, band_config, cpu_seconds
from wristband import packet as P

pytestmark = pytest.mark.micropython


@dataclass
class Listener:
    """A plain MQTT subscriber to every band report of the venue."""

    reports: list[tuple[float, bytes]] = field(default_factory=list)

    def count_since(self, t: float, muted: bool | None = None) -> int:
        return sum(1 for at, r in self.reports if at >= t and
                   (muted is None or bool(P.decode(r).flags & P.FLAG_MUTED) == muted))


@pytest.fixture
def venue_key() -> bytes:
    return secrets.token_bytes(32)


@pytest.fixture
def listener(mosquitto: Mosquitto) -> Iterator[Listener]:
    out = Listener()
    client = make_client(BrokerURL.parse(mosquitto.url))
    client.on_message = lambda c, u, m: out.reports.append((time.monotonic(), bytes(m.payload)))
    client.connect("127.0.0.1", mosquitto.port)
    client.subscribe(topic("demo", "band", "+", "report"))
    client.loop_start()
    yield out
    client.loop_stop()


def _publish(broker: Mosquitto, sub: str, payload: dict, retain: bool = False) -> None:
    client = make_client(BrokerURL.parse(broker.url))
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    client.publish(topic("demo", sub), json.dumps(payload), qos=1, retain=retain).wait_for_publish(5)
    client.loop_stop()
    client.disconnect()


def _music(seconds: float, seed: int = 1) -> np.ndarray:
    return S.to_int16(C.music_at_band(seconds, np.random.default_rng(seed)))


def test_reports_with_claps_reach_a_plain_subscriber_and_verify(
        mosquitto: Mosquitto, listener: Listener, venue_key: bytes) -> None:
    clip = C.clip(np.random.default_rng(3), dur=8.0, rate_hz=2.0)
    cfg = band_config(venue_key, "B0042", broker=("127.0.0.1", mosquitto.port))
    medium = Medium()
    with VirtualBand(cfg, clip.audio, loop=False, medium=medium) as band:
        assert band.wait_for(r"boot ok band=B0042")
        time.sleep(8.5)
        assert band.led
    medium.close()
    key = P.band_key(venue_key, "B0042")
    reports = [r for _, r in listener.reports]
    assert len(reports) >= 25
    assert all(P.verify(r, key) for r in reports)
    claps = sum(P.decode(r).claps for r in reports)
    assert claps >= 0.8 * len(clip.onsets), (claps, len(clip.onsets))
    epoch = P.epoch_of(time.time())
    # the band's clock may run up to 7 minutes ahead (VirtualBand keeps it clear of an id switch)
    assert {P.decode(r).onair for r in reports} <= {P.onair_id(key, e) for e in (epoch - 1, epoch, epoch + 1)}
    adverts = [P.manufacturer_data(a) for _, _, a in medium.adverts]
    assert set(adverts) <= set(reports) and len(set(adverts)) >= 20


def test_retained_config_changes_the_report_rate(
        mosquitto: Mosquitto, listener: Listener, venue_key: bytes) -> None:
    cfg = band_config(venue_key, "B0001", broker=("127.0.0.1", mosquitto.port), interval_ms=250)
    with VirtualBand(cfg, _music(10)) as band:
        assert band.wait_for("mqtt online")
        time.sleep(1.0)
        t0 = time.monotonic()
        time.sleep(4.0)
        before = listener.count_since(t0) / 4.0
        _publish(mosquitto, "config", {"interval_ms": 1000}, retain=True)
        assert band.wait_for("interval_ms 1000", 5)
        time.sleep(1.0)
        t1 = time.monotonic()
        time.sleep(5.0)
        after = listener.count_since(t1) / 5.0
    assert 3.0 <= before <= 5.0, before
    assert 0.6 <= after <= 1.4, after


def test_a_band_that_boots_later_gets_the_retained_rate(
        mosquitto: Mosquitto, listener: Listener, venue_key: bytes) -> None:
    _publish(mosquitto, "config", {"interval_ms": 500}, retain=True)
    cfg = band_config(venue_key, "B0002", broker=("127.0.0.1", mosquitto.port), interval_ms=250)
    with VirtualBand(cfg, _music(6)) as band:
        assert band.wait_for("interval_ms 500", 10)


def test_mute_stops_reports_and_the_led(mosquitto: Mosquitto, listener: Listener,
                                        venue_key: bytes) -> None:
    cfg = band_config(venue_key, "B0003", broker=("127.0.0.1", mosquitto.port))
    with VirtualBand(cfg, _music(10)) as band:
        assert band.wait_for("state listening") and band.wait_for("mqtt online")
        time.sleep(1.0)
        assert band.led and listener.count_since(0) > 0
        band.mute(True)
        assert band.wait_for("state muted", 3)
        time.sleep(0.5)
        t0 = time.monotonic()
        time.sleep(3.0)
        assert listener.count_since(t0, muted=False) == 0
        assert not band.led
        band.mute(False)
        assert band.wait_for("state listening", 3, start=len(band.lines) - 3) or band.led
        time.sleep(1.5)
        assert listener.count_since(t0 + 3.5, muted=False) >= 3


def test_button_press_toggles_mute(venue_key: bytes) -> None:
    with VirtualBand(band_config(venue_key, "B0004"), _music(4)) as band:
        assert band.wait_for("state listening")
        band.press_button()
        assert band.wait_for("state muted", 3)


def test_event_over_stops_capture(mosquitto: Mosquitto, listener: Listener, venue_key: bytes) -> None:
    cfg = band_config(venue_key, "B0005", broker=("127.0.0.1", mosquitto.port))
    with VirtualBand(cfg, _music(10)) as band:
        assert band.wait_for("mqtt online")
        time.sleep(1.0)
        _publish(mosquitto, "cmd", {"cmd": "event_over"})
        assert band.wait_for("state over", 5)
        time.sleep(0.5)
        t0 = time.monotonic()
        time.sleep(2.5)
        assert listener.count_since(t0) == 0 and not band.led
        frames = band.status()[-1]["frames"] if band.status() else None
        time.sleep(2.5)
        assert band.status()[-1]["frames"] == frames  # nothing is being captured


def test_broker_outage_reconnects_without_busy_looping(
        mosquitto: Mosquitto, listener: Listener, venue_key: bytes) -> None:
    cfg = band_config(venue_key, "B0006", broker=("127.0.0.1", mosquitto.port))
    with VirtualBand(cfg, _music(20)) as band:
        assert band.wait_for("mqtt online")
        time.sleep(2.0)
        c0, t0 = cpu_seconds(band.pid), time.monotonic()
        time.sleep(5.0)
        normal = (cpu_seconds(band.pid) - c0) / (time.monotonic() - t0)
        mosquitto.stop()
        assert band.wait_for("mqtt offline", 5)
        c1, t1 = cpu_seconds(band.pid), time.monotonic()
        time.sleep(10.0)
        outage = (cpu_seconds(band.pid) - c1) / (time.monotonic() - t1)
        mosquitto.start()
        restarted = time.monotonic()
        fresh = Listener()
        client = make_client(BrokerURL.parse(mosquitto.url))
        client.on_message = lambda c, u, m: fresh.reports.append((time.monotonic(), bytes(m.payload)))
        client.connect("127.0.0.1", mosquitto.port)
        client.subscribe(topic("demo", "band", "+", "report"))
        client.loop_start()
        while time.monotonic() < restarted + 8.0 and not fresh.reports:
            time.sleep(0.05)
        client.loop_stop()
        assert fresh.reports, "no report after the broker came back"
        resumed_after = fresh.reports[0][0] - restarted
    assert outage <= max(2.0 * normal, 0.05), (normal, outage)
    assert resumed_after < 5.0


def test_malformed_config_gives_safe_mode_and_a_clear_message() -> None:
    band = VirtualBand("{ this is not json", _music(3)).start()
    try:
        assert band.wait_for("config error: config is not valid JSON")
        assert band.wait_for("boot safe-mode")
        assert band.wait_for("state safe")
        time.sleep(1.5)
        assert band.proc is not None and band.proc.poll() is None  # alive, not looping
        assert not band.led
        assert not any("Traceback" in line for line in band.lines)
    finally:
        band.stop()


def test_each_bad_field_is_named(venue_key: bytes) -> None:
    cfg = band_config(venue_key, "B0007")
    cfg.update({"interval_ms": "fast", "transport": "pigeon", "window": [5, 1], "board": "toaster"})
    cfg["key"] = "00zz"
    band = VirtualBand(cfg, _music(2)).start()
    try:
        for text in ("interval_ms must be 10-2550", "transport must be", "window must be",
                     "unknown board 'toaster'", "key must be 32 hex"):
            assert band.wait_for(text, 5), text
        assert band.wait_for("state safe")
    finally:
        band.stop()


def test_heap_stays_flat_and_frames_allocate_nothing(venue_key: bytes) -> None:
    medium = Medium()
    cfg = band_config(venue_key, "B0008", status_every_s=1)
    with VirtualBand(cfg, _music(10), speed=3.0, medium=medium) as band:
        time.sleep(20.0)
        status = band.status()
    medium.close()
    steady = [s for s in status[3:] if s["state"] == "listening"]
    assert len(steady) >= 10
    heap = [int(s["heap_free"]) for s in steady]
    assert max(heap) - min(heap) <= 1024, heap
    assert all(int(s["alloc_per_frame"]) == 0 for s in steady), steady
    assert int(steady[-1]["frames"]) >= 4000


def test_several_bands_run_at_once_with_their_own_keys(
        mosquitto: Mosquitto, listener: Listener, venue_key: bytes) -> None:
    ids = ["B0101", "B0102", "B0103"]
    bands = [VirtualBand(band_config(venue_key, b, broker=("127.0.0.1", mosquitto.port)),
                         _music(6, seed=i)).start() for i, b in enumerate(ids)]
    try:
        time.sleep(4.0)
    finally:
        for b in bands:
            b.stop()
    keys = {b: P.band_key(venue_key, b) for b in ids}
    owners = {next(b for b, k in keys.items() if P.verify(r, k)) for _, r in listener.reports}
    assert owners == set(ids)


def test_sim_band_command_runs_and_stops(venue_key: bytes, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    import sys
    from pathlib import Path

    exe = str(Path(sys.executable).parent / "crowdpulse")
    out = subprocess.run([exe, "sim", "band", "--signal", "tone", "--seconds", "3"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "crowdpulse: state listening" in out.stdout
    assert "adverts on the air" in out.stderr
    _ = threading  # keep the import for fixtures that use threads
