"""The venue's relays in faithful mode, hearing only what is on the air.

Each zone has its own radio medium (a UDP socket its BLE bands advertise to),
so a relay hears the bands in range of it and nothing else: it never looks a
band up.  Every relay of the zone that is up hears every advert, and forwards
as `crowdpulse relay` does, through the same forwarding core
(relay/forwarding.py): repeats dropped, a batch every 50 ms, or within 5 ms of
an onset.  Several relays hearing one band is normal; the gateway counts the
copies as duplicates.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from crowdpulse.relay.forwarding import EVENT_GAP_S, DedupCache, Forwarder, Timing, parse_advert
from crowdpulse.sim.bands.virtualband import Medium
from wristband import packet

Publish = Callable[[str, bytes], None]  # (relay id, batch)
RSSI_DBM = -60  # the UDP medium has no path loss; the fast mode's radio model does


class ZoneRelays:
    """The relays of every zone that has BLE bands, each on its zone's medium,
    run on one thread until `close()`."""

    def __init__(
        self,
        mediums: dict[int, Medium],
        relay_zone: npt.NDArray[np.integer[Any]],
        relay_ids: list[str],
        relay_up: npt.NDArray[np.bool_],
        publish: Publish,
    ) -> None:
        self.mediums, self.relay_zone, self.relay_ids = mediums, relay_zone, relay_ids
        self.relay_up = relay_up  # the fast mode's live array: relays fail and return
        self.publish = publish
        self.forwarders = [Forwarder(Timing()) for _ in relay_ids]
        self._unheard = DedupCache(Timing().dedup_ttl_s, Timing().dedup_max)
        self.relayed = 0  # distinct reports that some relay heard
        self.unheard = 0  # distinct reports sent in a zone with no relay up
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(EVENT_GAP_S):
            for zone, medium in self.mediums.items():
                heard = medium.adverts[:]
                del medium.adverts[: len(heard)]  # the medium only appends: this is what we took
                for _t, _address, adv in heard:
                    self._hear(zone, adv)
            self._flush_due()

    def _hear(self, zone: int, adv: bytes) -> None:
        data = packet.manufacturer_data(adv)
        fields = {} if data is None else {packet.COMPANY_ID: data}
        up = np.flatnonzero((self.relay_zone == zone) & self.relay_up)
        if len(up) == 0:  # nobody to forward it: count each report once
            parsed = parse_advert(fields)
            if not isinstance(parsed, str) and not self._unheard.seen(parsed[1]):
                self.unheard += 1
            return
        arrival_ms = time.time_ns() // 1_000_000
        before = sum(self.forwarders[r].stats.forwarded for r in up)
        for r in up:
            self.forwarders[r].hear(fields, RSSI_DBM, arrival_ms)
        if sum(self.forwarders[r].stats.forwarded for r in up) > before:
            self.relayed += 1  # new to at least one relay of the zone

    def _flush_due(self) -> None:
        for r, forwarder in enumerate(self.forwarders):
            if forwarder.due():
                for batch in forwarder.take():
                    self.publish(self.relay_ids[r], batch)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(1)
