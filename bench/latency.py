"""`crowdpulse bench latency`: from a crowd's reaction to the venue's score, end
to end, through the radio medium.

A real Mosquitto, a real `crowdpulse gateway` process, and N bands: most on
BLE, on a floor among relays, through sim/world/radio.py's medium at the
advertising interval the gateway's rate control sets for that density
(bench/airvenue.py has the model and the firmware's timing); the rest
(5 %, 100 to 1,000) on WiFi, publishing every report straight to the broker.
The two kinds stand in two zones of the venue ("floor" and "wifi") so that
each has its own published score.  Every band reports every 250 ms what it
hears (fast-mode codes of a crowd listening to music).  At scripted instants
the whole crowd claps and cheers.

Latency is measured from the onset to the arrival, at a subscriber on the
same broker, of the first zone sentiment that reflects the reaction: a score
above the pre-onset level by more than the pre-onset jitter (and by at least
one point for the `one_point` figures).  `p50_ms`/`p99_ms` are for the BLE
zone, `wifi_*` for the WiFi zone, `reaction_*` for the BLE zone's first
message on the retained reaction topic.  Onsets are spaced by the
advertising interval plus 5.5 s: after a reaction each band's flagged report
holds its advert slot for up to one interval, and the gateway's detector
needs a few clean seconds of background before the next.

`model_*` is the same venue on simulated time, onset to the gateway's
detector with no broker and no scheduler (bench/airmodel.py): what the radio,
the firmware and the detector allow on any machine.  The false reaction
rate comes from bench/falsereact.py (the `normal`
scenario without scripted onsets, offline, at up to 10,000 bands).
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt

from crowdpulse.bench import airmodel, falsereact
from crowdpulse.bench.airvenue import WARM_S, Air, Bands, Wifi
from crowdpulse.bench.ingest import Fleet
from crowdpulse.broker import Mosquitto, free_port
from crowdpulse.gateway.registry import Registry
from crowdpulse.gateway.venuefile import VenueFile, Zone
from crowdpulse.mqtt import BrokerURL, make_client, topic
from crowdpulse.supervisor import GatewayPart

VENUE = "latency"
REACT_S = 2.5
WARM_MIN_S, WARM_MAX_S = WARM_S, 240.0  # as bench/airmodel.py warms, then until settled
STEADY_S = 20.0  # four of the gateway's rate-control checks (every 5 s) without a change


def _venue(tmp: Path, key: bytes, ble: int, devices: int) -> VenueFile:
    """A venue of BLE bands on the floor and WiFi bands in their own zone."""
    (tmp / "venue.key").write_text(key.hex())
    floor, wifi = [f"B00001-B{ble:05d}"], [f"B{ble + 1:05d}-B{devices:05d}"]
    zones = [Zone("floor", floor), Zone("wifi", wifi)]
    spec = VenueFile(VENUE, "venue.key", zones, http_port=free_port(), token="x", db_path="gw.db")
    (tmp / "venue.toml").write_text(spec.text())
    return spec


class Listener:
    """Zone sentiment, reactions and the band config, as they arrive: (s, topic, payload)."""

    def __init__(self, url: BrokerURL) -> None:
        self.rows: list[tuple[float, str, dict[str, Any]]] = []
        self.adv_ms: list[int] = []
        self.lock = threading.Lock()
        self.client = make_client(url, "bench-latency-listener")
        self.client.on_message = self._on
        self.client.connect(url.host, url.port)
        self.client.subscribe(
            [
                (topic(VENUE, "sentiment", "+"), 0),
                (topic(VENUE, "reaction"), 0),
                (topic(VENUE, "config"), 0),
            ]
        )
        self.client.loop_start()

    def _on(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        at = time.time()
        try:
            data = json.loads(msg.payload)
        except ValueError:
            return
        if not isinstance(data, dict):
            return
        with self.lock:
            if msg.topic.endswith("/config"):
                if isinstance(data.get("adv_interval_ms"), int):
                    self.adv_ms.append(data["adv_interval_ms"])
            else:
                self.rows.append((at, msg.topic.rsplit("/", 1)[-1], data))

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class Driver:
    """The venue on the wall clock: reports, the air, relays, WiFi; onsets on cue."""

    def __init__(
        self, devices: int, wifi: int, fleet: Fleet, pub: mqtt.Client, rng: np.random.Generator
    ) -> None:
        now = time.time()
        ble = devices - wifi
        self.ble = Bands(0, ble, fleet, rng, now)
        self.wifi = Bands(ble, wifi, fleet, rng, now)
        self.air = Air(self.ble, pub, VENUE, rng, now)
        self.wifi_out = Wifi(self.wifi, [f"B{i + 1:05d}" for i in range(ble, devices)], pub, VENUE)
        self.applied = 0

    def step(self, now: float, adv_ms: list[int]) -> None:
        if len(adv_ms) > self.applied:
            self.applied = len(adv_ms)
            self.air.set_interval(adv_ms[-1], now)
        self.air.reports(*self.ble.due(now))
        self.wifi_out.reports(*self.wifi.due(now))
        self.air.step(now)

    def warm(self) -> None:
        """Compile the signing and the codes now, not on the first step, and switch
        the bands on from now."""
        one = np.zeros(1, np.int64)
        self.ble.codes.codes(one, False, np.zeros(1, bool), np.full(1, 0.25))
        self.ble.sign(one, np.zeros(1, bool), np.full(1, 0.25), np.zeros(1, np.int64))
        now = time.time()
        for bands in (self.ble, self.wifi):
            bands.switch_on(now)  # from now, not from when the bands were built

    def onset(self, t0: float) -> None:
        self.ble.onset(t0)
        self.wifi.onset(t0)

    def calm(self) -> None:
        self.ble.calm()
        self.wifi.calm()


def _run_until(driver: Driver, listener: Listener, end: float, cue: Any = None) -> None:
    while (now := time.time()) < end:
        if cue is not None:
            cue(now)
        driver.step(now, listener.adv_ms)
        time.sleep(0.001)


def _warm(driver: Driver, listener: Listener) -> float:
    """Until the rate control has settled (no new interval for STEADY_S: the
    gateway publishes one only when it changes), after every band is on and
    the score windows have filled; returns the interval (s)."""
    start = changed = time.time()
    seen = 0
    while True:
        _run_until(driver, listener, time.time() + 1.0)
        now = time.time()
        if len(listener.adv_ms) != seen:
            seen, changed = len(listener.adv_ms), now
        settled = seen > 0 and now - changed >= STEADY_S
        if (now - start >= WARM_MIN_S and settled) or now - start >= WARM_MAX_S:
            return driver.air.adv_s


def _drive(driver: Driver, listener: Listener, onsets: int) -> list[float]:
    quiet = max(6.0, driver.air.adv_s + 5.5)
    times: list[float] = []
    for _ in range(onsets):
        _run_until(driver, listener, time.time() + quiet)
        t0 = time.time()
        times.append(t0)
        driver.onset(t0)
        _run_until(driver, listener, t0 + REACT_S)
        driver.calm()
    _run_until(driver, listener, time.time() + 1.0)
    return times


def _first(rows: list[tuple[float, dict[str, Any]]], onsets: list[float]) -> dict[str, list[float]]:
    """Per onset: the first score beyond the last second's jitter, the first one
    point up, and half the eventual rise (ms after the onset)."""
    at = np.array([r[0] for r in rows])
    score = np.array([np.nan if r[1].get("score") is None else float(r[1]["score"]) for r in rows])
    out: dict[str, list[float]] = {"first": [], "one_point": [], "half": []}
    for t0 in onsets:
        pre = score[(at >= t0 - 1.0) & (at < t0) & np.isfinite(score)]
        post = np.flatnonzero((at >= t0) & (at < t0 + REACT_S) & np.isfinite(score))
        if len(pre) < 3 or len(post) == 0:
            continue
        level = float(np.median(pre))
        jitter = float(np.max(np.abs(pre - level)))
        peak = float(score[post].max())
        for name, above in (
            ("first", jitter + 0.05),
            ("one_point", max(1.0, jitter + 0.05)),
            ("half", max(jitter + 0.05, (peak - level) / 2)),
        ):
            up = post[score[post] > level + above]
            if len(up):
                out[name].append(1000 * float(at[up[0]] - t0))
    return out


def _reactions(
    rows: list[tuple[float, dict[str, Any]]], zone: str, onsets: list[float]
) -> list[float]:
    out = []
    for t0 in onsets:
        for at, data in rows:
            if t0 <= at < t0 + REACT_S and any(
                z.get("zone") == zone and z.get("active") for z in data.get("zones", [])
            ):
                out.append(1000 * (at - t0))
                break
    return out


def _counters(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    rejected: dict[str, float] = {}
    accepted = 0.0
    for line in text.splitlines():
        if line.startswith("crowdpulse_reports_accepted_total "):
            accepted = float(line.split()[-1])
        elif line.startswith("crowdpulse_reports_rejected_total{"):
            rejected[line.split('"')[1]] = float(line.split()[-1])
    return {"accepted": int(accepted), "rejected": {k: int(v) for k, v in rejected.items() if v}}


def _pct(xs: list[float], q: float) -> float | None:
    return round(float(np.percentile(xs, q)), 1) if xs else None


def run(
    devices: int = 10_000, onsets: int = 30, false_minutes: float | None = None
) -> dict[str, Any]:
    rng = np.random.default_rng(5)
    key = bytes(rng.integers(0, 256, 32, dtype=np.uint8))
    wifi = max(100, min(1000, devices // 20))
    with Mosquitto() as broker, tempfile.TemporaryDirectory() as d:
        spec = _venue(Path(d), key, devices - wifi, devices)
        gw = GatewayPart(broker.url, Path(d) / "venue.toml", spec.http_port, Path(d) / "gw.log")
        gw.wait_up()
        port = gw.port
        url = BrokerURL.parse(broker.url)
        listener = Listener(url)
        pub = make_client(url, "bench-latency-venue")
        pub.max_queued_messages_set(0)
        pub.connect(url.host, url.port)
        pub.loop_start()
        try:
            ids = [
                (f"B{i + 1:05d}", "floor" if i < devices - wifi else "wifi") for i in range(devices)
            ]
            driver = Driver(devices, wifi, Fleet(Registry(key, ids, ["floor", "wifi"])), pub, rng)
            driver.warm()
            adv_s = _warm(driver, listener)
            print(f"  rate control settled at {adv_s * 1000:.0f} ms", flush=True)
            times = _drive(driver, listener, onsets)
            time.sleep(0.5)
            counters = _counters(port)
        finally:
            pub.loop_stop()
            listener.close()
            gw.stop(grace=30.0)
    by = {z: [(a, p) for a, t, p in listener.rows if t == z] for z in ("floor", "wifi", "reaction")}
    ble, wf = _first(by["floor"], times), _first(by["wifi"], times)
    react = _reactions(by["reaction"], "floor", times)
    if not ble["first"]:
        raise RuntimeError("the BLE zone's score never moved after an onset")
    result = {
        "devices": devices,
        "ble_bands": devices - wifi,
        "wifi_bands": wifi,
        "onsets": len(times),
        "adv_interval_ms": round(adv_s * 1000),
        "relays": driver.air.nrelay,
        "radio_delivered": round(driver.air.heard / max(driver.air.sent, 1), 3),
        "detected": len(ble["first"]),
        "p50_ms": _pct(ble["first"], 50),
        "p99_ms": _pct(ble["first"], 99),
        "max_ms": round(max(ble["first"]), 1),
        "wifi_detected": len(wf["first"]),
        "wifi_p50_ms": _pct(wf["first"], 50),
        "wifi_p99_ms": _pct(wf["first"], 99),
        "reaction_p50_ms": _pct(react, 50),
        "reaction_p99_ms": _pct(react, 99),
        "one_point_p50_ms": _pct(ble["one_point"], 50),
        "one_point_p99_ms": _pct(ble["one_point"], 99),
        "t50_p50_ms": _pct(ble["half"], 50),
        **counters,
    }
    print(f"  {json.dumps(result)}", flush=True)
    result.update(airmodel.run(devices, min(onsets, 10)))
    print(f"  {json.dumps(result)}", flush=True)
    result.update(falsereact.run(min(devices, 10_000), false_minutes))
    return result
