"""The firmware, unchanged, in real MicroPython, against a real Mosquitto."""

from __future__ import annotations

import json
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pytest

from crowdpulse.broker import Mosquitto
from crowdpulse.mqtt import BrokerURL, make_client, topic
from crowdpulse.sim.bands import twin
from crowdpulse.sim.bands.virtualband import FRAME, Medium, VirtualBand, band_config
from crowdpulse.sim.world import clapset, signals
from wristband import packet
from wristband.boards import DEFAULT, PROFILES

pytestmark = pytest.mark.micropython


@dataclass
class Listener:
    """A plain MQTT subscriber to every band report of the venue."""

    reports: list[tuple[float, bytes]] = field(default_factory=list)

    def count_since(self, t: float, muted: bool | None = None) -> int:
        return sum(
            1
            for at, r in self.reports
            if at >= t
            and (muted is None or bool(packet.decode(r).flags & packet.FLAG_MUTED) == muted)
        )


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
    client.publish(topic("demo", sub), json.dumps(payload), qos=1, retain=retain).wait_for_publish(
        5
    )
    client.loop_stop()
    client.disconnect()


def _music(seconds: float, seed: int = 1) -> np.ndarray:
    return signals.to_int16(clapset.music_at_band(seconds, np.random.default_rng(seed)))


def _wait(cond: Callable[[], object], what: str, timeout: float = 60.0) -> None:
    """Until cond() holds; the timeout only keeps a broken run from hanging."""
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _fields(report: bytes, key: bytes, epoch: int | None = None) -> dict[str, object]:
    """A report's fields, read with the band's key (they are masked on the air)."""
    if epoch is None:
        epoch = packet.id_epoch(key, packet.decode(report).onair, time.time())
    fields = packet.decode(report, key, epoch).as_dict()
    for k in ("version", "onair", "seq"):
        fields.pop(k)
    return fields


