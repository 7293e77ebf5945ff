"""False reactions: the `normal` scenario with no scripted onsets, offline.

The simulated night (sim/runs/runner.py: crowd, bands in fast mode, the radio
medium, relays, WiFi bands) feeds a gateway engine on simulated time, with
the rate control's advertising interval sent back to the bands every 5 s as
the gateway does.  Scripted onsets are taken out: no drops, and no favourite
tracks (whose start the crowd cheers).  People still clap along and cheer on
their own as their engagement says (sim/world/crowd.py), and every band still flags
its wearer's own onsets, so the flagged reports keep coming; only the crowd
never reacts as one by script.  It can still do so by itself: a zone whose
cheering share passes 0.3 makes every band there hear a cheer swell
(sim/bands/emit.py).  So each reaction the gateway reports is checked against the
simulation's truth: if at least a tenth of that zone's (or the venue's) bands
started to clap or cheer within half a second in the 2 s before, it counts
as a crowd reaction (`crowd_reactions`); otherwise it is false.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

import numpy as np
import numpy.typing as npt

from crowdpulse.gateway.engine import Engine
from crowdpulse.gateway.sentiment import Model
from crowdpulse.sim.runs.runner import SimRun
from crowdpulse.sim.runs.session import RATE_CONTROL_S
from crowdpulse.sim.runs.sinks import EngineSink
from crowdpulse.sim.world import scenario

KEY = bytes(range(32))
TRUTH_STEPS = 40  # the 2 s before a detection (50 ms steps)...
WINDOW_STEPS = 10  # ...looked at 0.5 s at a time
CROWD_ONSET = 0.10  # a tenth of a zone starting to clap or cheer within 0.5 s is a crowd reacting


def _onset_share(starts: deque[npt.NDArray[np.float64]], row: int) -> float:
    """The most of a row's bands that started clapping or cheering within 0.5 s, lately."""
    s = np.array([x[row] for x in starts])
    if len(s) < WINDOW_STEPS:
        return float(s.sum())
    return float(np.convolve(s, np.ones(WINDOW_STEPS), "valid").max())


def run(devices: int = 10_000, minutes: float | None = None, seed: int = 1) -> dict[str, Any]:
    sc = scenario.load("normal")
    for entry in sc.timeline:
        entry["drop_s"] = 1e9  # no drop
    sc.events = [e for e in sc.events if e.kind not in ("cheer", "clap")]
    sim = SimRun(sc, devices, KEY, 1.8e9, seed=seed)
    sim.crowd.favourites = set()  # no favourite's start to cheer
    engine = Engine("sim", sim.registry, Model())
    sink = EngineSink(engine)
    end = (minutes * 60.0) if minutes else sc.duration_s
    started = time.perf_counter()
    next_rate = 0.0
    nz = len(sc.zones)
    size = np.append(np.bincount(sim.zone_of, minlength=nz), len(sim.zone_of)).astype(np.float64)
    starts: deque[npt.NDArray[np.float64]] = deque(maxlen=TRUTH_STEPS)
    reactions = crowd = 0
    active: set[int] = set()
    while sim.st < end:
        sim.step(sink)
        now_ms = int((sim.t0 + sim.t) * 1000)
        sink.flush(now_ms)
        per_zone = np.bincount(sim.zone_of, weights=sim.started, minlength=nz)
        starts.append(np.append(per_zone, per_zone.sum()) / size)
        if sim.t >= next_rate:
            sim.command({"adv_interval_ms": engine.adv_interval_ms(now_ms)})
            next_rate = sim.t + RATE_CONTROL_S
        with engine.lock:
            engine.reactions.expire(now_ms)
            now_active = set(engine.reactions.active)
        for row in now_active - active:  # a zone or the venue starts reacting
            if _onset_share(starts, row) >= CROWD_ONSET:
                crowd += 1  # the simulated crowd did react as one (a zone's cheer swell)
            else:
                reactions += 1
        active = now_active
    hours = sim.t / 3600.0
    return {
        "crowd_reactions": crowd,
        "false_reactions": reactions,
        "false_hours": round(hours, 3),
        "false_reactions_per_hour": round(reactions / hours, 2),
        "false_devices": devices,
        "false_wall_s": round(time.perf_counter() - started, 1),
    }
