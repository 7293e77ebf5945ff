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
# Every change of interval sends every band quiet until a random point of the
# new one (wristband.schedule.Advert.rephase), and ALOHA's throughput is flat
# near its peak (G = 0.5 +- 10 % loses under 1 %): the bands are told a new
# interval only when the best one is this far from what they have.
DEADBAND = 0.1
REPORT_S = 0.25  # the bands' default report interval (docs/protocol.md §5)


def best_interval_ms(bands: int) -> int:
    """The interval that keeps the offered load at G = 0.5, in 100 ms steps."""
    ms = 2.0 * bands * AIRTIME_S * 1000.0
    return int(min(MAX_MS, max(MIN_MS, round(ms / 100.0) * 100)))


def contenders(share: float, interval_s: float, report_s: float = REPORT_S) -> float:
    """How many bands must be on the air for adverts to get through this badly.

    share: of the reports the zone's bands heard lately put on the air, the
    share that arrived.  Each advert carries the band's latest report, so the
    per-advert success p follows from it, and pure ALOHA's p = exp(-2G) gives
    the offered load G = N x airtime / interval."""
    share = min(share, 1.0)
    # one new report in each advert, or each report out report_s / interval_s times
    repeats = interval_s / report_s if interval_s < report_s else 1.0
    p = min(max(1.0 - (1.0 - share) ** repeats, 1e-3), 1.0)
    return float(-np.log(p) / 2.0 * interval_s / AIRTIME_S)


def adv_interval_ms(
    last_ms: npt.NDArray[np.int64],
    zone_of: npt.NDArray[np.int32],
    zones: int,
    now_ms: int,
    received: npt.NDArray[np.float64] | None = None,
    window_ms: int = 4000,
    current_ms: int = MIN_MS,
) -> int:
    """For the busiest zone: the bands heard in the last minute, or more if the
    adverts get through so badly that more must be there (a collapsed channel
    hides its own bands).  received: each band's reports received in the last
    window_ms (counts, not the audio they cover: a reaction's reports cover
    less, and would read as a worse channel).  A zone that hears nothing at
    all assumes half its bands.  current_ms (what the bands have) stays
    while the best is within DEADBAND of it."""
    recent = (now_ms - last_ms) <= WINDOW_MS
    heard = np.bincount(zone_of[recent], minlength=zones).astype(np.float64)
    provisioned = np.bincount(zone_of, minlength=zones)
    n = np.where(heard > 0, heard, provisioned // 2)
    if received is not None:
        got = np.bincount(zone_of[recent], weights=received[recent], minlength=zones)
        # reports each band put on the air in the window: one per advert, or
        # one per report when it reports less often than it advertises
        sent = window_ms / max(current_ms, REPORT_S * 1000.0)
        for z in np.flatnonzero(heard > 0):
            est = contenders(got[z] / (heard[z] * sent), current_ms / 1000.0)
            n[z] = min(max(n[z], est), provisioned[z])
    best = best_interval_ms(int(n.max()) if len(n) else 0)
    return current_ms if abs(best - current_ms) <= DEADBAND * current_ms else best
