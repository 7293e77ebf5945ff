"""docs/sentiment.md's stated constants are the gateway's: the model's weights
and dead zones, ambience, freshness, trimming, age-out, k-anonymity,
confidence, trend and the aggregation windows.  (The calibration table and
the robustness limits are asserted in tests/test_sentiment.py.)"""

from __future__ import annotations

import inspect

from crowdpulse.gateway import aggregate, darkzones, engine, sentiment
from crowdpulse.gateway.venue import VenueConfig


def test_the_engagement_formula_and_its_dead_zones() -> None:
    m = sentiment.Model()
    # the crowd's sound: logistic of the crowd-to-music ratio, with a reference and without
    assert (m.cmr_mid_db, m.cmr_width_db, m.own_mid_db, m.own_width_db) == (-3.0, 5.0, 1.0, 2.0)
    # the rain and talker discounts
    assert (m.rain_top_db, m.rain_width_db) == (-3.0, 1.5)
    assert (m.talker_fluct_db, m.talker_width_db, m.talker_discount) == (0.7, 0.15, 0.5)
    # claps heard, claps felt, motion
    assert (m.clap_per_s, m.imu_clap_per_s, m.motion_per_g) == (0.15, 0.25, 0.5)
    # the coupling rises at most 0.05 dB a minute (beyond a move its low band shows),
    # the baseline as slowly, and the low band must move 1 dB before a move counts
    assert m.rise_db_per_min == 0.05 and m.baseline_rise_db_per_min == 0.05
    assert sentiment.PLAY_DB == 1.0
    # without a reference: the baseline's tonal share falls 0.002 a minute, and both
    # limits hold once a band has been heard for 60 s
    assert (m.tonal_fall_per_min, m.baseline_settle_ms) == (0.002, 60_000)
    # the ratio read partly against the room: 0.5 dB per dB of music over 96 dB(A)
    assert (m.pa_slope, m.pa_ref_db) == (0.5, 96.0)
    # the published score's 1€ filter: 0.01 Hz at rest, +0.015 Hz per point/s, speed at 0.1 Hz
    assert (m.score_min_cutoff_hz, m.score_beta, m.score_d_cutoff_hz) == (0.01, 0.015, 0.1)


def test_ambience_freshness_trimming_and_privacy() -> None:
    m = sentiment.Model()
    assert (m.quiet_db, m.loud_db) == (55.0, 85.0)
    assert (m.ambience_floor, round(m.ambience_floor + m.ambience_span, 2)) == (0.10, 0.38)
    assert (
        m.freshness_ms == 5_000 and m.trim == 0.10 and m.age_out_ms == 10_000 and m.k_anonymity == 5
    )
    # a zone gone dark is carried for 10 minutes at half its last confidence
    assert (darkzones.HOLD_MS, darkzones.HELD_CONFIDENCE) == (600_000, 0.5)
    src = inspect.getsource(sentiment)
    assert "max(m.trim, 1.5 / n)" in src  # at least 1.5 bands' worth a side
    assert "n_eff / (n_eff + 10.0)" in src and "(q3 - q1) / 0.5" in src  # confidence


def test_windows_ticks_and_trend() -> None:
    assert (aggregate.FINE_MS * aggregate.N_FINE, aggregate.FINE_MS) == (
        4_000,
        500,
    )  # recent: 500 ms buckets over 4 s
    assert (aggregate.COARSE_MS * aggregate.N_COARSE, aggregate.COARSE_MS) == (
        240_000,
        15_000,
    )  # baseline: 15 s over 4 min
    assert engine.TREND_S == 30.0
    assert inspect.signature(engine.Engine).parameters["tick_hz"].default == 10.0
    assert VenueConfig.__dataclass_fields__["tick_hz"].default == 10.0
