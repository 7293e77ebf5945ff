"""`crowdpulse bench select`: the selector against a crowd whose tastes it cannot see.

For each seed, a crowd with hidden tastes (sim/world/tastes.py) hears a two-hour
set from the sample library, four times over:
- the real Selector in auto mode, fed only the (noisy) venue sentiment;
- an oracle that knows the tastes and always plays what the crowd will like most;
- random picks, and the library's own order (both within the same mixing rules).
Every 25 minutes the artist forces an unloved track, so the crowd dips; the
bench times how long each policy takes to bring it from below 40 back above 50.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np

from crowdpulse.selector.library import Track, sample_library
from crowdpulse.selector.picker import Selector
from crowdpulse.selector.rules import Rules, allowed
from crowdpulse.sim.world.tastes import Crowd

SHOCK_EVERY_S = 1500.0
T0 = 1_800_000_000.0  # simulated wall clock


def _compliant(
    tracks: list[Track],
    prev: Track | None,
    played: list[tuple[Track, float]],
    now: float,
    rules: Rules,
) -> list[Track]:
    ids = {t.id for t, _ in played}
    last = {t.artist.lower(): at for t, at in played}
    ok = [t for t in tracks if allowed(prev, t, ids, last, now, rules) is None]
    return ok or [t for t in tracks if t.id not in ids] or tracks


class Run:
    """One set: the crowd's engagement every second, and the dips it went through."""

    def __init__(self, crowd: Crowd, hours: float) -> None:
        self.crowd = crowd
        self.end = T0 + hours * 3600
        self.trace: list[float] = []
        self.dips: list[float] = []
        self._below: float | None = None
        self._armed = True

    def play(
        self, t: Track, now: float, seconds: float, on_tick: Callable[[float, float], None] | None
    ) -> float:
        self.crowd.start(t)
        stop = min(now + seconds, self.end)
        while now < stop:
            e = self.crowd.step(t, 1.0)
            now += 1.0
            self.trace.append(e)
            obs = self.crowd.observed()
            self._dip(obs, now)
            if on_tick is not None:
                on_tick(now, obs)
        return now

    def _dip(self, score: float, now: float) -> None:
        if score < 40 and self._below is None and self._armed:
            self._below, self._armed = now, False
        elif score >= 50:
            if self._below is not None:
                self.dips.append(now - self._below)
                self._below = None
            self._armed = True


def _worst(tracks: list[Track], crowd: Crowd) -> Track:
    return min(tracks, key=crowd.appeal)


def simple_policy(
    pick: Callable[[list[Track], Crowd, int], Track],
    tracks: list[Track],
    crowd: Crowd,
    hours: float,
    rules: Rules,
) -> Run:
    run = Run(crowd, hours)
    played: list[tuple[Track, float]] = []
    now, prev, n = T0, None, 0
    next_shock = T0 + SHOCK_EVERY_S
    while now < run.end:
        cands = _compliant(tracks, prev, played, now, rules)
        t = _worst(cands, crowd) if now >= next_shock else pick(cands, crowd, n)
        if now >= next_shock:
            next_shock += SHOCK_EVERY_S
        played.append((t, now))
        now = run.play(t, now, t.duration_s, None)
        prev, n = t, n + 1
    return run


def selector_policy(
    tracks: list[Track], crowd: Crowd, hours: float, rules: Rules, seed: int
) -> Run:
    clock = [T0]
    sel = Selector(tracks, None, rules, mode="auto", seed=seed, clock=lambda: clock[0])
    run = Run(crowd, hours)
    first = sel.rank(1)[0].track
    sel.act({"action": "playing", "track_id": first.id, "source": "console"})
    next_shock = T0 + SHOCK_EVERY_S
    trend: list[float] = []

    def tick(now: float, obs: float) -> None:
        clock[0] = now
        trend.append(obs)
        slope = (trend[-1] - trend[-30]) * 2.0 if len(trend) >= 30 else 0.0
        sel.on_sentiment({"t": int(now * 1000), "score": obs, "trend_per_min": slope})

    now = T0
    while now < run.end and sel.now is not None:
        t = sel.tracks[sel.now["track_id"]]
        left = t.duration_s - (now - sel.now["started_ms"] / 1000.0)
        if now >= next_shock:  # the artist forces an unloved track next
            next_shock += SHOCK_EVERY_S
            played = [(sel.tracks[h["track_id"]], h["started_ms"] / 1000) for h in sel.history]
            worst = _worst(_compliant(tracks, t, played, now, rules), crowd)
            sel.act({"action": "pin", "track_id": worst.id})
        # play to the end of the track (at least a second, so the selector can advance)
        now = run.play(t, now, max(left, 1.0), tick)
    return run


def run(hours: float = 2.0, seeds: tuple[int, ...] = (1, 2, 3)) -> dict[str, Any]:
    tracks = sample_library()
    rules = Rules()
    genres = sorted({t.genre for t in tracks})
    means: dict[str, list[float]] = {"selector": [], "oracle": [], "random": [], "library": []}
    dips: list[float] = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        crowd = Crowd.random(genres, rng)
        crowd.like_artists(sorted({t.artist for t in tracks}))

        def oracle(cs: list[Track], cr: Crowd, n: int) -> Track:
            return max(cs, key=cr.appeal)

        def random_pick(
            cs: list[Track], cr: Crowd, n: int, rng: np.random.Generator = rng
        ) -> Track:
            return cs[int(rng.integers(len(cs)))]

        def in_order(cs: list[Track], cr: Crowd, n: int) -> Track:
            return cs[0]

        pickers = {"oracle": oracle, "random": random_pick, "library": in_order}
        for name in ("oracle", "random", "library", "selector"):
            c = copy.deepcopy(crowd)
            r = (
                selector_policy(tracks, c, hours, rules, seed)
                if name == "selector"
                else simple_policy(pickers[name], tracks, c, hours, rules)
            )
            means[name].append(float(np.mean(r.trace)))
            if name == "selector":
                dips += r.dips
    total = {k: float(np.sum(v)) for k, v in means.items()}
    return {
        "hours": hours,
        "seeds": list(seeds),
        "selector_engagement": round(total["selector"] / len(seeds), 2),
        "oracle_engagement": round(total["oracle"] / len(seeds), 2),
        "vs_oracle": total["selector"] / total["oracle"],
        "random_vs_oracle": total["random"] / total["oracle"],
        "library_order_vs_oracle": total["library"] / total["oracle"],
        "recovery_median_s": float(np.median(dips)) if dips else None,
        "recoveries": len(dips),
    }
