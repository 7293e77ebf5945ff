"""Online engagement model: Bayesian linear regression with Thompson sampling.

It predicts how the crowd will respond to a track (the mean venue sentiment
while it plays) from the track's features and the crowd's state when it
starts.  After every track it learns from what the crowd actually did.
Thompson sampling (acting on one draw from the posterior) makes it try
promising but uncertain tracks early in the night and settle later.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from crowdpulse.selector.library import Track

F64 = npt.NDArray[np.float64]


class Features:
    """phi(track, crowd state): the model's view of a candidate."""

    def __init__(self, genres: Sequence[str]) -> None:
        self.genres = sorted({g.lower() for g in genres if g})
        self.names = [
            "bias",
            "sentiment_before",
            "energy",
            "energy^2",
            "energy-vs-mood",
            "bpm",
            "bpm^2",
            "recovery",
            "hours_in",
            "energy*hours",
        ] + [f"genre:{g}" for g in self.genres]

    def __len__(self) -> int:
        return len(self.names)

    def __call__(self, t: Track, sentiment: float, hours_in: float) -> F64:
        mood = sentiment / 100.0
        bpm = (t.bpm - 124.0) / 20.0
        base = [
            1.0,
            mood,
            t.energy,
            t.energy**2,
            abs(t.energy - mood),
            bpm,
            bpm**2,
            1.0 if t.recovery else 0.0,
            hours_in,
            t.energy * hours_in,
        ]
        genre = [1.0 if t.genre.lower() == g else 0.0 for g in self.genres]
        return np.array(base + genre)


class EngagementModel:
    """y = phi . w + noise, w ~ N(mean, cov), updated in closed form per track."""

    def __init__(
        self,
        features: Features,
        prior_sd: float = 15.0,
        noise_sd: float = 8.0,
        recovery_prior: float = 6.0,
        seed: int | None = None,
    ) -> None:
        self.f = features
        n = len(features)
        prior = np.zeros(n)
        prior[features.names.index("bias")] = 35.0  # a passive room with music
        prior[features.names.index("sentiment_before")] = 50.0  # crowds carry their mood
        prior[features.names.index("recovery")] = recovery_prior  # favourites lift a crowd
        self.noise_var = noise_sd**2
        self.precision = np.eye(n) / prior_sd**2
        self.b = self.precision @ prior
        self.rng = np.random.default_rng(seed)
        self.updates = 0

    @property
    def mean(self) -> F64:
        return np.asarray(np.linalg.solve(self.precision, self.b))

    def predict(self, phi: F64) -> tuple[float, float]:
        """(expected response, its standard deviation)."""
        cov_phi = np.linalg.solve(self.precision, phi)
        var = float(phi @ cov_phi)
        return float(phi @ self.mean), float(np.sqrt(max(var, 0.0)))

    def sample(self) -> F64:
        """One draw of w from the posterior (Thompson sampling)."""
        cov = np.linalg.inv(self.precision)
        cov = (cov + cov.T) / 2
        return np.asarray(self.rng.multivariate_normal(self.mean, cov, method="cholesky"))

    def update(self, phi: F64, y: float) -> None:
        self.precision += np.outer(phi, phi) / self.noise_var
        self.b += phi * y / self.noise_var
        self.updates += 1

    def to_state(self) -> dict[str, object]:
        return {
            "names": self.f.names,
            "precision": self.precision.tolist(),
            "b": self.b.tolist(),
            "updates": self.updates,
        }

    def load_state(self, state: dict[str, object]) -> None:
        if state.get("names") != self.f.names:
            return  # a different library: start from the prior again
        self.precision = np.array(state["precision"], dtype=float)
        self.b = np.array(state["b"], dtype=float)
        self.updates = int(state.get("updates", 0))  # type: ignore[call-overload]
