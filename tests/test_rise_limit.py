"""A crowd that cheers for longer than the gateway's windows stays in the score.

Each band's coupling to the music reference (and its own baseline without
one) is a floor that may fall at once but rise only slowly
(gateway/reference.py RiseLimit).  Without that limit the 4-minute window's
minimum fills with crowd after 4 minutes of cheering, and the crowd becomes
part of the "music"."""

from __future__ import annotations

import numpy as np
import pytest

from crowdpulse.gateway import aggregate, sentiment
from crowdpulse.gateway.reference import LOW, RiseLimit
from crowdpulse.sim.runs import crowdscore
from crowdpulse.sim.world import clapset, signals


def test_the_floor_falls_at_once_and_rises_at_its_rate() -> None:
    floor = RiseLimit(rise_db_per_min=1.0)
    has = np.array([True, True])
    assert floor.update(has, np.array([[0.0], [5.0]]), 0).tolist() == [[0.0], [5.0]]
    # the window jumps 6 dB: one minute later the floor has risen 1 dB
    assert floor.update(has, np.array([[6.0], [6.0]]), 60_000).tolist() == [[1.0], [6.0]]
    assert floor.update(has, np.array([[-2.0], [6.0]]), 61_000).tolist() == [[-2.0], [6.0]]


def test_a_band_followed_for_less_than_the_window_takes_its_window() -> None:
    floor = RiseLimit(rise_db_per_min=1.0, settle_ms=240_000)
    has = np.array([True])
    floor.update(has, np.array([[0.0]]), 0)
    assert floor.update(has, np.array([[6.0]]), 60_000).tolist() == [[6.0]]
    floor.update(has, np.array([[0.0]]), 240_000)
    assert floor.update(has, np.array([[6.0]]), 300_000).tolist() == [[1.0]]


def test_a_new_band_or_a_new_reference_starts_from_its_window() -> None:
    floor = RiseLimit(rise_db_per_min=1.0)
    floor.update(np.array([True, False]), np.array([[0.0], [0.0]]), 0, key=7)
    got = floor.update(np.array([True, True]), np.array([[9.0], [9.0]]), 1_000, key=7)
    assert got[1, 0] == 9.0 and got[0, 0] == pytest.approx(1 / 60)
    assert floor.update(
        np.array([True, True]), np.array([[9.0], [9.0]]), 2_000, key=3
    ).tolist() == [[9.0], [9.0]]


def _coupling_over(minutes: int, after: np.ndarray, rise: float = 0.05) -> np.ndarray:
    """Band 0's coupling in the A-weighted column, tick by 15 s tick, when every coarse
    bucket from the second minute on holds `after` (dB per level column, or a row per
    tick) over its first minute; band 1 is the reference, whose level never changes.
    Both have been heard for a whole window before the first tick."""
    rows = np.broadcast_to(after, (minutes * 4, sentiment.N_LEVELS))
    floors = sentiment.Floors(sentiment.Model(rise_db_per_min=rise))
    n, cols = aggregate.N_COARSE, sentiment.N_LEVELS
    history = np.full((n, cols), 40.0)
    out = []
    for tick in range(minutes * 4):
        step = rows[tick] if tick >= 4 else np.zeros(cols)
        history = np.vstack([history, 40.0 + step / 0.5])[-n:]  # level codes: 0.5 dB
        means = np.zeros((2, n, cols))
        means[0] = history
        means[1] = 40.0
        valid = np.ones((2, n), bool)
        slots = sentiment.RefSlots((valid, means), (valid, means), (valid, means))
        _has, g = floors.coupling(slots, 1, tick * aggregate.COARSE_MS)
        out.append(g[0, 0])
    return np.array(out)


def test_a_band_that_moves_nearer_the_pa_follows_once_its_window_has_turned() -> None:
    # every band 6 dB louder, the bass too: the wearer walked nearer the speakers
    moved = _coupling_over(12, np.full(sentiment.N_LEVELS, 6.0))
    window_turned = 4 + aggregate.N_COARSE  # ticks, 15 s each
    assert moved[window_turned - 2] < 1.0  # the old buckets still bound it
    assert moved[window_turned + 1] == pytest.approx(6.0, abs=0.1)


def test_a_crowd_that_leaves_the_bass_alone_stays_out_of_the_coupling() -> None:
    crowd = np.full(sentiment.N_LEVELS, 6.0)
    crowd[LOW] = 0.05  # a crowd as loud as the music moves the low band by hundredths
    held = _coupling_over(12, crowd)
    assert held[-1] < 0.05 * 11 + 0.01, held[-1]  # no more than the base rise
    # the backlash: a low band whose median wanders by less than PLAY_DB lifts nothing
    wander = np.tile(crowd, (48, 1))
    wander[:, LOW] = np.random.default_rng(3).uniform(0, sentiment.PLAY_DB - 0.05, 48)
    assert _coupling_over(12, wander)[-1] < 0.05 * 11 + 0.01


MUSIC_S, CROWD_S, BANDS = 60.0, 320.0, 8


