"""Adaptive Flow: when the crowd stays below the threshold, put a mood-recovery
track next; with hysteresis and a cooldown so that it never thrashes.

    normal --below threshold--> dipping --for dwell_s--> recovering (trigger)
    dipping --back above threshold--> normal
    recovering --at or above threshold + margin--> cooldown --cooldown_s--> normal
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Flow:
    threshold: float = 40.0
    dwell_s: float = 20.0
    margin: float = 10.0  # recovered means back above threshold + margin (50)
    cooldown_s: float = 300.0
    state: str = "normal"
    below_since: float | None = None
    triggered_at: float | None = None
    cooldown_until: float | None = None

    def update(self, score: float | None, now: float) -> str | None:
        """Feed the venue score; returns 'trigger' or 'recovered' when that happens."""
        if score is None:
            return None
        if (
            self.state == "cooldown"
            and self.cooldown_until is not None
            and now >= self.cooldown_until
        ):
            self.state, self.cooldown_until, self.below_since = "normal", None, None
        if self.state == "recovering":
            if score >= self.threshold + self.margin:
                self.state, self.cooldown_until = "cooldown", now + self.cooldown_s
                return "recovered"
            return None
        if score >= self.threshold:
            if self.state == "dipping":
                self.state = "normal"
            self.below_since = None
            return None
        if self.below_since is None:
            self.below_since = now
        if self.state == "normal":
            self.state = "dipping"
        if self.state == "dipping" and now - self.below_since >= self.dwell_s:
            self.state, self.triggered_at = "recovering", now
            return "trigger"
        return None

    def as_dict(self) -> dict[str, object]:
        def ms(t: float | None) -> int | None:
            return None if t is None else int(t * 1000)

        return {
            "threshold": self.threshold,
            "dwell_s": self.dwell_s,
            "state": self.state,
            "below_since_ms": ms(self.below_since),
            "cooldown_until_ms": ms(self.cooldown_until),
        }
