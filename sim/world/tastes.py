"""A crowd with hidden tastes, for testing track selection against a known truth.

The crowd has preferences the selector never sees: how much it likes each
genre, the energy it wants (which drifts with fatigue), the tempo it moves
to, and a soft spot for favourites.  Its engagement (0-100) moves towards
how much it likes what is playing, with a time constant of about a minute;
playing the same genre again and again wears it out.  The gateway's view is
the engagement plus measurement noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from crowdpulse.selector.library import Track


@dataclass
class Crowd:
    genre_like: dict[str, float]
    energy_pref: float
    bpm_pref: float
    artist_like: dict[str, float] = field(
        default_factory=dict
    )  # nothing in the tracks' features says this
    peak_hour: float = 1.5  # when the crowd wants the most energy
    favourite_bonus: float = 8.0
    tau_s: float = 60.0
    engagement: float = 38.0
    fatigue: float = 0.0
    genre_streak: dict[str, int] = field(default_factory=dict)
    hours: float = 0.0
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))

    @classmethod
    def random(cls, genres: list[str], rng: np.random.Generator) -> Crowd:
        likes = {g.lower(): float(rng.normal(0.0, 12.0)) for g in genres}
        return cls(
            likes,
            float(rng.uniform(0.45, 0.85)),
            float(rng.uniform(110, 140)),
            peak_hour=float(rng.uniform(0.8, 2.0)),
            rng=rng,
        )

    def like_artists(self, artists: list[str]) -> None:
        self.artist_like = {a.lower(): float(self.rng.normal(0.0, 6.0)) for a in artists}

    def wanted_energy(self) -> float:
        # rises towards the peak of the night, then eases; fatigue pulls it down
        swing = 0.15 * math.cos(math.pi * (self.hours - self.peak_hour) / 2.0)
        return min(1.0, max(0.0, self.energy_pref + swing - 0.25 * self.fatigue))

    def appeal(self, t: Track) -> float:
        """Engagement (0-100) this track would settle at, right now."""
        g = t.genre.lower()
        streak = self.genre_streak.get(g, 0)
        value = 55.0 + self.genre_like.get(g, -5.0) - 4.0 * max(streak - 2, 0)
        value -= 80.0 * (t.energy - self.wanted_energy()) ** 2
        value -= 25.0 * ((t.bpm - self.bpm_pref) / 25.0) ** 2
        value += self.favourite_bonus if t.recovery else 0.0
        value += self.artist_like.get(t.artist.lower(), 0.0)
        return float(min(100.0, max(5.0, value)))

    def start(self, t: Track) -> None:
        g = t.genre.lower()
        self.genre_streak = {g: self.genre_streak.get(g, 0) + 1}

    def step(self, t: Track, dt: float) -> float:
        """Advance dt seconds with t playing; returns the engagement."""
        self.hours += dt / 3600.0
        target = self.appeal(t)
        self.engagement += (target - self.engagement) * (1.0 - math.exp(-dt / self.tau_s))
        self.fatigue = max(0.0, self.fatigue + dt / 3600.0 * (2.0 * t.energy - 1.0))
        return self.engagement

    noise: float = 0.0

    def observed(self) -> float:
        """What the gateway would publish: the truth plus measurement noise that,
        like the gateway's 4-second window, wanders rather than jumps."""
        self.noise = 0.8 * self.noise + self.rng.normal(0.0, 1.2)
        return float(min(100.0, max(0.0, self.engagement + self.noise)))
