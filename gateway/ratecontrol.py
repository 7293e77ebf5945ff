"""How often bands should advertise, given how many share the air.

BLE advertising is pure ALOHA: each band's advert occupies a channel for
~376 us, and two that overlap are both lost.  The delivered rate N/T x
exp(-2G), with offered load G = N x airtime / T, is highest at G = 0.5, so
with N bands in radio range of each other the best advertising interval is
T = 2 N x airtime.  The gateway counts the bands each zone has heard from
lately (a zone's bands share the air) and tells every band the interval of
the busiest zone, over the retained config topic (and relay beacons).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

AIRTIME_S = 376e-6  # a legacy advert with 31 bytes of AD data, at 1 Mbit/s
MIN_MS = 100  # NimBLE's floor for non-connectable advertising
MAX_MS = 25_500  # what a beacon can carry (100 ms steps)
WINDOW_MS = 60_000


def best_interval_ms(bands: int) -> int:
    """The interval that keeps the offered load at G = 0.5, in 100 ms steps."""
    ms = 2.0 * bands * AIRTIME_S * 1000.0
    return int(min(MAX_MS, max(MIN_MS, round(ms / 100.0) * 100)))


def adv_interval_ms(last_ms: npt.NDArray[np.int64], zone_of: npt.NDArray[np.int32], zones: int,
                    now_ms: int) -> int:
    """For the busiest zone: bands heard in the last minute.  Bands that cannot get
    through are not counted, so a zone that hears nothing assumes half its bands."""
    recent = (now_ms - last_ms) <= WINDOW_MS
    heard = np.bincount(zone_of[recent], minlength=zones)
    provisioned = np.bincount(zone_of, minlength=zones)
    n = np.where(heard > 0, heard, provisioned // 2)
    return best_interval_ms(int(n.max()) if len(n) else 0)
