"""What a relay does with what it hears, with no radio and no event loop.

An advert goes in (its manufacturer data, its RSSI, when it arrived); repeats
are dropped, reports wait for the next batch, and a reaction's onset asks for
its batch early.  The caller owns the clock and the sending: `crowdpulse relay`
drives this from bleak's callback on an asyncio loop (relay/forwarder.py), the
faithful simulator from a thread reading its UDP radio medium.  So the policy
that sets a report's latency is the same code in both.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass

from wristband import packet

Record = tuple[bytes, int, int]  # (report, rssi dBm, arrival ms): what packet.encode_batch takes
Clock = Callable[[], float]  # monotonic seconds

EVENT_GAP_S = 0.005  # early (onset) batches: at most 200 a second
# A record's arrival is a uint16 ms offset from its batch's base time (protocol §4);
# only a stalled loop or a wall clock step ever needs a second batch for it.
_MAX_OFFSET_MS = 0xFFFF


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


def encode_batches(records: list[Record]) -> list[bytes]:
    """Relay batches for records in arrival order, split where one batch cannot hold them."""
    out: list[bytes] = []
    chunk: list[Record] = []
    base = 0
    for rec in records:
        offset = rec[2] - base
        if chunk and (len(chunk) == packet.BATCH_MAX or not 0 <= offset <= _MAX_OFFSET_MS):
            out.append(packet.encode_batch(chunk, base))
            chunk = []
        if not chunk:
            base = rec[2]
        chunk.append(rec)
    if chunk:
        out.append(packet.encode_batch(chunk, base))
    return out


class DedupCache:
    """Keys seen in the last `ttl_s` seconds, at most `max_entries` of them.

    A band repeats the same report on every advertising event (~100 ms) until its
    next one; entries expire in insertion order, so the cost per advert is O(1).
    """

    def __init__(self, ttl_s: float, max_entries: int, clock: Clock = time.monotonic) -> None:
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


class Forwarder:
    """Dedupe, pending records and the flush policy of one relay.

    `hear()` each advert; `take()` the batches when `due()` says so (every
    `flush_s`, or `EVENT_GAP_S` after the last batch once an onset waits).
    """

    def __init__(self, timing: Timing | None = None, clock: Clock = time.monotonic) -> None:
        self.timing = timing or Timing()
        self.stats = Stats()
        self._clock = clock
        self._dedup = DedupCache(self.timing.dedup_ttl_s, self.timing.dedup_max, clock)
        self._pending: list[Record] = []
        self.onset_waiting = False
        self.flushed_at = clock()

    def hear(self, manufacturer_data: Mapping[int, bytes], rssi: int, arrival_ms: int) -> bool:
        """Count an advert and keep it if it is a new report; True when it is an onset
        (the caller may flush at `early_at()` rather than wait for the cadence)."""
        self.stats.heard += 1
        try:
            parsed = parse_advert(manufacturer_data)
        except Exception:  # junk types from a backend; bleak would only log it
            parsed = "malformed"
        if isinstance(parsed, str):
            if parsed == "ignored":
                self.stats.ignored += 1
            else:
                self.stats.malformed += 1
            return False
        report, key = parsed
        if self._dedup.seen(key):
            self.stats.duplicates += 1
            return False
        if len(self._pending) >= self.timing.max_pending:
            self.stats.overflow += 1
            return False
        self._pending.append((report, max(-128, min(127, rssi)), arrival_ms))
        self.stats.forwarded += 1
        if packet.flags_of(report) & packet.FLAG_EVENT:
            self.onset_waiting = True
            return True
        return False

    def early_at(self) -> float:
        """When an onset's batch may go: batches stay EVENT_GAP_S apart at most."""
        return self.flushed_at + EVENT_GAP_S

    def due(self) -> bool:
        now = self._clock()
        if self.onset_waiting and now >= self.early_at():
            return True
        return now >= self.flushed_at + self.timing.flush_s

    def take(self) -> list[bytes]:
        """The batches of every pending record; the cadence restarts from now."""
        self.flushed_at = self._clock()
        self.onset_waiting = False
        records, self._pending = self._pending, []
        return encode_batches(records)
