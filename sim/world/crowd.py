"""The crowd: people in zones, with hidden tastes, whose engagement we know.

Each person has tastes (genre likes, a preferred energy and tempo, favourite
tracks), an engagement 0-1 that moves towards how much they like what plays,
pulled towards their zone's mood (contagion) and worn down by fatigue.  What
they do follows from it: clap on the beat, cheer at drops and at the start of
a favourite, sing along, move.  The ground truth of a run is their
engagement, on the same 0-100 scale the gateway publishes (docs/sentiment.md:
a quiet room ~10, music with a passive crowd ~38, the rest is engagement).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from crowdpulse.selector.library import Track

F64 = npt.NDArray[np.float64]
TAU_S = 40.0  # how fast a person's engagement follows the music
CONTAGION = 0.35  # share of the pull that comes from the zone's mood
AMBIENCE_MUSIC = 0.38  # the published scale: music with a passive crowd
AMBIENCE_QUIET = 0.10


@dataclass
class Actions:
    """What everyone is doing right now (arrays over people)."""

    clapping: npt.NDArray[np.bool_]
    cheering: npt.NDArray[np.bool_]
    singing: npt.NDArray[np.bool_]
    motion_g: F64


class Crowd:
    def __init__(
        self,
        zones: list[str],
        people_per_zone: list[int],
        genres: list[str],
        rng: np.random.Generator,
        favourites: list[str] | None = None,
        mood: float = 0.15,
    ) -> None:
        self.rng = rng
        self.zones = zones
        self.zone = np.concatenate([np.full(n, z, np.int32) for z, n in enumerate(people_per_zone)])
        n = len(self.zone)
        self.genres = [g.lower() for g in genres]
        # a shared taste for the crowd, plus each person's own
        shared = rng.normal(0.0, 0.15, len(genres))
        self.genre_like = shared + rng.normal(0.0, 0.12, (n, len(genres)))
        self.energy_pref = np.clip(rng.normal(rng.uniform(0.5, 0.8), 0.12, n), 0.1, 1.0)
        self.bpm_pref = rng.normal(rng.uniform(115, 135), 8.0, n)
        self.favourites = set(favourites or [])
        self.engagement = np.clip(rng.normal(mood, 0.05, n), 0, 1)
        self.fatigue = np.zeros(n)
        self.present = np.ones(n, dtype=bool)
        self.phase = rng.uniform(0, 1, n)  # where in the bar each person's hands are
        self.cheer_left = np.zeros(n)
        self.clapping_now = np.zeros(n, dtype=bool)
        self.track: Track | None = None
        self.track_started = 0.0

    def __len__(self) -> int:
        return len(self.zone)

    def play(self, track: Track | None, now: float) -> None:
        """A new track starts (None: silence)."""
        self.track, self.track_started = track, now
        if track is not None and track.id in self.favourites:
            self._cheer(0.8, 4.0)  # the start of a favourite

    def drop(self) -> None:
        """The drop of the track: the engaged cheer."""
        self._cheer(0.6, 3.0)

    def _cheer(self, min_engagement: float, seconds: float) -> None:
        who = self.present & (
            self.engagement > min_engagement * self.rng.uniform(0.6, 1.0, len(self))
        )
        self.cheer_left[who] = np.maximum(
            self.cheer_left[who], seconds * self.rng.uniform(0.6, 1.4, who.sum())
        )

    def appeal(self) -> F64:
        """How much each person likes what plays (0-1)."""
        t = self.track
        if t is None:
            return np.full(len(self), 0.05)
        g = self.genres.index(t.genre.lower()) if t.genre.lower() in self.genres else -1
        like = self.genre_like[:, g] if g >= 0 else np.full(len(self), -0.1)
        want = np.clip(self.energy_pref - 0.3 * self.fatigue, 0, 1)
        value = (
            0.55 + like - 1.2 * (t.energy - want) ** 2 - 0.5 * ((t.bpm - self.bpm_pref) / 30.0) ** 2
        )
        if t.id in self.favourites:
            value = value + 0.15
        return np.clip(value, 0.0, 1.0)

    def step(self, dt: float) -> None:
        target = self.appeal()
        for z in range(len(self.zones)):
            here = (self.zone == z) & self.present
            if here.any():
                mood = float(self.engagement[here].mean())
                target[here] = (1 - CONTAGION) * target[here] + CONTAGION * mood
        self.engagement += (target - self.engagement) * (1 - np.exp(-dt / TAU_S))
        energy = self.track.energy if self.track is not None else 0.0
        self.fatigue = np.clip(
            self.fatigue + dt / 3600 * (1.5 * energy * self.engagement - 0.5), 0, 1
        )
        # cheering expresses engagement; it does not feed it (a loop that would
        # drive every crowd to 100 and keep it there)
        self.cheer_left = np.maximum(self.cheer_left - dt, 0)

    def actions(self, now: float) -> Actions:
        """What engagement looks like (docs/sentiment.md's anchors): from about 0.3
        people start clapping along, most do by 0.6; the most engaged cheer on
        their own, everyone engaged cheers at drops; favourites get sung."""
        e = self.engagement * self.present
        playing = self.track is not None
        keep = self.clapping_now & (self.rng.random(len(self)) < 0.97)  # people clap for a while
        start = self.rng.random(len(self)) < 0.05 * np.clip((e - 0.3) / 0.3, 0, 1)
        stop = e < 0.25
        self.clapping_now = playing & (keep | start) & ~stop & self.present
        spontaneous = playing & (
            self.rng.random(len(self)) < 0.01 * np.clip((e - 0.6) / 0.2, 0, 1.5)
        )
        self.cheer_left[spontaneous] = np.maximum(self.cheer_left[spontaneous], 2.5)
        favourite = bool(self.track is not None and self.track.id in self.favourites)
        singing = playing & favourite & (e > 0.45)
        return Actions(
            self.clapping_now,
            (self.cheer_left > 0) & self.present,
            singing & self.present,
            np.where(self.present, 0.05 + 0.9 * e * (self.track.energy if self.track else 0), 0.0),
        )

    def truth(self) -> tuple[float | None, list[float | None]]:
        """Ground truth on the published 0-100 scale: venue, then each zone."""
        amb = AMBIENCE_MUSIC if self.track is not None else AMBIENCE_QUIET
        score = 100.0 * (amb + (1 - amb) * self.engagement)
        zones: list[float | None] = []
        for z in range(len(self.zones)):
            here = (self.zone == z) & self.present
            zones.append(float(score[here].mean()) if here.any() else None)
        venue = float(score[self.present].mean()) if self.present.any() else None
        return venue, zones

    def arrive(self, fraction: float) -> None:
        """Some of those not here arrive (or, with a negative fraction, leave)."""
        if fraction >= 0:
            absent = np.flatnonzero(~self.present)
            come = absent[self.rng.random(len(absent)) < fraction]
            self.present[come] = True
            self.engagement[come] = 0.15
        else:
            here = np.flatnonzero(self.present)
            self.present[here[self.rng.random(len(here)) < -fraction]] = False

    def beat_phase(self, now: float) -> float:
        bpm = self.track.bpm if self.track is not None else 120.0
        return ((now - self.track_started) * bpm / 60.0) % 1.0
