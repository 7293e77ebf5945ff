"""How well reports get through, per zone and per relay: what a technician
needs, without alarming anyone about what is by design.

Two different reasons why the gateway hears fewer reports than bands make:

- **held back**: a BLE band makes a report every report interval R (250 ms)
  but advertises every A, the interval the rate control sets for the density
  (gateway/ratecontrol.py).  With A > R each advert carries the latest report
  and the ones in between are never sent: 1 - R/A of them, on purpose.
- **lost**: a report that went on the air (or over WiFi) and did not reach the
  gateway: collisions, range, a relay down.

`delivery` is the share of the reports put on the air that arrived: the
distinct reports received from the zone's BLE bands in the last few
seconds, against window / max(A, R) per band.  A report that starts a reaction
goes off the air and back on in a random slot of one interval
(wristband.schedule.Advert): its next advert comes A/2 later on average, as
the next regular one would have, so onset reports add no adverts and count
like the others.
Bands that publish over WiFi (MQTT) are left out: every report they make is
sent, and TCP delivers it or the band reconnects.  `loss` is 1 - delivery.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import numpy.typing as npt

from crowdpulse.gateway import aggregate

RELAY_WINDOW_MS = (
    10_000  # a band counts for a relay if the relay passed one of its reports this recently
)


def zone_delivery(
    recent: npt.NDArray[np.int64],
    active: npt.NDArray[np.bool_],
    zone_of: npt.NDArray[np.int32],
    direct: npt.NDArray[np.bool_],
    zones: int,
    window_ms: float,
    adv_ms: float,
) -> list[dict[str, float | None]]:
    """Per zone: delivery, loss and held (shares 0-1), or None without bands."""
    out: list[dict[str, float | None]] = []
    got = recent[:, aggregate.F_N].astype(np.float64)
    dur = recent[:, aggregate.F_DUR].astype(np.float64)
    for z in range(zones):
        here = active & (zone_of == z)
        ble = here & ~direct
        n = int(here.sum())
        if n == 0 or got[here].sum() == 0:
            out.append({"delivery": None, "loss": None, "held": None})
            continue
        # the bands' report interval, from the audio time their reports covered
        r_ms = float(dur[here].sum() / got[here].sum()) if dur[here].sum() > 0 else 250.0
        held = float(ble.sum()) / n * max(0.0, 1.0 - r_ms / adv_ms)
        if not ble.any():  # WiFi only: nothing goes over the air
            out.append({"delivery": 1.0, "loss": 0.0, "held": 0.0})
            continue
        on_air = window_ms / max(adv_ms, r_ms) * int(ble.sum())
        delivery = min(1.0, float(got[ble].sum()) / on_air)
        out.append(
            {
                "delivery": round(delivery, 3),
                "loss": round(1.0 - delivery, 3),
                "held": round(held, 3),
            }
        )
    return out


class RelayBands:
    """How many bands each relay hears: each band's last time per relay, in RAM only."""

    def __init__(self, bands: int) -> None:
        self.bands = bands
        self.last: dict[str, npt.NDArray[np.int64]] = {}
        self.lock = threading.Lock()

    def add(self, relay: str, band: npt.NDArray[np.int32], at_ms: int) -> None:
        if len(band) == 0:
            return
        with self.lock:
            seen = self.last.get(relay)
            if seen is None:
                if (
                    len(self.last) >= 1000
                ):  # a flood of made-up relay names must not grow this for ever
                    return
                seen = self.last[relay] = np.full(self.bands, -(10**15), np.int64)
            seen[band] = at_ms

    def counts(self, now_ms: int) -> dict[str, int]:
        with self.lock:
            return {r: int(((now_ms - s) <= RELAY_WINDOW_MS).sum()) for r, s in self.last.items()}


def relay_rows(status: dict[str, dict[str, Any]], bands: dict[str, int]) -> list[dict[str, Any]]:
    """The snapshot's relays: each relay's retained status (online/offline) and
    how many bands it heard lately.  A relay that sends batches but has
    published no status (the simulator's) is online by its batches."""
    rows = []
    for r in sorted(set(status) | set(bands)):
        n = bands.get(r, 0)
        state = status[r].get("state", "unknown") if r in status else ("online" if n else "silent")
        rows.append({"relay": r, "state": state, "bands": n})
    return rows
