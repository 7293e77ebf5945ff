"""A zone that goes dark keeps its place in the venue score (gateway/darkzones.py)."""

from __future__ import annotations

import pytest

from crowdpulse.gateway.darkzones import HOLD_MS, DarkZones
from crowdpulse.gateway.sentiment import Model, ZoneScore

M = Model()


def _tick(
    dark: DarkZones, t_ms: int, floor: float, terrace: float | None, terrace_bands: int = 30
) -> tuple[float | None, float, dict[str, float]]:
    zones = [
        ZoneScore("floor", floor, 0.9, 70),
        ZoneScore("terrace", terrace, 0.8 if terrace is not None else 0.0, terrace_bands),
    ]
    return dark.venue(zones, t_ms, M)


def test_a_zone_that_goes_dark_leaves_the_venue_score_where_it_was() -> None:
    dark = DarkZones()
    before, _, held = _tick(dark, 0, 80.0, 90.0)
    assert before == pytest.approx(83.0) and held == {}
    after, conf, held = _tick(dark, 1_000, 80.0, None, terrace_bands=0)
    assert after == pytest.approx(83.0)
    assert held == {"terrace": pytest.approx(90.0)}
    assert 0 < conf < 0.9


def test_a_held_zone_moves_as_the_other_zones_move_and_is_let_go() -> None:
    dark = DarkZones()
    _tick(dark, 0, 80.0, 90.0)
    later, _, held = _tick(dark, 60_000, 60.0, None, terrace_bands=0)
    assert held["terrace"] == pytest.approx(70.0)
    assert later == pytest.approx(0.7 * 60 + 0.3 * 70)
    gone, _, held = _tick(dark, HOLD_MS + 1, 60.0, None, terrace_bands=0)
    assert gone == pytest.approx(60.0) and held == {}


def test_a_zone_that_emptied_slowly_weighs_only_the_bands_it_last_had() -> None:
    dark = DarkZones()
    _tick(dark, 0, 80.0, 90.0, terrace_bands=5)  # at the k-anonymity floor
    after, _, _ = _tick(dark, 1_000, 80.0, None, terrace_bands=4)
    assert after == pytest.approx((80 * 70 + 90 * 5) / 75)


def test_with_no_zone_heard_the_venue_publishes_nothing() -> None:
    dark = DarkZones()
    _tick(dark, 0, 80.0, 90.0)
    zones = [ZoneScore("floor", None, 0.0, 0), ZoneScore("terrace", None, 0.0, 0)]
    assert dark.venue(zones, 1_000, M) == (None, 0.0, {})


def test_a_look_back_leaves_the_memory_alone() -> None:
    dark = DarkZones()
    _tick(dark, 0, 80.0, 90.0)
    zones = [ZoneScore("floor", 50.0, 0.9, 70), ZoneScore("terrace", 50.0, 0.9, 30)]
    dark.venue(zones, 500, M, remember=False)
    after, _, _ = _tick(dark, 1_000, 80.0, None, terrace_bands=0)
    assert after == pytest.approx(83.0)
