"""The gateway's three threads: ingest relay batches, drain band reports, tick.

The Gateway (gateway/service.py) takes these loops in as a mixin and starts
each on its own thread.  Ingest decodes and checks relay batches (numba
releases the GIL); drain folds direct band reports in every 10 ms; the tick
scores at tick_hz, publishes and hands the snapshot on, and is woken early by
a reaction's onset (never more than 50 times a second).  Kept apart so the
service stays short; the state they share is set in Gateway.__init__.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import paho.mqtt.client as mqtt

from crowdpulse.gateway import delivery, homeassistant
from crowdpulse.gateway.engine import Engine
from crowdpulse.gateway.osc import OscOut
from crowdpulse.gateway.venue import VenueConfig
from wristband import packet

URGENT_GAP_S = 0.02  # onset ticks: at most 50 a second, whatever the crowd does


class Loops:
    """The ingest, drain and tick loops, for the Gateway; their state is set there."""

    cfg: VenueConfig
    engine: Engine
    client: mqtt.Client
    share_group: str | None
    worker: str
    stop_event: threading.Event
    listeners: list[Callable[[dict[str, Any]], None]]
    tick_ms: list[float]
    relays: dict[str, dict[str, Any]]
    relay_bands: delivery.RelayBands
    osc: OscOut | None
    _direct: list[tuple[bytes | bytearray, int]]
    _direct_lock: threading.Lock
    _batches: list[tuple[bytes | bytearray, int, bytes]]
    _batch_cv: threading.Condition
    _urgent: threading.Event
    _reacting: threading.Event
    _reaction_active: bool
    _tick_times: deque[tuple[float, float, float]]

    if TYPE_CHECKING:

        def t(self, *parts: str) -> str: ...
        def _publish(self, snap: dict[str, Any]) -> None: ...
        def _publish_reaction(self) -> None: ...
        def _rate_control(self, at_ms: int) -> None: ...
        def _each_second(self, snap: dict[str, Any]) -> None: ...

    def _ingest(self) -> None:
        while not self.stop_event.is_set():
            with self._batch_cv:
                while not self._batches and not self.stop_event.is_set():
                    self._batch_cv.wait(0.2)
                work, self._batches = self._batches, []
            for payload, at, relay in work:
                rec = self.engine.ingest_batch(payload, at)
                self.relay_bands.add(relay.decode(errors="replace")[:64], rec["band"], at)
                self._onset(rec)
                if self.share_group and len(rec):
                    self.client.publish(
                        self.t("gateway", "accepted", self.worker), rec.tobytes(), 0
                    )

    def _drain(self) -> None:
        while not self.stop_event.wait(0.01):
            with self._direct_lock:
                batch, self._direct = self._direct, []
            if batch:
                rec = self.engine.ingest_direct([b for b, _ in batch], [t for _, t in batch])
                self._onset(rec)
                if self.share_group and len(rec):
                    self.client.publish(
                        self.t("gateway", "accepted", self.worker), rec.tobytes(), 0
                    )

    def _onset(self, rec: npt.NDArray[np.void]) -> None:
        # bands flag the report that starts a reaction (a clap burst, a cheer
        # swell) and send it at once; waiting for the next tick would add up
        # to a whole tick period to the crowd-to-score latency
        flagged = len(rec) > 0 and bool((rec["flags"] & packet.FLAG_EVENT).any())
        if flagged and self.osc is not None:
            self.osc.reactions.add(rec[~self.engine.registry.is_reference[rec["band"]]])
        if self.engine.take_reaction():
            # the fast path (gateway/reaction.py): out on its own topic now, and a tick at once
            self._publish_reaction()
            self._reacting.set()
            self._urgent.set()
        elif flagged:
            self._urgent.set()

    def _wait_tick(self, due: float, last: float) -> None:
        """Until the next periodic tick, or sooner for an onset (never closer than URGENT_GAP_S)."""
        while not self.stop_event.is_set():
            left = due - time.monotonic()
            if left <= 0:
                return
            if self._urgent.wait(left):
                self._urgent.clear()
                if not self._reacting.wait(max(0.0, last + URGENT_GAP_S - time.monotonic())):
                    return
                self._reacting.clear()
                return

    def _ticks(self) -> None:
        period = 1.0 / self.cfg.tick_hz
        last_store = 0
        while not self.stop_event.is_set():
            start, cpu = time.perf_counter(), time.thread_time()
            snap = self.engine.tick()
            snap["relays"] = delivery.relay_rows(self.relays, self.relay_bands.counts(snap["t"]))
            took = 1000 * (time.perf_counter() - start)
            self.tick_ms = (self.tick_ms + [took])[-1000:]
            # the tick's own CPU time beside its wall time: on a shared machine
            # the wall time also counts the time the thread waited for a core
            self._tick_times.append((time.monotonic(), took, 1000 * (time.thread_time() - cpu)))
            while self._tick_times and self._tick_times[0][0] < time.monotonic() - 60.0:
                self._tick_times.popleft()
            self._publish(snap)
            if snap["reaction"]["active"] != self._reaction_active:  # a reaction ended (or began)
                self._reaction_active = snap["reaction"]["active"]
                self._publish_reaction()
            self._rate_control(snap["t"])
            if snap["t"] - last_store >= homeassistant.MIN_INTERVAL_MS:
                last_store = snap["t"]
                self._each_second(snap)
            for fn in list(self.listeners):
                fn(snap)
            last = time.monotonic()
            self._wait_tick(last + period - (time.perf_counter() - start), last)
