"""A zone that goes dark keeps its place in the venue score for a while.

When every band of a zone falls silent at once (its relay lost power, a cable
pulled), the people are still there.  Dropping the zone from the venue score
would swing the venue towards the other zones by however much they differed,
which says nothing about the crowd: a terrace that read 10 points over the floor
takes 3 points off a 70/30 venue the moment its relay dies.

So, for up to `hold_ms`, the venue counts a dark zone at its last score, moved
as the other zones move (it keeps its last offset from the venue of the others:
the same DJ plays to all of them), with the bands it last had as its weight
and half its last confidence.  The zone itself still publishes `null`:
nothing is heard there.  A zone that empties slowly (people leave) reaches the
k-anonymity floor with a handful of bands, so its hold weighs a handful of
bands.  With no live zone at all the venue publishes nothing: there is nothing
to move the held zones with.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from crowdpulse.gateway.sentiment import Model, ZoneScore, venue_score

HOLD_MS = 600_000  # a relay swapped or re-powered within ten minutes: the usual fix
HELD_CONFIDENCE = 0.5


@dataclass(frozen=True)
class Last:
    """A zone's last published score, as an offset from the other zones' venue then."""

    offset: float
    bands: int
    confidence: float
    at_ms: int


class DarkZones:
    def __init__(self, hold_ms: int = HOLD_MS) -> None:
        self.hold_ms = hold_ms
        self.last: dict[str, Last] = {}

    def venue(
        self, zones: list[ZoneScore], now_ms: int, m: Model, remember: bool = True
    ) -> tuple[float | None, float, dict[str, float]]:
        """(venue score, confidence, the score counted for each held zone).
        remember=False (a look back at another instant) leaves the memory alone."""
        live, _ = venue_score(zones, m)
        if live is None:
            return None, 0.0, {}
        if remember:
            self._remember(zones, now_ms, m)
        held = {}
        counted = []
        for z in zones:
            if z.score is not None:
                counted.append(z)
                continue
            was = self.last.get(z.zone)
            if was is None or not 0 <= now_ms - was.at_ms <= self.hold_ms:
                continue
            held[z.zone] = min(100.0, max(0.0, live + was.offset))
            counted.append(
                replace(
                    z,
                    score=held[z.zone],
                    bands=was.bands,
                    confidence=HELD_CONFIDENCE * was.confidence,
                )
            )
        score, confidence = venue_score(counted, m)
        return score, confidence, held

    def _remember(self, zones: list[ZoneScore], now_ms: int, m: Model) -> None:
        for z in zones:
            if z.score is None:
                continue
            others, _ = venue_score([o for o in zones if o is not z], m)
            if others is None:  # the only zone heard: nothing to move it with later
                self.last.pop(z.zone, None)
            else:
                self.last[z.zone] = Last(z.score - others, z.bands, z.confidence, now_ms)
