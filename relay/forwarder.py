"""The relay: hear band adverts, drop repeats, batch them to MQTT, keep the scanner alive.

Everything BLE runs on one asyncio loop: bleak calls `on_advert` on it, and the
flush task that turns pending records into batches runs on it too, so the hot
path needs no locks.  MQTT lives on paho's own thread (see `uplink.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass

from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData

from crowdpulse.mqtt import BrokerURL
from crowdpulse.relay.scanner import (
    Scanner,
    ScannerFactory,
    bleak_factory,
    describe,
    is_fatal_at_start,
)
from crowdpulse.relay.uplink import Log, Record, Uplink, encode_batches
from wristband import packet

EVENT_GAP_S = 0.005  # early (onset) batches: at most 200 a second


class RelayStartError(Exception):
    """Scanning could not start at all (no BlueZ, no such adapter): a person must act."""


@dataclass
class Timing:
    flush_s: float = 0.05  # batch cadence: the gateway wants reports fresh
    dedup_ttl_s: float = 5.0  # > the longest report interval (2.55 s), so repeats never leak
    dedup_max: int = 200_000  # 5,000 bands x 4 reports/s x 5 s, twice over; caps junk floods
    max_pending: int = 100_000  # records waiting for the next flush, if the loop ever stalls
    silence_s: float = 30.0  # BlueZ can stop reporting without an error; restart then
    backoff_min_s: float = 0.5
    backoff_max_s: float = 30.0
    start_timeout_s: float = 10.0
    status_every_s: float = 30.0


@dataclass
class Stats:
    heard: int = 0  # every advert the scanner delivered, ours or not
    forwarded: int = 0
    duplicates: int = 0
    malformed: int = 0  # our company id, but not a report we can forward
    ignored: int = 0  # other company ids, relay beacons, no manufacturer data
    overflow: int = 0  # records dropped because pending records hit max_pending
    batches: int = 0
    batches_dropped: int = 0  # broker away or not draining
    restarts: int = 0

    def line(self) -> str:
        return (
            f"heard {self.heard}, forwarded {self.forwarded}, duplicates {self.duplicates}, "
            f"malformed {self.malformed}, ignored {self.ignored}, batches {self.batches} "
            f"(dropped {self.batches_dropped}), scanner restarts {self.restarts}"
            + (f", overflow {self.overflow}" if self.overflow else "")
        )


def parse_advert(manufacturer_data: Mapping[int, bytes]) -> tuple[bytes, Hashable] | str:
    """(report, dedup key) for a band report; else "ignored" or "malformed"."""
    if packet.COMPANY_ID not in manufacturer_data:
        return "ignored"
    data = bytes(manufacturer_data[packet.COMPANY_ID])
    if len(data) == packet.BEACON_SIZE and data[0] == packet.BEACON_TYPE:
        return "ignored"  # another relay's command beacon, not a report
    try:
        report = packet.Report(data)  # the current protocol only: an old band is malformed here
    except packet.PacketError:
        return "malformed"
    return data, (report.onair, report.seq)


class DedupCache:
    """Keys seen in the last `ttl_s` seconds, at most `max_entries` of them.

    A band repeats the same report on every advertising event (~100 ms) until its
    next one; entries expire in insertion order, so the cost per advert is O(1).
    """

    def __init__(
        self, ttl_s: float, max_entries: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._clock = clock
        self._seen: OrderedDict[Hashable, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def seen(self, key: Hashable) -> bool:
        """True for a repeat; otherwise remembers the key and returns False."""
        now = self._clock()
        horizon = now - self.ttl_s
        while self._seen and next(iter(self._seen.values())) <= horizon:
            self._seen.popitem(last=False)
        if key in self._seen:
            return True
        self._seen[key] = now
        if len(self._seen) > self.max_entries:
            self._seen.popitem(last=False)
        return False


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
        return max(-128, min(127, int(adv.rssi)))
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
        self.stats = Stats()
        self.adapter = adapter
        self._log = log
        self._make_scanner = scanner or bleak_factory(adapter)
        self.uplink = uplink or Uplink(broker, venue, relay_id, log, adapter=adapter)
        self._dedup = DedupCache(self.timing.dedup_ttl_s, self.timing.dedup_max)
        self._backoff = Backoff(self.timing.backoff_min_s, self.timing.backoff_max_s)
        self._pending: list[Record] = []
        self._last_advert = time.monotonic()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._early: asyncio.TimerHandle | None = None
        self._flushed_at = 0.0
        self._stop = asyncio.Event()  # binds to the loop that first waits on it (3.10+)

    def on_advert(self, device: BLEDevice, adv: AdvertisementData) -> None:
        """bleak's detection callback: must never raise, whatever is on the air."""
        self._last_advert = time.monotonic()
        self.stats.heard += 1
        try:
            parsed = parse_advert(adv.manufacturer_data)
        except Exception:  # junk types from a backend; bleak would only log it
            parsed = "malformed"
        if parsed == "ignored":
            self.stats.ignored += 1
            return
        if isinstance(parsed, str):
            self.stats.malformed += 1
            return
        report, key = parsed
        if self._dedup.seen(key):
            self.stats.duplicates += 1
        elif len(self._pending) >= self.timing.max_pending:
            self.stats.overflow += 1
        else:
            self._pending.append((report, _rssi(adv), _now_ms()))
            self.stats.forwarded += 1
            if packet.flags_of(report) & packet.FLAG_EVENT:
                self._flush_soon()

    def _flush_soon(self) -> None:
        # a reaction's onset does not wait for the next 50 ms flush; a burst of
        # onsets makes one batch, and batches stay EVENT_GAP_S apart at most
        if self._loop is None or self._early is not None:
            return
        wait = max(0.0, self._flushed_at + EVENT_GAP_S - self._loop.time())
        self._early = self._loop.call_later(wait, self._flush_early)

    def _flush_early(self) -> None:
        self._early = None
        self.flush()

    def flush(self) -> None:
        if self._loop is not None:
            self._flushed_at = self._loop.time()
        records, self._pending = self._pending, []
        for batch in encode_batches(records):
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
