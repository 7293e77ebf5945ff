"""False reactions: the `normal` scenario with no scripted onsets, offline.

The simulated night (sim/runner.py: crowd, bands in fast mode, the radio
medium, relays, WiFi bands) feeds a gateway engine on simulated time, with
the rate control's advertising interval sent back to the bands every 5 s as
the gateway does.  Scripted onsets are taken out: no drops, and no favourite
tracks (whose start the crowd cheers).  People still clap along and cheer on
their own as their engagement says (sim/crowd.py), and every band still flags
its wearer's own onsets, so the flagged reports keep coming; only the crowd
never reacts as one.  Every reaction the gateway reports is then false.
"""

from __future__ import annotations

import time
from typing import Any

from crowdpulse.gateway.core import Engine
from crowdpulse.gateway.sentiment import Model
from crowdpulse.sim import scenario
from crowdpulse.sim.runner import SimRun
from crowdpulse.sim.session import RATE_CONTROL_S
from crowdpulse.sim.sinks import EngineSink

KEY = bytes(range(32))


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
    reactions = 0
    active = False
    while sim.st < end:
        sim.step(sink)
        now_ms = int((sim.t0 + sim.t) * 1000)
        sink.flush(now_ms)
        if sim.t >= next_rate:
            sim.command({"adv_interval_ms": engine.adv_interval_ms(now_ms)})
            next_rate = sim.t + RATE_CONTROL_S
        with engine.lock:
            engine.reactions.expire(now_ms)
            now_active = bool(engine.reactions.active)
        reactions += int(now_active and not active)  # a zone or the venue starts reacting
        active = now_active
    hours = sim.t / 3600.0
    return {
        "false_reactions": reactions,
        "false_hours": round(hours, 3),
        "false_reactions_per_hour": round(reactions / hours, 2),
        "false_devices": devices,
        "false_wall_s": round(time.perf_counter() - started, 1),
    }
