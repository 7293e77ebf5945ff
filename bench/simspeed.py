"""`crowdpulse bench sim`: how many bands each fidelity mode runs in real time.

The `normal` scenario's crowd, bands, radio and relays, stepped on one core
into a sink that drops what the relays send (the gateway is not measured
here: see bench ingest).  The bands advertise at the interval the gateway's
rate control would give them.  Figure: simulated seconds per wall second
(>= 1 is real time), after a warm-up that compiles the numba kernels.
"""

from __future__ import annotations

import time
from typing import Any

from crowdpulse.gateway.ratecontrol import best_interval_ms
from crowdpulse.sim.runs.runner import STEP_S, SimRun
from crowdpulse.sim.runs.session import NullSink
from crowdpulse.sim.world import scenario


def speed(devices: int, mode: str, seconds: float) -> float:
    run = SimRun(scenario.load("normal"), devices, bytes(range(32)), time.time(), mode=mode)
    busiest = max(run.zone_of.tolist().count(z) for z in set(run.zone_of.tolist()))
    run.command({"adv_interval_ms": best_interval_ms(busiest)})
    sink = NullSink()
    for _ in range(int(2.0 / STEP_S)):
        run.step(sink)
    steps = int(seconds / STEP_S)
    start = time.perf_counter()
    for _ in range(steps):
        run.step(sink)
    return steps * STEP_S / (time.perf_counter() - start)


def run(
    fast_devices: int = 50_000, twin_devices: int = 2_000, seconds: float = 10.0
) -> dict[str, Any]:
    fast = speed(fast_devices, "fast", seconds)
    twin = speed(twin_devices, "twin", seconds)
    return {
        "fast_devices": fast_devices,
        "fast_realtime_factor": round(fast, 2),
        "twin_devices": twin_devices,
        "twin_realtime_factor": round(twin, 2),
        "seconds": seconds,
    }