def _night() -> tuple[np.ndarray, np.ndarray]:
    """(what the bands hear, the programme): 90 s of music, then a crowd 6 dB
    under it that cheers and applauds for five and a half minutes."""
    rng = np.random.default_rng(5)
    music = signals.at_level(clapset.music_at_band(MUSIC_S + CROWD_S, rng), -24)
    # 32 s of crowd, over and over (a crowd's level is what matters here, and the
    # cheer takes long to synthesise)
    crowd = np.tile(
        signals.crowd_cheer(32.0, rng, dbfs=-30) + signals.crowd_applause(32.0, rng, dbfs=-30),
        int(CROWD_S // 32) + 1,
    )
    scene = music.copy()
    scene[signals.seconds(MUSIC_S) :] += crowd[: len(scene) - signals.seconds(MUSIC_S)]
    return scene, music


def _at(snaps: list[dict], second: float) -> float:
    t0 = snaps[0]["t"]
    vals = [
        s["score"]
        for s in snaps
        if abs((s["t"] - t0) / 1000 - second) <= 10 and s["score"] is not None
    ]
    return float(np.mean(vals))


def _scores(stream: list[crowdscore.BandReport], **model: float) -> list[dict]:
    engine, _keys = crowdscore.engine_for(BANDS, reference=True, k_anonymity=5, **model)
    return crowdscore.replay(engine, stream)


def test_five_minutes_of_cheering_do_not_fade_into_the_music() -> None:
    scene, music = _night()
    rng = np.random.default_rng(1)
    _engine, keys = crowdscore.engine_for(BANDS, reference=True)
    mixes = [*crowdscore.band_mixes(scene, BANDS, rng), signals.to_int16(np.clip(music, -1.0, 1.0))]
    stream = crowdscore.reports(iter(mixes), keys, rng)
    held = _scores(stream)
    early, late = _at(held, MUSIC_S + 60), _at(held, MUSIC_S + CROWD_S - 15)
    assert early - _at(held, MUSIC_S - 20) > 12  # the crowd registers
    assert late > early - 5, (early, late)
    # the same night with no limit on the rise: the crowd fades as the windows fill
    faded = _scores(stream, rise_db_per_min=1e9)
    assert _at(faded, MUSIC_S + CROWD_S - 15) < early - 8, _at(faded, MUSIC_S + CROWD_S - 15)


def _own_scores(stream: list[crowdscore.BandReport], **model: float) -> list[dict]:
    engine, _keys = crowdscore.engine_for(BANDS, k_anonymity=5, **model)
    return crowdscore.replay(engine, stream)


def test_without_a_reference_five_minutes_of_cheering_stay_in_the_score() -> None:
    scene, _music = _night()
    rng = np.random.default_rng(1)
    _engine, keys = crowdscore.engine_for(BANDS)
    stream = crowdscore.reports(crowdscore.band_mixes(scene, BANDS, rng), keys, rng)
    held = _own_scores(stream)
    before, early = _at(held, MUSIC_S - 20), _at(held, MUSIC_S + 60)
    late = _at(held, MUSIC_S + CROWD_S - 15)
    assert early - before > 12  # the crowd registers
    assert late > early - 5, (early, late)
    # the band's baseline once followed its window for its first 4 minutes, and its
    # tonal share freely: the crowd faded as the windows filled
    faded = _own_scores(stream, baseline_settle_ms=240_000, tonal_fall_per_min=1e9)
    assert _at(faded, MUSIC_S + CROWD_S - 15) < _at(faded, MUSIC_S + 60) - 8


def test_without_a_reference_a_louder_track_lifts_the_baseline_as_far_as_its_bass() -> None:
    # two bands followed for two minutes; then both hear 4 dB more, band 0 in its low
    # band as well (the next track is louder), band 1 not (its crowd got louder)
    m = sentiment.Model()
    floors = sentiment.Floors(m)
    alive = np.ones(2, bool)
    for t in range(0, 120_000, 1000):
        floors.baseline(np.full((2, 4), 80.0), np.full(2, 95.0), alive, t)
    for t in range(120_000, 180_000, 1000):
        out = floors.baseline(np.full((2, 4), 84.0), np.array([99.0, 95.0]), alive, t)
    assert out[0] == pytest.approx(np.full(4, 84.0))
    # band 1 rises at its rate only: at most baseline_rise_db_per_min in the minute
    assert np.all(out[1] > 80.0) and np.all(out[1] <= 80.0 + m.baseline_rise_db_per_min + 1e-6)


def test_without_a_reference_the_tonal_share_falls_only_slowly() -> None:
    floors = sentiment.Floors(sentiment.Model())
    alive = np.ones(1, bool)
    for t in range(0, 120_000, 1000):
        floors.tonal(np.array([0.6]), alive, t)
    for t in range(120_000, 180_000, 1000):  # a crowd turns the sound to noise
        out = floors.tonal(np.array([0.4]), alive, t)
    assert out[0] == pytest.approx(0.6 - 0.002, abs=1e-6)
    assert floors.tonal(np.array([0.7]), alive, 181_000)[0] == pytest.approx(0.7)
