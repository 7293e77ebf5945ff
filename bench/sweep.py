"""The accuracy bench's sweep over what the acoustic model leaves uncertain.

docs/sim.md gives the acoustic model's central values and the literature's
ranges; the gateway must hold across them, not only at the model's guess:

- crowd-to-PA level: every crowd sound moved -6 to +6 dB against the PA;
- the PA: a dance floor at 88 to 104 dB(A) LAeq (its bar 10 dB under);
- 0 %, 50 % and 100 % of the bands with an IMU;
- with and without a music reference (band REF, sim/runs/runner.py).

The full grid (5 x 5 x 3 x 2 = 150 nights) is too slow for a bench, so the
default design runs 30: the 3 x 3 corners and centre of crowd-to-PA x PA,
each with the IMU share of a 3 x 3 Latin square (every IMU share meets every
crowd level and every PA level once), plus the intermediate values of each
dimension one at a time through the centre; all of it with and without the
reference.  Every night is the whole shipped `normal` scenario (8 minutes:
a floor and a bar, the same crowd and tracks; engagement climbs from ~47 to
~85 on the gateway's scale and stays there), its floor moved to the point's PA
level (+-5 dB(A)) and its bar 10 dB under, heard by 400 bands over WiFi (the
radio is the shipped scenarios' business, not the sweep's).  The sweep is
what the gateway may be calibrated on; the held-out scenarios check it.
Nights run on `workers` processes.
"""

from __future__ import annotations

import itertools
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from crowdpulse.gateway.sentiment import Model
from crowdpulse.sim.runs import session
from crowdpulse.sim.world import scenario as scenarios
from crowdpulse.sim.world.acoustics import RANGES, Floor
from crowdpulse.sim.world.scenario import Scenario

KEY = bytes(range(32))
CROWD_DB = (-6.0, -3.0, 0.0, 3.0, 6.0)
PA_DB = (88.0, 92.0, 96.0, 100.0, 104.0)
IMU = (0.0, 0.5, 1.0)
LATIN = ((0, 1, 2), (1, 2, 0), (2, 0, 1))  # IMU share index by (crowd, PA) corner
DEVICES = 400


@dataclass(frozen=True)
class Point:
    crowd_db: float
    pa_db: float
    imu_share: float
    reference: bool


def night(pa_db: float, imu_share: float) -> Scenario:
    """The `normal` night with its floor at pa_db +- 5 dB(A), its bar 10 dB under, on WiFi."""
    sc = scenarios.load("normal")
    floor, bar = sc.zones
    zones = [
        replace(floor, music_db=(pa_db - 5, pa_db + 5)),
        replace(bar, music_db=(pa_db - 14, pa_db - 6)),
    ]
    return replace(
        sc,
        name=f"normal at {pa_db:g} dB(A), IMU {imu_share:g}",
        zones=zones,
        mqtt_share=1.0,
        imu_share=imu_share,
    )


def design(full: bool = False) -> list[Point]:
    """The nights to run: the sub-sampled design (module docstring), or the full grid."""
    if full:
        combos = list(itertools.product(CROWD_DB, PA_DB, IMU))
    else:
        corners = [
            (c, p, IMU[LATIN[i][j]])
            for i, c in enumerate(CROWD_DB[::2])
            for j, p in enumerate(PA_DB[::2])
        ]
        centre = (CROWD_DB[2], PA_DB[2], IMU[1])
        lines = (
            [(c, centre[1], centre[2]) for c in CROWD_DB[1::2]]
            + [(centre[0], p, centre[2]) for p in PA_DB[1::2]]
            + [(centre[0], centre[1], s) for s in IMU if s != centre[2]]
        )
        combos = list(dict.fromkeys([*corners, centre, *lines]))
    return [Point(c, p, s, r) for c, p, s in combos for r in (False, True)]


def run_point(p: Point, model: Model | None = None) -> dict[str, Any]:
    floor = Floor().shifted(p.crowd_db)
    res = session.offline(
        night(p.pa_db, p.imu_share),
        DEVICES,
        KEY,
        t0_s=1.8e9,
        floor=floor,
        reference=p.reference,
        model=model,
    )
    mae, rho, n = res.accuracy()
    return {
        "crowd_db": p.crowd_db,
        "pa_db": p.pa_db,
        "imu_share": p.imu_share,
        "reference": p.reference,
        "spearman": round(rho, 3),
        "mae": round(mae, 2),
        "samples": n,
    }


def run(full: bool = False, workers: int = 2) -> dict[str, Any]:
    started = time.perf_counter()
    points = design(full)
    with ProcessPoolExecutor(max(1, workers)) as pool:
        rows = list(pool.map(run_point, points))
    for r in rows:
        print(f"  sweep {r}", flush=True)
    rho = np.array([r["spearman"] for r in rows], np.float64)
    mae = np.array([r["mae"] for r in rows], np.float64)
    ok = np.isfinite(rho)
    worst = rows[int(np.nanargmin(np.where(ok, rho, np.inf)))] if ok.any() else None

    def mean_of(sel: list[bool]) -> float | None:
        m = np.array(sel) & ok
        return round(float(rho[m].mean()), 3) if m.any() else None

    return {
        "sweep_worst_spearman": None if worst is None else worst["spearman"],
        "sweep_worst_point": worst,
        "sweep_mean_spearman": round(float(rho[ok].mean()), 3) if ok.any() else None,
        "sweep_mean_spearman_reference": mean_of([r["reference"] for r in rows]),
        "sweep_mean_spearman_no_reference": mean_of([not r["reference"] for r in rows]),
        "sweep_worst_mae": round(float(np.nanmax(mae)), 2) if len(mae) else None,
        "sweep_mean_mae": round(float(np.nanmean(mae)), 2) if len(mae) else None,
        "sweep_design": "full grid"
        if full
        else "corners x Latin-square IMU + centre lines, x reference",
        "sweep_ranges": {
            "crowd_db": RANGES["crowd_offset_db"],
            "pa_db": RANGES["pa_db"],
            "imu_share": [0, 1],
        },
        "sweep_nights": len(rows),
        "sweep": rows,
        "sweep_wall_s": round(time.perf_counter() - started, 1),
    }
