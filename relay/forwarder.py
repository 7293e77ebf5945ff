"""The relay: hear band adverts, drop repeats, batch them to MQTT, keep the scanner alive.

What to forward and when is relay/forwarding.py's, shared with the faithful
simulator; this module runs it on a real scanner.  Everything BLE runs on one
asyncio loop: bleak calls `on_advert` on it, and the flush task that turns
pending records into batches runs on it too, so the hot path needs no locks.
MQTT lives on paho's own thread (see `uplink.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable

from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData

from crowdpulse.mqtt import BrokerURL
from crowdpulse.relay.forwarding import Forwarder, Stats, Timing
from crowdpulse.relay.scanner import (
    Scanner,
    ScannerFactory,
    bleak_factory,
    describe,
    is_fatal_at_start,
)
from crowdpulse.relay.uplink import Log, Uplink


class RelayStartError(Exception):
    """Scanning could not start at all (no BlueZ, no such adapter): a person must act."""


class Backoff:
    """Doubling delays with jitter in [d/2, d], so relays restarted together spread out."""

    def __init__(
        self, min_s: float, max_s: float, rand: Callable[[], float] = random.random
    ) -> None:
        self.min_s, self.max_s, self._rand = min_s, max_s, rand
        self.failures = 0

    def next_delay(self) -> float:
        delay = min(self.max_s, self.min_s * (1 << min(self.failures, 30)))
        self.failures += 1
        return delay * (0.5 + 0.5 * self._rand())

    def reset(self) -> None:
        self.failures = 0


def _rssi(adv: AdvertisementData) -> int:
    try:
        return int(adv.rssi)
    except (TypeError, ValueError):
        return 127  # the HCI value for "RSSI not available"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class Relay:
    """One relay: `await Relay(...).run()` until `request_stop()`.

    `scanner` makes a scanner for a detection callback; by default bleak's
    `BleakScanner` on `adapter`.  The relay builds a new one for every restart.
    """

    def __init__(
        self,
        broker: BrokerURL,
        venue: str,
        relay_id: str,
        *,
        scanner: ScannerFactory | None = None,
        adapter: str | None = None,
        timing: Timing | None = None,
        log: Log = print,
        uplink: Uplink | None = None,
    ) -> None:
        self.timing = timing or Timing()
        self.adapter = adapter
        self._log = log
        self._make_scanner = scanner or bleak_factory(adapter)
        self.uplink = uplink or Uplink(broker, venue, relay_id, log, adapter=adapter)
        self.forwarding = Forwarder(self.timing)
        self._backoff = Backoff(self.timing.backoff_min_s, self.timing.backoff_max_s)
        self._last_advert = time.monotonic()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._early: asyncio.TimerHandle | None = None
        self._stop = asyncio.Event()  # binds to the loop that first waits on it (3.10+)

    @property
    def stats(self) -> Stats:
        return self.forwarding.stats

    def on_advert(self, device: BLEDevice, adv: AdvertisementData) -> None:
        """bleak's detection callback: must never raise, whatever is on the air."""
        self._last_advert = time.monotonic()
        if self.forwarding.hear(adv.manufacturer_data, _rssi(adv), _now_ms()):
            self._flush_soon()

    def _flush_soon(self) -> None:
        # a reaction's onset does not wait for the next 50 ms flush; a burst of
        # onsets makes one batch (relay/forwarding.py says when it may go)
        if self._loop is None or self._early is not None:
            return
        wait = max(0.0, self.forwarding.early_at() - self._loop.time())
        self._early = self._loop.call_later(wait, self._flush_early)

    def _flush_early(self) -> None:
        self._early = None
        self.flush()

    def flush(self) -> None:
        for batch in self.forwarding.take():
            if self.uplink.send(batch):
                self.stats.batches += 1
            else:
                self.stats.batches_dropped += 1

    def request_stop(self) -> None:
        """Stop from any thread or a signal handler; `run()` then shuts down cleanly."""
        if self._loop is None:
            self._stop.set()  # not running yet: nobody waits on it
        else:
            self._loop.call_soon_threadsafe(self._stop.set)

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        tasks: list[asyncio.Task[None]] = []

        def begin() -> None:  # after a first start that did not prove scanning impossible
            u = self.uplink
            self._log(f"relaying to {u.batch_topic} on {u.broker}; status on {u.status_topic}")
            u.start()
            tasks.append(asyncio.create_task(self._every(self.timing.flush_s, self.flush)))
            tasks.append(asyncio.create_task(self._every(self.timing.status_every_s, self._status)))

        try:
            await self._supervise(begin)
        finally:
            if tasks:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                if self._early is not None:
                    self._early.cancel()
                self.flush()
                self.uplink.close()
                self._log(f"relay stopped; {self.stats.line()}")

    async def _every(self, period_s: float, action: Callable[[], None]) -> None:
        # Deadline-based so the cadence does not drift by the time the action takes.
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        while True:
            deadline = max(deadline + period_s, loop.time())
            await asyncio.sleep(deadline - loop.time())
            action()

    def _status(self) -> None:
        mqtt_state = "MQTT up" if self.uplink.connected else "MQTT down"
        self._log(f"{self.stats.line()}; {mqtt_state}")

    async def _supervise(self, begin: Callable[[], None]) -> None:
        first = True
        while not self._stop.is_set():
            scanner = self._make_scanner(self.on_advert)
            try:
                why = await self._session(scanner, begin if first else None)
            finally:
                await self._quietly_stop(scanner)
            first = False
            if why is None:
                return
            await self._restart_later(why)

    async def _session(self, scanner: Scanner, begin: Callable[[], None] | None) -> str | None:
        """One scanner's life: None after a stop request, else why it must be replaced."""
        try:
            await asyncio.wait_for(scanner.start(), self.timing.start_timeout_s)
        except Exception as exc:
            if begin is not None and is_fatal_at_start(exc):
                raise RelayStartError(describe(exc)) from None
            if begin is not None:
                begin()
            return f"scanner failed: {describe(exc)}"
        if begin is not None:
            begin()
        self._log(f"scanning{f' on {self.adapter}' if self.adapter else ''}")
        heard_before = self.stats.heard
        if not await self._watch():
            return None
        if self.stats.heard > heard_before:
            self._backoff.reset()  # it worked for a while: this is a fresh failure
        return f"no advert for {self.timing.silence_s:g} s; BlueZ may have stopped scanning"

    async def _watch(self) -> bool:
        """Wait for a stop request (False) or for silence on the air (True)."""
        self._last_advert = time.monotonic()
        while True:
            left = self._last_advert + self.timing.silence_s - time.monotonic()
            if left <= 0:
                return True
            try:
                await asyncio.wait_for(self._stop.wait(), left)
                return False
            except TimeoutError:
                continue

    async def _restart_later(self, why: str) -> None:
        delay = self._backoff.next_delay()
        self.stats.restarts += 1
        self._log(f"{why}; restarting the scanner in {delay:.1f} s")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), delay)

    async def _quietly_stop(self, scanner: Scanner) -> None:
        # A scanner that failed or went deaf often fails to stop too; that is
        # expected, and the next one is a fresh object anyway.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(scanner.stop(), self.timing.start_timeout_s)
