"""The score to lighting desks and VJ tools over OSC (python-osc), at tick rate.

With `[osc] targets = ["127.0.0.1:9000", ...]` in the venue file, every tick
sends to each target (docs/osc.md):

    /crowdpulse/<venue>/score               f  the venue score, 0-100 (as /api/state)
    /crowdpulse/<venue>/level               f  the same / 100, for inputs that take 0-1
    /crowdpulse/<venue>/zone/<zone>/score   f  each zone's score, 0-100
    /crowdpulse/<venue>/zone/<zone>/level   f  the same / 100
    /crowdpulse/<venue>/reaction            s f  a crowd reaction starts: zone, share of its bands

A score that is not published (fewer bands than the k-anonymity threshold)
sends nothing: the light holds.  A reaction is a zone-level event: at least k
bands, and a tenth of the zone's reporting bands, flag the start of a clap
burst or a cheer within one second.  Sending never blocks the tick: UDP, and
a target that refuses is reported once in the log and tried again.
"""

from __future__ import annotations

import logging
import socket
import threading
from typing import Any

import numpy as np
import numpy.typing as npt
from pythonosc.udp_client import SimpleUDPClient

from wristband import packet

log = logging.getLogger("crowdpulse.gateway")
REACTION_WINDOW_MS = 1000
REACTION_SHARE = 0.10
QUIET_MS = 2000  # one reaction, one message: the next one may start 2 s later


class Reactions:
    """Which zones' crowds just started reacting, from the bands' onset flags.

    Only each band's last onset time is kept, in RAM; what leaves is per zone."""

    def __init__(self, zone_of: npt.NDArray[np.int32], zones: list[str], k_anonymity: int) -> None:
        self.zone_of, self.zones, self.k = zone_of, zones, k_anonymity
        self.onset_ms = np.full(len(zone_of), -(10**15), np.int64)
        self.quiet_until = np.zeros(len(zones), np.int64)
        self.lock = threading.Lock()

    def add(self, records: npt.NDArray[np.void]) -> None:
        """Accepted report records (gateway.aggregate.RECORD) from any ingest thread."""
        hot = records[(records["flags"] & packet.FLAG_EVENT) != 0]
        if len(hot):
            with self.lock:
                np.maximum.at(self.onset_ms, hot["band"], hot["arrival_ms"])

    def started(self, now_ms: int, bands: list[int]) -> list[tuple[str, float]]:
        """(zone, share of its reporting bands) for each zone whose reaction starts now."""
        with self.lock:
            recent = (now_ms - self.onset_ms) <= REACTION_WINDOW_MS
        n = np.bincount(self.zone_of[recent], minlength=len(self.zones))
        out = []
        for z, name in enumerate(self.zones):
            if n[z] >= max(self.k, REACTION_SHARE * bands[z]) and now_ms >= self.quiet_until[z]:
                self.quiet_until[z] = now_ms + QUIET_MS
                out.append((name, round(float(n[z]) / max(bands[z], int(n[z])), 3)))
        return out


class OscOut:
    def __init__(self, venue: str, targets: list[tuple[str, int]], reactions: Reactions) -> None:
        self.prefix = f"/crowdpulse/{venue}"
        self.reactions = reactions
        self.targets: list[tuple[str, SimpleUDPClient]] = []
        self.failing: set[str] = set()
        for host, port in targets:
            name = f"{host}:{port}"
            try:  # resolve once: python-osc would look the name up for every datagram
                ip = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0][4][0]
                self.targets.append((name, SimpleUDPClient(str(ip), port)))
            except OSError as exc:
                log.warning("osc: cannot send to %s (%s); that target is skipped", name, exc)
        if self.targets:
            log.info("osc: sending the score to %s", ", ".join(n for n, _ in self.targets))

    def messages(self, snap: dict[str, Any]) -> list[tuple[str, Any]]:
        out: list[tuple[str, Any]] = []
        if snap.get("score") is not None:
            out += [
                (f"{self.prefix}/score", float(snap["score"])),
                (f"{self.prefix}/level", snap["score"] / 100.0),
            ]
        for z in snap["zones"]:
            if z["score"] is not None:
                base = f"{self.prefix}/zone/{z['zone']}"
                out += [(f"{base}/score", float(z["score"])), (f"{base}/level", z["score"] / 100.0)]
        for zone, share in self.reactions.started(snap["t"], [z["bands"] for z in snap["zones"]]):
            out.append((f"{self.prefix}/reaction", [zone, share]))
        return out

    def on_tick(self, snap: dict[str, Any]) -> None:
        msgs = self.messages(snap)
        for name, client in self.targets:
            try:
                for address, value in msgs:
                    client.send_message(address, value)
            except OSError as exc:
                if name not in self.failing:
                    self.failing.add(name)
                    log.warning("osc: sending to %s failed (%s); still trying", name, exc)
            else:
                if self.failing and name in self.failing:
                    self.failing.discard(name)
                    log.info("osc: %s receives again", name)
