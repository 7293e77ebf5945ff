"""A simulated night with the selector in the loop, on simulated time.

The crowd hears what the selector plays through the simulated deck, in auto
mode; the gateway's engine scores it; once a second the zone-level history and
the selector's state and log go to a SQLite file, as a live gateway writes
them.  `crowdpulse sim --scenario NAME --db night.db` runs it, and
`crowdpulse report --db night.db` turns the file into the post-show report.
Scenario `dj_plays` events are the artist overriding the selector.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

from crowdpulse.gateway.engine import Engine
from crowdpulse.gateway.sentiment import Model
from crowdpulse.gateway.store import Store
from crowdpulse.selector.deck import SimulatedDeck
from crowdpulse.selector.flow import Flow
from crowdpulse.selector.library import Track
from crowdpulse.selector.picker import Selector
from crowdpulse.selector.playback import Playback
from crowdpulse.selector.store import SelectorStore
from crowdpulse.sim.runs.session import (
    RATE_CONTROL_S as RATE_CONTROL_S,  # night's name, re-exported
)
from crowdpulse.sim.runs.session import control_rate, offline_run, offline_step
from crowdpulse.sim.runs.sinks import EngineSink
from crowdpulse.sim.world.scenario import Scenario

SCORE_EVERY_S = 0.5  # the selector hears the venue twice a second (the gateway: ten times)


@dataclass
class Night:
    tracks_played: int
    recoveries: int
    seconds: float
    wall_s: float


def shortened(tracks: list[Track], seconds: float | None) -> list[Track]:
    """The library with every track cut to `seconds` (the demo's short set)."""
    if not seconds:
        return tracks
    return [dataclasses.replace(t, duration_s=min(t.duration_s, seconds)) for t in tracks]


def night(
    sc: Scenario,
    devices: int,
    venue_key: bytes,
    db_path: str,
    venue: str = "sim",
    seed: int | None = None,
    seconds: float | None = None,
    track_s: float | None = None,
    mode: str = "fast",
    t0_s: float | None = None,
) -> Night:
    started = time.perf_counter()
    run = offline_run(sc, devices, venue_key, t0_s, seed=seed, mode=mode)
    run.tracks = shortened(run.tracks, track_s)
    run.follow = "selector"
    engine = Engine(venue, run.registry, Model())
    sink = EngineSink(engine)
    store = Store(db_path, retention_hours=24.0)
    store.describe(venue, 24.0, engine.model.k_anonymity)
    picks = SelectorStore(db_path)

    def clock() -> float:
        return run.t0 + run.t

    selector = Selector(
        run.tracks,
        picks,
        flow=Flow(),
        mode="auto",
        seed=sc.seed if seed is None else seed,
        clock=clock,
    )
    deck = SimulatedDeck(run.tracks, clock=clock, driven=True)
    Playback(selector, deck).start()
    by_id = {t.id: t for t in run.tracks}
    end = min(sc.duration_s, seconds) if seconds else sc.duration_s
    playing, next_score, next_store, next_rate = None, 0.0, 0.0, 0.0
    try:
        while run.st < end:
            now_ms = offline_step(run, sink)
            for t in run.dj_requests:  # the artist puts a track on, from the console
                selector.act({"action": "playing", "track_id": t.id}, who="artist")
            run.dj_requests = []
            deck.advance(clock())
            now = selector.now["track_id"] if selector.now else None
            if now != playing:
                playing = now
                if now:
                    run.play(by_id[now])
                else:
                    run.crowd.play(None, clock())
            if run.t >= next_score:
                snap = engine.tick(now_ms)
                selector.on_sentiment(snap)
                next_score += SCORE_EVERY_S
                if run.t >= next_store:
                    store.write(snap)
                    next_store += 1.0
            next_rate = control_rate(run, engine, now_ms, next_rate)
        if selector.now is not None:
            selector.on_player(None, clock(), "deck")  # the night ends: measure the last track
        recoveries = sum(
            1
            for e in picks.recent_log(10_000)
            if e["action"] in ("queue recovery", "suggest recovery")
        )
        return Night(len(selector.history), recoveries, run.t, time.perf_counter() - started)
    finally:
        store.close()
        picks.close()
