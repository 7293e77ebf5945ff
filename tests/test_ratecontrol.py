"""The advertising interval the gateway tells the bands (gateway/ratecontrol.py)."""

from __future__ import annotations

import numpy as np

from crowdpulse.gateway import ratecontrol

NOW_MS = 1_000_000
WINDOW_MS = 4000


def _interval(bands: int, received_each: float, current_ms: int, provisioned: int = 0) -> int:
    """bands heard lately, each with received_each reports in the window, among
    provisioned bands (the others not heard for an hour)."""
    total = max(bands, provisioned)
    last = np.full(total, NOW_MS - 3_600_000, np.int64)
    last[:bands] = NOW_MS - 1000
    zone_of = np.zeros(total, np.int32)
    received = np.zeros(total)
    received[:bands] = received_each
    return ratecontrol.adv_interval_ms(last, zone_of, 1, NOW_MS, received, WINDOW_MS, current_ms)


def test_a_collapsed_channel_shows_more_bands_than_it_hears() -> None:
    # 1,000 bands heard, each getting 1 advert in 20 through at a 1 s interval
    # (4 sent in the window): exp(-2G) = 0.05 puts G at 1.5, so 4,000 bands
    # of the 10,000 provisioned
    got = _interval(1000, 4 * 0.05, 1000, provisioned=10_000)
    assert got == ratecontrol.best_interval_ms(round(-np.log(0.05) / 2 / ratecontrol.AIRTIME_S))
    assert got > ratecontrol.best_interval_ms(1000)
    # never more than are provisioned
    assert _interval(1000, 4 * 0.05, 1000) == ratecontrol.best_interval_ms(1000)


def test_a_channel_at_its_peak_keeps_its_interval() -> None:
    # G = 0.5: 1,330 bands at 1 s; exp(-1) of the adverts get through
    bands = round(0.5 / ratecontrol.AIRTIME_S)
    got = _interval(bands, 4 * np.exp(-1.0), 1000)
    assert got == 1000


def test_small_moves_of_the_best_interval_do_not_rephase_the_fleet() -> None:
    # every change sends each band quiet until a random point of the new interval
    bands = 9000
    best = ratecontrol.best_interval_ms(bands)  # 6,800 ms
    assert _interval(bands, 1.0, int(best * 1.08)) == int(best * 1.08)
    assert _interval(bands, 1.0, int(best * 0.93)) == int(best * 0.93)
    assert _interval(bands, 1.0, int(best * 1.3)) == best
    assert _interval(bands, 1.0, int(best * 0.7)) == best
