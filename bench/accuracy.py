"""`crowdpulse bench accuracy`: the gateway's sentiment against the ground truth.

Every shipped scenario, then `heldout` scenarios generated with a seed that
no tuning used (sim/scengen.py), run offline: the simulated crowd, its bands
and the radio medium feed a gateway engine in the same process, on simulated
time.  Once a second the gateway's venue score is compared with the crowd's
true engagement (sim/crowd.py).  The first 10 s (the gateway's windows
filling) are left out.  Figures are per scenario, then the mean over them.

Then the sweep (bench/sweep.py): the same comparison on nights spread over
what the acoustic model leaves uncertain (crowd-to-PA level, PA level, IMU
share, with and without a music reference); `sweep_worst_spearman` is the
worst of them.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from crowdpulse.bench import sweep as sweeps
from crowdpulse.sim import scenario as scenarios
from crowdpulse.sim import scengen, session
from crowdpulse.sim.scenario import Scenario

KEY = bytes(range(32))


def _score(sc: Scenario, devices: int, minutes: float | None) -> dict[str, Any]:
    res = session.offline(sc, devices, KEY, seconds=minutes * 60 if minutes else None, t0_s=1.8e9)
    mae, rho, n = res.accuracy()
    return {"scenario": sc.name, "mae": round(mae, 2), "spearman": round(rho, 3), "samples": n,
            "radio_loss": round(res.radio.loss, 3), "wall_s": round(res.wall_s, 1)}


def _mean(rows: list[dict[str, Any]], key: str) -> float | None:
    vals = [r[key] for r in rows if np.isfinite(r[key])]
    return round(float(np.mean(vals)), 3) if vals else None


def run(devices: int = 1000, heldout: int = 4, minutes: float | None = None, sweep: str = "design",
        workers: int = 2) -> dict[str, Any]:
    """sweep: "design" (the sub-sampled grid), "full" (every point) or "off"."""
    started = time.perf_counter()
    shipped = []
    for name in scenarios.shipped():
        shipped.append(_score(scenarios.load(name), devices, minutes))
        print(f"  {shipped[-1]}", flush=True)
    held = []
    for i in range(heldout):
        held.append(_score(scengen.generate(i), devices, minutes))
        print(f"  {held[-1]}", flush=True)
    out = {"devices": devices, "scenarios": len(shipped), "heldout_scenarios": len(held),
           "spearman": _mean(shipped, "spearman"), "mae": _mean(shipped, "mae"),
           "heldout_spearman": _mean(held, "spearman"), "heldout_mae": _mean(held, "mae"),
           "worst_spearman": min((r["spearman"] for r in shipped + held), default=None),
           "worst_mae": max((r["mae"] for r in shipped + held), default=None),
           "per_scenario": shipped + held}
    if sweep != "off":
        out.update(sweeps.run(full=sweep == "full", workers=workers))
    out["wall_s"] = round(time.perf_counter() - started, 1)
    return out
