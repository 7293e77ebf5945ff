"""`crowdpulse bench latency`: from a crowd's reaction to the venue's score, end to end.

A real Mosquitto, a real `crowdpulse gateway` process, and N bands behind
relays.  Every band reports every 250 ms what it hears (fast-mode codes of a
crowd listening to music).  At scripted instants the whole crowd cheers and
claps (a drop).  Each band then does what the firmware does: it notices in
the 10 ms frame after the onset, and sends an event report at once, unless
its last report is under 50 ms old (schedule.MIN_EVENT_MS); its relay passes
it on at once (an onset does not wait for relay/core.py's 50 ms cadence),
in a batch over MQTT.

Latency is measured from the onset to the arrival, at a subscriber on the
same broker, of the first venue sentiment that reflects the reaction: a score
above the pre-onset level by more than the pre-onset jitter (and by at least
one point).  The time to half of the eventual rise (t50) is reported too: the
score is a 4-second window, so it climbs for seconds by design.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import paho.mqtt.client as mqtt

from crowdpulse.bench.ingest import Fleet, _gateway, _venue
from crowdpulse.broker import Mosquitto
from crowdpulse.gateway.registry import Registry
from crowdpulse.mqtt import BrokerURL, make_client, topic
from crowdpulse.relay.core import EVENT_GAP_S
from crowdpulse.sim.crowd import Actions
from crowdpulse.sim.emit import Emitter
from crowdpulse.sim.runner import relay_batch, sign
from wristband import packet as P
from wristband.schedule import FRAME_MS, MIN_EVENT_MS

VENUE = "latency"
REPORT_S = 0.25
FLUSH_S = 0.05
BANDS_PER_RELAY = 500
QUIET_S, REACT_S = 6.0, 2.5  # quiet: the 4 s window clears, then 2 s of steady score


class Crowd:
    """Report codes for every band: listening, or in the middle of a reaction."""

    def __init__(self, n: int, rng: np.random.Generator) -> None:
        self.n, self.rng = n, rng
        self.emit = Emitter(np.arange(n), rng.normal(92.0, 3.0, n), rng)
        self.zone = np.zeros(n, np.int32)

    def codes(self, idx: npt.NDArray[np.int64], reacting: bool, event: bool) -> npt.NDArray[np.uint8]:
        k = len(idx)
        act = Actions(np.full(self.n, reacting), np.full(self.n, reacting), np.zeros(self.n, bool),
                      np.zeros(self.n))
        share = np.array([1.0 if reacting else 0.0])
        return self.emit.codes(idx, act, share * 0.7, share, self.zone, np.full(k, REPORT_S), 126.0, True,
                               np.full(k, event))


def _sign(fleet: Fleet, idx: npt.NDArray[np.int64], codes: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    epoch = P.epoch_of(int(time.time()))
    if epoch != fleet.epoch:
        fleet.epoch, fleet.ids = epoch, fleet.reg.ids_for_epoch(epoch)
    return sign(fleet.reg, fleet.ids, fleet.seq, idx, codes, epoch)


class Scores:
    """The gateway's venue sentiment as it arrives: (arrival s, score)."""

    def __init__(self, url: BrokerURL) -> None:
        self.rows: list[tuple[float, float]] = []
        self.lock = threading.Lock()
        self.client = make_client(url, "bench-latency-listener")
        self.client.on_message = self._on
        self.client.connect(url.host, url.port)
        self.client.subscribe(topic(VENUE, "sentiment"), 0)
        self.client.loop_start()

    def _on(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        at = time.time()
        try:
            score = json.loads(msg.payload).get("score")
        except (ValueError, AttributeError):
            return
        if isinstance(score, int | float):
            with self.lock:
                self.rows.append((at, float(score)))

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class Venue:
    """Bands and relays on the wall clock, publishing what the relays would."""

    def __init__(self, n: int, fleet: Fleet, pub: mqtt.Client, rng: np.random.Generator) -> None:
        self.n, self.fleet, self.pub, self.rng = n, fleet, pub, rng
        self.crowd = Crowd(n, rng)
        self.relay = np.arange(n) // BANDS_PER_RELAY
        self.relays = int(self.relay.max()) + 1
        self.next_report = time.time() + rng.uniform(0, REPORT_S, n)
        self.flush_phase = rng.uniform(0, FLUSH_S, self.relays)
        self.pending: list[list[npt.NDArray[np.uint8]]] = [[] for _ in range(self.relays)]
        self.last_slot = np.full(self.relays, -1.0)
        self.onset_waiting = np.zeros(self.relays, bool)
        self.flushed_at = np.zeros(self.relays)
        self.event_at = np.full(n, np.inf)
        self.reacting = False

    def onset(self, t0: float) -> None:
        """Every band's event report: the frame's end, one more frame, and MIN_EVENT_MS."""
        last = self.next_report - REPORT_S
        frame_end = t0 + self.rng.uniform(0, FRAME_MS / 1000, self.n) + FRAME_MS / 1000
        at = np.maximum(frame_end, last + MIN_EVENT_MS / 1000)
        self.reacting = True
        self.event_at = at

    def step(self, now: float) -> None:
        due = np.flatnonzero(self.next_report <= now)
        event = np.zeros(0, np.int64)
        if self.reacting:
            event = np.flatnonzero(self.event_at <= now)
            self.event_at[event] = np.inf
        for idx, ev in ((np.setdiff1d(due, event), False), (event, True)):
            if len(idx):
                self.next_report[idx] = now + REPORT_S
                reps = _sign(self.fleet, idx, self.crowd.codes(idx, self.reacting, ev))
                for r in np.unique(self.relay[idx]):
                    self.pending[r].append(reps[self.relay[idx] == r])
                    self.onset_waiting[r] |= ev
        self._flush(now)

    def _flush(self, now: float) -> None:
        """At each relay's 50 ms cadence, or at once for an onset (relay/core.py)."""
        slot = np.floor((now - self.flush_phase) / FLUSH_S)
        early = self.onset_waiting & (now - self.flushed_at >= EVENT_GAP_S)
        for r in np.flatnonzero((slot != self.last_slot) | early):
            self.last_slot[r] = slot[r]
            if self.pending[r]:
                self.onset_waiting[r] = False
                self.flushed_at[r] = now
                reps = np.concatenate(self.pending[r])
                self.pending[r] = []
                self.pub.publish(topic(VENUE, "relay", f"r{r}", "batch"), relay_batch(reps, np.full(len(reps), -60.0), np.full(len(reps), int(now * 1000))))

    def calm(self) -> None:
        self.reacting = False
        self.event_at[:] = np.inf


def _drive(venue: Venue, onsets: int) -> list[float]:
    times: list[float] = []
    start = time.time()
    plan = [start + 8.0 + i * (QUIET_S + REACT_S) for i in range(onsets)]  # 8 s: windows fill first
    end = plan[-1] + REACT_S + 1.0
    while (now := time.time()) < end:
        if plan and now >= plan[0]:
            times.append(plan.pop(0))
            venue.onset(times[-1])
        elif times and venue.reacting and now >= times[-1] + REACT_S:
            venue.calm()
        venue.step(now)
        time.sleep(0.002)
    return times


def _measure(rows: list[tuple[float, float]], onsets: list[float]) -> dict[str, list[float]]:
    """Per onset: the first score beyond the last second's jitter (the update that
    carries the reaction), the first one point up, and half the eventual rise."""
    at = np.array([r[0] for r in rows])
    score = np.array([r[1] for r in rows])
    out: dict[str, list[float]] = {"first": [], "one_point": [], "half": []}
    for t0 in onsets:
        pre = score[(at >= t0 - 1.0) & (at < t0)]
        post = np.flatnonzero((at >= t0) & (at < t0 + REACT_S))
        if len(pre) < 3 or len(post) == 0:
            continue
        level = float(np.median(pre))
        jitter = float(np.max(np.abs(pre - level)))
        peak = float(score[post].max())
        for name, above in (("first", jitter + 0.05), ("one_point", max(1.0, jitter + 0.05)),
                            ("half", max(jitter + 0.05, (peak - level) / 2))):
            up = post[score[post] > level + above]
            if len(up):
                out[name].append(1000 * float(at[up[0]] - t0))
    return out


def _pct(xs: list[float], q: float) -> float | None:
    return round(float(np.percentile(xs, q)), 1) if xs else None


def run(devices: int = 10_000, onsets: int = 30) -> dict[str, Any]:
    rng = np.random.default_rng(5)
    key = bytes(rng.integers(0, 256, 32, dtype=np.uint8))
    with Mosquitto() as broker, tempfile.TemporaryDirectory() as d:
        cfg = _venue(Path(d), key, devices, VENUE)
        proc, _port = _gateway(broker, cfg)
        url = BrokerURL.parse(broker.url)
        scores = Scores(url)
        pub = make_client(url, "bench-latency-relays")
        pub.max_queued_messages_set(0)
        pub.connect(url.host, url.port)
        pub.loop_start()
        try:
            reg = Registry(key, [(f"B{i + 1:05d}", "floor") for i in range(devices)], ["floor"])
            venue = Venue(devices, Fleet(reg), pub, rng)
            times = _drive(venue, onsets)
            time.sleep(0.5)
        finally:
            pub.loop_stop()
            scores.close()
            proc.terminate()
            proc.wait(10)
    m = _measure(scores.rows, times)
    if not m["first"]:
        raise RuntimeError("the venue score never moved after an onset")
    return {"devices": devices, "onsets": len(times), "detected": len(m["first"]),
            "p50_ms": _pct(m["first"], 50), "p99_ms": _pct(m["first"], 99), "max_ms": round(max(m["first"]), 1),
            "one_point_p50_ms": _pct(m["one_point"], 50), "one_point_p99_ms": _pct(m["one_point"], 99),
            "t50_p50_ms": _pct(m["half"], 50)}
