"""`crowdpulse bench accuracy`: the gateway's sentiment against the ground truth.

Every shipped scenario, then `heldout` scenarios generated with a seed that
no tuning used (sim/world/scengen.py), run offline: the simulated crowd, its bands
and the radio medium feed a gateway engine in the same process, on simulated
time.  Once a second the gateway's venue score is compared with the crowd's
true engagement (sim/world/crowd.py).  Each runs twice: with a music reference
band, as docs/deploy.md sets a venue up (the keys `spearman`, `mae`,
`heldout_*`), and without one (the same keys ending `_no_reference`).  The
first 10 s (the gateway's windows filling) are left out.  Figures are per
scenario, then the mean over them.

Then the sweep (bench/sweep.py): the same comparison on nights spread over
what the acoustic model leaves uncertain (crowd-to-PA level, PA level, IMU
share, with and without a music reference); `sweep_worst_spearman` is the
worst of them.
"""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from crowdpulse.bench import sweep as sweeps
from crowdpulse.sim.runs import session
from crowdpulse.sim.world import scenario as scenarios
from crowdpulse.sim.world import scengen
from crowdpulse.sim.world.scenario import Scenario

KEY = bytes(range(32))


def _score(job: tuple[Scenario, int, float | None, bool]) -> dict[str, Any]:
    sc, devices, minutes, reference = job
    res = session.offline(
        sc, devices, KEY, seconds=minutes * 60 if minutes else None, t0_s=1.8e9, reference=reference
    )
    mae, rho, n = res.accuracy()
    return {
        "scenario": sc.name,
        "reference": reference,
        "mae": round(mae, 2),
        "spearman": round(rho, 3),
        "samples": n,
        "radio_loss": round(res.radio.loss, 3),
        "wall_s": round(res.wall_s, 1),
    }


def _mean(rows: list[dict[str, Any]], key: str) -> float | None:
    vals = [r[key] for r in rows if np.isfinite(r[key])]
    return round(float(np.mean(vals)), 3) if vals else None


def _summary(
    shipped: list[dict[str, Any]], held: list[dict[str, Any]], suffix: str
) -> dict[str, Any]:
    return {
        f"spearman{suffix}": _mean(shipped, "spearman"),
        f"mae{suffix}": _mean(shipped, "mae"),
        f"heldout_spearman{suffix}": _mean(held, "spearman"),
        f"heldout_mae{suffix}": _mean(held, "mae"),
        f"worst_spearman{suffix}": min((r["spearman"] for r in shipped + held), default=None),
        f"worst_mae{suffix}": max((r["mae"] for r in shipped + held), default=None),
    }


def run(
    devices: int = 1000,
    heldout: int = 4,
    minutes: float | None = None,
    sweep: str = "design",
    workers: int = 2,
) -> dict[str, Any]:
    """Every scenario twice: as docs/deploy.md sets a venue up, with a music
    reference band (the issue's key names), and without one (`*_no_reference`).
    sweep: "design" (the sub-sampled grid), "full" (every point) or "off"."""
    started = time.perf_counter()
    scenes = [scenarios.load(name) for name in scenarios.shipped()]
    held_scenes = [scengen.generate(i) for i in range(heldout)]
    jobs = [(sc, devices, minutes, ref) for ref in (True, False) for sc in scenes + held_scenes]
    with ProcessPoolExecutor(max(1, workers)) as pool:
        rows = []
        for row in pool.map(_score, jobs):
            print(f"  {row}", flush=True)
            rows.append(row)
    out: dict[str, Any] = {
        "devices": devices,
        "scenarios": len(scenes),
        "heldout_scenarios": len(held_scenes),
    }
    for ref, suffix in ((True, ""), (False, "_no_reference")):
        mine = [r for r in rows if r["reference"] is ref]
        out.update(_summary(mine[: len(scenes)], mine[len(scenes) :], suffix))
    out["per_scenario"] = rows
    if sweep != "off":
        out.update(sweeps.run(full=sweep == "full", workers=workers))
    out["wall_s"] = round(time.perf_counter() - started, 1)
    return out
