"""The latency bench's venue on simulated time: what the radio, the firmware's
timing and the gateway's detector allow, with no broker and no scheduler.

The same bands, air and relays as bench/airvenue.py, driven by a simulated
clock (1 ms steps around each onset, 20 ms otherwise), feed a gateway Engine in
this process: relay batches at the moment each relay flushes, WiFi reports at
the gateway's next 10 ms drain (gateway/loops.py).  The figure is the time from
the onset to the gateway's reaction detector firing for the zone (BLE: the
`floor`, WiFi: the `wifi` zone).  Left out, and measured by the live bench:
MQTT hops, the tick that publishes it, the subscriber, and the machine's own
scheduling.  On a shared, loaded machine those can dominate; this part
cannot.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from crowdpulse.bench.airvenue import WARM_S, Air, Bands, Wifi
from crowdpulse.bench.ingest import Fleet
from crowdpulse.gateway.engine import Engine
from crowdpulse.gateway.registry import Registry
from crowdpulse.gateway.sentiment import Model

T0 = 1.8e9
RATE_S = 5.0
DRAIN_S = 0.01
REACT_S = 1.0


class _Gateway:
    """An Engine with the service's intake: batches at once, direct reports per drain."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.now = T0
        self.direct: list[bytes] = []

    def publish(self, name: str, payload: bytes) -> None:
        if name.endswith("/batch"):
            self.engine.ingest_batch(payload, at_ms=int(self.now * 1000))
        else:
            self.direct.append(payload)

    def drain(self) -> None:
        if self.direct:
            t = int(self.now * 1000)
            self.engine.ingest_direct(self.direct, [t] * len(self.direct), at_ms=t)
            self.direct = []


class _Venue:
    """The bands, air, WiFi and gateway stepped together on the simulated clock."""

    def __init__(
        self,
        engine: Engine,
        gw: _Gateway,
        air: Air,
        wifi_out: Wifi,
        ble_bands: Bands,
        wifi_bands: Bands,
    ) -> None:
        self.engine = engine
        self.gw = gw
        self.air = air
        self.wifi_out = wifi_out
        self.ble_bands = ble_bands
        self.wifi_bands = wifi_bands
        self.now = T0
        self.next_rate = T0
        self.next_drain = T0

    def step(self, dt: float) -> None:
        self.now += dt
        now = self.now
        self.gw.now = now
        if now >= self.next_rate:
            self.air.set_interval(self.engine.adv_interval_ms(int(now * 1000)), now)
            self.next_rate = now + RATE_S
        self.air.reports(*self.ble_bands.due(now))
        self.wifi_out.reports(*self.wifi_bands.due(now))
        self.air.step(now)
        if now >= self.next_drain:
            self.gw.drain()
            self.next_drain = now + DRAIN_S
        with self.engine.lock:  # as the gateway's ticks do
            self.engine.reactions.expire(int(now * 1000))

    def run_until(self, end: float, dt: float) -> None:
        while self.now < end:
            self.step(dt)

    def detect(self, t0: float) -> dict[str, float]:
        """ms from the onset at t0 to each zone's reaction firing, within REACT_S."""
        seen: dict[str, float] = {}
        while self.now < t0 + REACT_S:
            self.step(0.001)
            state = self.engine.reaction_state(int(self.now * 1000))
            for z in state["zones"]:
                if z["active"] and z["zone"] not in seen:
                    seen[z["zone"]] = 1000 * (self.now - t0)
        return seen


def _pct(xs: list[float], q: float) -> float | None:
    return round(float(np.percentile(xs, q)), 1) if xs else None


def run(devices: int, onsets: int, seed: int = 5) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    key = bytes(rng.integers(0, 256, 32, dtype=np.uint8))
    wifi = max(100, min(1000, devices // 20))
    ble = devices - wifi
    ids = [(f"B{i + 1:05d}", "floor" if i < ble else "wifi") for i in range(devices)]
    engine = Engine("model", Registry(key, ids, ["floor", "wifi"]), Model())
    gw = _Gateway(engine)
    fleet = Fleet(Registry(key, ids, ["floor", "wifi"]))
    ble_bands, wifi_bands = Bands(0, ble, fleet, rng, T0), Bands(ble, wifi, fleet, rng, T0)
    ble_bands.clock = wifi_bands.clock = lambda: gw.now
    air = Air(ble_bands, gw, "model", rng, T0)  # type: ignore[arg-type]
    wifi_out = Wifi(wifi_bands, [b for b, _ in ids[ble:]], gw, "model")  # type: ignore[arg-type]
    venue = _Venue(engine, gw, air, wifi_out, ble_bands, wifi_bands)

    venue.run_until(T0 + WARM_S, 0.02)  # the rate control settles
    found: dict[str, list[float]] = {"floor": [], "wifi": []}
    for _ in range(onsets):
        # as the live bench spaces its onsets
        venue.run_until(venue.now + max(6.0, air.adv_s + 5.5), 0.02)
        t0 = venue.now
        ble_bands.onset(t0)
        wifi_bands.onset(t0)
        for zone, ms in venue.detect(t0).items():
            found[zone].append(ms)
        ble_bands.calm()
        wifi_bands.calm()

    return {
        "model_detected": len(found["floor"]),
        "model_p50_ms": _pct(found["floor"], 50),
        "model_p99_ms": _pct(found["floor"], 99),
        "model_wifi_p50_ms": _pct(found["wifi"], 50),
        "model_wifi_p99_ms": _pct(found["wifi"], 99),
        "model_adv_interval_ms": round(air.adv_s * 1000),
    }