def _twin_replay(audio: np.ndarray, reports: list[bytes]) -> list[dict[str, object]]:
    """The twin over the same sound, cut where the band cut its reports (each
    report says how many 10 ms frames it covers)."""
    pipe = twin.pipeline(PROFILES[DEFAULT]["mic"]["sensitivity_cdb"])
    out, f = [], 0
    for r in reports:
        ms = packet.decode(r).interval_ms
        for _ in range(ms // 10):
            pipe.process(audio[f * FRAME : (f + 1) * FRAME])
            f += 1
        codes = pipe.finish(ms, flags=packet.FLAG_EVENT if pipe.event() else 0)
        out.append(_fields(packet.encode_codes(bytes(16), 0, 0, bytes(codes)), bytes(16), 0))
    return out


def test_the_bands_reports_are_the_twins_on_the_same_clip(
    mosquitto: Mosquitto, listener: Listener, venue_key: bytes
) -> None:
    # the firmware, unchanged, in real MicroPython, hearing a clip of claps over
    # drum music from its first sample: every report it publishes verifies and
    # carries, field for field, what the twin computes on the same clip cut at
    # the same places (the twin is bit-identical to the firmware: docs/dsp.md)
    clip = clapset.clip(np.random.default_rng(3), dur=8.0, rate_hz=2.0)
    frames = len(clip.audio) // FRAME
    cfg = band_config(venue_key, "B0042", broker=("127.0.0.1", mosquitto.port))
    medium = Medium()
    with VirtualBand(cfg, clip.audio, loop=False, medium=medium, hold=True) as band:
        assert band.wait_for(r"boot ok band=B0042", 30) and band.wait_for("mqtt online", 30)
        _wait(
            lambda: band.led, "the band to listen"
        )  # capturing: the clip starts at its first sample
        band.play()

        def covered() -> int:
            return sum(packet.decode(r).interval_ms // 10 for _, r in listener.reports)

        # all but the last, unfinished interval (at most 275 ms) come back
        _wait(lambda: covered() > frames - 28, "the clip's reports", 180)
        reports = [r for _, r in listener.reports]
        _wait(
            lambda: reports[-1] in {packet.manufacturer_data(a) for _, _, a in medium.adverts},
            "the last report on the air",
            30,
        )
    medium.close()
    key = packet.band_key(venue_key, "B0042")
    assert all(packet.verify(r, key) for r in reports)
    seqs = [packet.decode(r).seq for r in reports]
    assert seqs == [(seqs[0] + i) & 0xFFFF for i in range(len(seqs))]  # none lost, none doubled
    assert [_fields(r, key) for r in reports] == _twin_replay(clip.audio, reports)
    assert sum(packet.decode(r).claps for r in reports) > 0
    epoch = packet.epoch_of(time.time())
    # the band's clock may run up to 7 minutes ahead (VirtualBand keeps it clear of an id switch)
    assert {packet.decode(r).onair for r in reports} <= {
        packet.onair_id(key, e) for e in (epoch - 1, epoch, epoch + 1)
    }
    adverts = [packet.manufacturer_data(a) for _, _, a in medium.adverts]
    assert set(adverts) <= set(reports)  # BLE carries the very bytes MQTT does


def test_retained_config_changes_the_report_rate(
    mosquitto: Mosquitto, listener: Listener, venue_key: bytes
) -> None:
    # each report says how much audio it covers: 250 ms +-10 % jitter, then 1 s +-10 %
    cfg = band_config(venue_key, "B0001", broker=("127.0.0.1", mosquitto.port), interval_ms=250)
    with VirtualBand(cfg, _music(10)) as band:
        assert band.wait_for("mqtt online", 30)
        _wait(lambda: len(listener.reports) >= 8, "reports at 250 ms")
        before = [packet.decode(r) for _, r in listener.reports]
        _publish(mosquitto, "config", {"interval_ms": 1000}, retain=True)
        assert band.wait_for("interval_ms 1000", 30)
        n = len(listener.reports)
        _wait(lambda: len(listener.reports) >= n + 5, "reports at 1 s")
        after = [packet.decode(r) for _, r in listener.reports[n + 1 :]]  # the first may straddle

    def steady(reps: list[packet.Report]) -> list[int]:
        return [r.interval_ms for r in reps if not r.flags & packet.FLAG_EVENT]

    assert steady(before) and all(220 <= ms <= 280 for ms in steady(before)), steady(before)
    assert steady(after) and all(900 <= ms <= 1100 for ms in steady(after)), steady(after)


def test_a_band_that_boots_later_gets_the_retained_rate(
    mosquitto: Mosquitto, listener: Listener, venue_key: bytes
) -> None:
    _publish(mosquitto, "config", {"interval_ms": 500}, retain=True)
    cfg = band_config(venue_key, "B0002", broker=("127.0.0.1", mosquitto.port), interval_ms=250)
    with VirtualBand(cfg, _music(6)) as band:
        assert band.wait_for("interval_ms 500", 30)


def test_mute_stops_reports_and_the_led(
    mosquitto: Mosquitto, listener: Listener, venue_key: bytes
) -> None:
    cfg = band_config(venue_key, "B0003", broker=("127.0.0.1", mosquitto.port))
    with VirtualBand(cfg, _music(10)) as band:
        assert band.wait_for("state listening", 30) and band.wait_for("mqtt online", 30)
        _wait(lambda: listener.count_since(0) > 0, "a report")
        assert band.led
        band.mute(True)
        assert band.wait_for("state muted", 15)
        time.sleep(0.5)
        t0 = time.monotonic()
        time.sleep(3.0)
        assert listener.count_since(t0, muted=False) == 0
        assert not band.led
        band.mute(False)
        assert band.wait_for("state listening", 30, start=len(band.lines) - 3) or band.led
        _wait(lambda: listener.count_since(t0 + 3.0, muted=False) >= 3, "reports after unmuting")


def test_button_press_toggles_mute(venue_key: bytes) -> None:
    with VirtualBand(band_config(venue_key, "B0004"), _music(4)) as band:
        assert band.wait_for("state listening", 30)
        band.press_button()
        assert band.wait_for("state muted", 15)


def test_event_over_stops_capture(
    mosquitto: Mosquitto, listener: Listener, venue_key: bytes
) -> None:
    cfg = band_config(venue_key, "B0005", broker=("127.0.0.1", mosquitto.port))
    with VirtualBand(cfg, _music(10)) as band:
        assert band.wait_for("mqtt online", 30)
        time.sleep(1.0)
        _publish(mosquitto, "cmd", {"cmd": "event_over"})
        assert band.wait_for("state over", 15)
        time.sleep(0.5)
        t0 = time.monotonic()
        time.sleep(2.5)
        assert listener.count_since(t0) == 0 and not band.led
        frames = band.status()[-1]["frames"] if band.status() else None
        time.sleep(2.5)
        assert band.status()[-1]["frames"] == frames  # nothing is being captured


class _DeadBroker:
    """Stands on a stopped broker's port: accepts each connection and hangs up,
    noting when; a band knocking on the door shows up as one entry per knock."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.knocks: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.knocks.append(time.monotonic())
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def test_broker_outage_reconnects_without_busy_looping(
    mosquitto: Mosquitto, venue_key: bytes
) -> None:
    # a band that spins would knock thousands of times; the firmware backs off
    # (0.5 s doubling to 4 s, jittered down to half): consecutive knocks are at
    # least 250 ms apart whatever the machine's speed (a slow one only widens
    # them).  No other client may be connected: it would knock too.
    cfg = band_config(venue_key, "B0006", broker=("127.0.0.1", mosquitto.port))
    with VirtualBand(cfg, _music(20)) as band:
        assert band.wait_for("mqtt online", 30)
        mosquitto.stop()
        assert band.wait_for("mqtt offline", 30)
        dead = _DeadBroker(mosquitto.port)
        try:
            _wait(lambda: len(dead.knocks) >= 5, "the band's reconnect attempts", 120)
            frames = int(band.status()[-1]["frames"])
            _wait(lambda: int(band.status()[-1]["frames"]) > frames, "the band to keep listening")
        finally:
            dead.close()
        gaps = [b - a for a, b in zip(dead.knocks, dead.knocks[1:], strict=False)]
        assert min(gaps) >= 0.2, gaps
        mosquitto.start()
        fresh = Listener()
        client = make_client(BrokerURL.parse(mosquitto.url))
        client.on_message = lambda c, u, m: fresh.reports.append(
            (time.monotonic(), bytes(m.payload))
        )
        client.connect("127.0.0.1", mosquitto.port)
        client.subscribe(topic("demo", "band", "+", "report"))
        client.loop_start()
        try:
            _wait(lambda: fresh.reports, "a report after the broker came back", 60)
        finally:
            client.loop_stop()


def test_malformed_config_gives_safe_mode_and_a_clear_message() -> None:
    band = VirtualBand("{ this is not json", _music(3)).start()
    try:
        assert band.wait_for("config error: config is not valid JSON", 30)
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
        for text in (
            "interval_ms must be 10-2550",
            "transport must be",
            "window must be",
            "unknown board 'toaster'",
            "key must be 32 hex",
        ):
            assert band.wait_for(text, 30), text
        assert band.wait_for("state safe")
    finally:
        band.stop()


def test_heap_stays_flat_and_frames_allocate_nothing(venue_key: bytes) -> None:
    # the band counts gc.mem_alloc() around every frame's audio path and every
    # report, in exact bytes: over 3000 frames the audio path allocates 0 bytes
    # and never triggers a collection; reports allocate, and nothing leaks
    medium = Medium()
    cfg = band_config(venue_key, "B0008", status_every_s=1)
    with VirtualBand(cfg, _music(10), speed=3.0, medium=medium) as band:

        def steady() -> list[dict[str, str]]:
            return [s for s in band.status()[3:] if s["state"] == "listening"]

        _wait(
            lambda: sum(int(s["alloc_frames"]) for s in steady()) >= 3000 and len(steady()) >= 5,
            "3000 measured frames",
            300,
        )
        status = steady()
    medium.close()
    heap = [int(s["heap_free"]) for s in status]
    assert max(heap) - min(heap) <= 1024, heap
    assert sum(int(s["alloc_frame_bytes"]) for s in status) == 0, status
    assert sum(int(s["alloc_frame_gc"]) for s in status) == 0, status
    assert sum(int(s["alloc_reports"]) for s in status) > 0
    assert sum(int(s["alloc_report_bytes"]) for s in status) > 0  # signing allocates (docs/dsp.md)


def test_several_bands_run_at_once_with_their_own_keys(
    mosquitto: Mosquitto, listener: Listener, venue_key: bytes
) -> None:
    ids = ["B0101", "B0102", "B0103"]
    keys = {b: packet.band_key(venue_key, b) for b in ids}

    def owners() -> set[str]:
        return {
            next((b for b, k in keys.items() if packet.verify(r, k)), "?")
            for _, r in list(listener.reports)
        }

    bands = [
        VirtualBand(
            band_config(venue_key, b, broker=("127.0.0.1", mosquitto.port)), _music(6, seed=i)
        ).start()
        for i, b in enumerate(ids)
    ]
    try:
        _wait(lambda: set(ids) <= owners(), "a report from every band", 120)
    finally:
        for b in bands:
            b.stop()
    assert owners() == set(ids)  # each under its own key, nothing else


def test_sim_band_command_runs_and_stops(venue_key: bytes, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    import sys
    from pathlib import Path

    exe = str(Path(sys.executable).parent / "crowdpulse")
    out = subprocess.run(
        [exe, "sim", "band", "--signal", "tone", "--seconds", "3"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "crowdpulse: state listening" in out.stdout
    assert "adverts on the air" in out.stderr
    _ = threading  # keep the import for fixtures that use threads
