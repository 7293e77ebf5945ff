"""The published score's 1€ filter (gateway/smoothing.py): still at rest, quick
when the crowd moves, the same at any tick rate, and afresh for a zone that comes back."""

from __future__ import annotations

import numpy as np

from crowdpulse.gateway import smoothing
from crowdpulse.gateway.sentiment import Model, ZoneScore

SHIPPED = Model()


def _run(xs: list[float], hz: float, m: Model = SHIPPED) -> list[float]:
    s = None
    out = []
    for i, x in enumerate(xs):
        s = smoothing.step(s, x, 1000.0 + i / hz, m)
        out.append(s.value)
    return out


def _roar(t: float) -> float:
    """A raw zone score as a crowd erupts: the 4-second window fills in 2 s."""
    return 40.0 + 45.0 * min(1.0, max(0.0, (t - 10.0) / 2.0))


def test_jitter_at_rest_is_averaged_away() -> None:
    rng = np.random.default_rng(1)
    raw = list(60.0 + rng.normal(0.0, 0.5, 1200))  # two minutes at 10 Hz
    out = np.array(_run(raw, 10.0))[300:]
    assert np.std(out) < 0.25 * np.std(raw[300:])


def test_a_roar_is_followed_within_seconds() -> None:
    hz = 10.0
    raw = [_roar(i / hz) for i in range(int(30 * hz))]
    out = _run(raw, hz)
    # 3 s after the crowd erupted the published score has come most of the way
    assert out[int(15 * hz)] > 75.0
    # a plain low-pass as still at rest (the filter's min cutoff alone) would not
    still = Model(score_min_cutoff_hz=SHIPPED.score_min_cutoff_hz, score_beta=0.0)
    assert _run(raw, hz, still)[int(15 * hz)] < 60.0


def test_the_tick_rate_does_not_change_the_reading() -> None:
    # a crowd warming up over 20 s, ticked live (10 Hz) and offline (1 Hz)
    def warm(t: float) -> float:
        return 40.0 + 40.0 * min(1.0, max(0.0, (t - 10.0) / 20.0))

    slow = _run([warm(float(i)) for i in range(60)], 1.0)
    fast = _run([warm(i / 10.0) for i in range(600)], 10.0)
    assert max(abs(slow[t] - fast[t * 10]) for t in range(60)) < 1.0
    # a roar is two samples at 1 Hz: the readings meet once it is over
    slow = _run([_roar(float(i)) for i in range(30)], 1.0)
    fast = _run([_roar(i / 10.0) for i in range(300)], 10.0)
    assert max(abs(slow[t] - fast[t * 10]) for t in range(15, 30)) < 1.0


def test_repeated_instant_moves_nothing() -> None:
    s = smoothing.step(None, 50.0, 10.0, SHIPPED)
    assert smoothing.step(s, 90.0, 10.0, SHIPPED) is s
    assert smoothing.step(s, 90.0, 9.0, SHIPPED) is s


def _zone(score: float | None) -> ZoneScore:
    return ZoneScore("floor", score, 1.0, 20 if score is not None else 2)


def test_a_silent_zone_starts_afresh() -> None:
    smoother = smoothing.ScoreSmoother(SHIPPED)
    smoother.zones([_zone(40.0)], 0)
    moved = smoother.zones([_zone(90.0)], 1000)[0].score
    assert moved is not None and 40.0 < moved < 90.0
    assert smoother.zones([_zone(None)], 2000)[0].score is None
    assert smoother.zones([_zone(90.0)], 3000)[0].score == 90.0


def test_min_cutoff_zero_turns_it_off() -> None:
    smoother = smoothing.ScoreSmoother(Model(score_min_cutoff_hz=0.0))
    smoother.zones([_zone(40.0)], 0)
    assert smoother.zones([_zone(90.0)], 100)[0].score == 90.0
