"""The published score holds still while the crowd does, and moves when it moves.

A zone's raw score (gateway/sentiment.py) is a 4-second window of what its
bands heard, so it carries the window's own jitter: a few tenths of a point
from one tick to the next, and a point or two when the music drops or a few
people whoop.  A DJ reading the number, the selector learning from it and
Adaptive Flow's threshold all want the crowd's state, not that jitter; but a
plain low-pass filter slow enough to remove it would also hold a real roar
back by seconds.

So each zone's score goes through a 1€ filter (Casiez, Roussel & Vogel,
"1€ Filter: A Simple Speed-based Low-pass Filter for Noisy Input in
Interactive Systems", CHI 2012): a first-order low-pass whose cutoff rises
with the score's own speed,

    speed  = low-pass at d_cutoff of (x_t - x_prev) / dt
    cutoff = min_cutoff + beta * |speed|
    y_t    = y_prev + (1 - exp(-2 pi cutoff dt)) * (x_t - y_prev)

While the score wanders by tenths, the cutoff stays near `min_cutoff` and the
jitter is averaged away; when a crowd erupts (tens of points a second) the
cutoff rises and the score follows within seconds (a 45-point roar reads 80
within 3 s), while the reaction fast path carries the first tenth of a second.  It runs on the
gateway's clock (each tick's timestamp), so the live gateway at 10 Hz and the
offline bench at 1 Hz filter alike.  That is why it is written out here and
not taken from PyPI's `OneEuroFilter` 0.2.1: that package takes the speed
against the last *filtered* value, not the last input as the authors'
reference code does, so its speed grows with the tick rate (a 40-to-80 ramp
over 20 s reads 55.5 at 10 s when ticked at 1 Hz, 58.3 at 10 Hz:
docs/sentiment.md).

The venue score is the zones' smoothed scores, weighted as before
(gateway/darkzones.py).  The reaction fast path (gateway/reaction.py) is
beside the score and never filtered.  A zone that stops publishing
(k-anonymity, gone dark) starts afresh when it returns: an old state says
nothing about a new crowd.

A look at another instant (`GET /api/state?at=`) is not filtered: the filter's
state is the live timeline's, built from the instants this gateway happened to
tick at and the reports it had by then, so it says nothing exact about any
other instant.  The look reads the model's window at that instant, which any
gateway holding the same reports reads alike (tests/test_scaleout.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from crowdpulse.gateway.sentiment import Model, ZoneScore


@dataclass(frozen=True)
class State:
    t_s: float
    raw: float
    speed: float  # points per second, low-passed at d_cutoff
    value: float


def step(s: State | None, x: float, t_s: float, m: Model) -> State:
    """One tick of the 1€ filter (the module docstring's equations)."""
    if s is None:
        return State(t_s, x, 0.0, x)
    dt = t_s - s.t_s
    if dt <= 0:  # a repeated or earlier instant has no speed: nothing moves
        return s
    speed = s.speed + _alpha(m.score_d_cutoff_hz, dt) * ((x - s.raw) / dt - s.speed)
    cutoff = m.score_min_cutoff_hz + m.score_beta * abs(speed)
    value = s.value + _alpha(cutoff, dt) * (x - s.value)
    return State(t_s, x, speed, value)


def _alpha(cutoff_hz: float, dt: float) -> float:
    return 1.0 - math.exp(-2.0 * math.pi * cutoff_hz * dt)


class ScoreSmoother:
    def __init__(self, m: Model) -> None:
        self.model = m
        self.states: dict[str, State] = {}

    def zones(self, zones: list[ZoneScore], now_ms: int) -> list[ZoneScore]:
        """Each zone's score, smoothed, at the live tick now_ms.  A min_cutoff of 0
        turns smoothing off."""
        if self.model.score_min_cutoff_hz <= 0:
            return zones
        out = []
        for z in zones:
            if z.score is None:
                self.states.pop(z.zone, None)
                out.append(z)
                continue
            s = step(self.states.get(z.zone), z.score, now_ms / 1000.0, self.model)
            self.states[z.zone] = s
            out.append(replace(z, score=min(100.0, max(0.0, s.value))))
        return out
