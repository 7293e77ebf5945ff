"""When each simulated BLE band's report goes on the air: the firmware's
wristband.schedule.Advert, vectorised over bands.

- a new report takes the band's next advert slot (one frame before the
  radio's own advert, in its place), newer reports replacing it meanwhile;
- an event report goes off the air and back on in a random slot of one
  advertising interval (schedule.event_delay_ms), holding the payload against
  later plain reports;
- a new interval sends every band quiet until a random point of it (a
  waiting event report too).
Times are seconds on the caller's clock; `next_adv` is the array the radio
medium (sim/world/radio.py) advertises from, moved here when a band restarts.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from wristband.schedule import FRAME_MS, event_delay_ms

F64 = npt.NDArray[np.float64]
FRAME_S = FRAME_MS / 1000.0


class AdvertTiming:
    def __init__(self, n: int, rng: np.random.Generator, next_adv: F64) -> None:
        self.rng = rng
        self.next_adv = next_adv
        self.last = np.full(n, -np.inf)  # the last (re)start
        self.restart_at = np.full(n, -np.inf)  # the next one, once a report waits for it
        self.hold_until = np.full(n, -np.inf)  # an event report's slot

    def reports(
        self, idx: npt.NDArray[np.int64], at: F64, event: npt.NDArray[np.bool_], interval_s: float
    ) -> npt.NDArray[np.bool_]:
        """New reports of bands idx, made at times at; returns which become the
        advert's payload (the others wait behind an event report)."""
        done = self.restart_at[idx] <= at
        self.last[idx[done]] = self.restart_at[idx[done]]
        held = at < self.hold_until[idx]
        plain = ~event & ~held
        due = plain & (self.restart_at[idx] <= at)  # no restart waiting yet: book the next slot
        b = idx[due]
        slot = np.maximum(at[due], self.last[b] + interval_s - FRAME_S)
        self.restart_at[b] = self.next_adv[b] = slot
        e = event & ~held
        b = idx[e]
        delay = (
            event_delay_ms(int(round(interval_s * 1000)), self.rng.integers(0, 1 << 16, len(b)))
            / 1000.0
        )
        self.restart_at[b] = self.next_adv[b] = self.hold_until[b] = at[e] + delay
        return event | plain

    def rephase(self, now: float, interval_s: float) -> None:
        """Every band heard a new interval: it goes quiet, and its next advert comes
        at a random point of it (a waiting event report too, with its payload)."""
        seen = np.flatnonzero(np.isfinite(self.last))
        ms = int(round(interval_s * 1000))
        delay = event_delay_ms(ms, self.rng.integers(0, 1 << 16, len(seen))) / 1000.0
        held = self.hold_until[seen] > now
        h = seen[held]
        self.restart_at[h] = self.next_adv[h] = self.hold_until[h] = now + delay[held]
        p = seen[~held]
        self.last[p] = now - interval_s + delay[~held]
        self.restart_at[p] = self.next_adv[p] = np.maximum(now, self.last[p] + interval_s - FRAME_S)
