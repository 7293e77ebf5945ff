"""Scenarios drawn at random, for held-out accuracy checks.

The accuracy bench scores the gateway on these as well as on the shipped
scenarios, with seeds that no tuning ever used: venues of one to three
zones, other sizes, PA levels and relay layouts, other track orders, and
a random mix of events.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from crowdpulse.sim.world.scenario import PICKS, Scenario, parse

HELDOUT_SEED = 90_210  # never used while tuning anything


def _zone(rng: np.random.Generator, i: int) -> dict[str, Any]:
    w, h = float(rng.uniform(10, 40)), float(rng.uniform(8, 25))
    back = float(rng.uniform(72, 92))
    relays = [
        [float(rng.uniform(0.1, 0.9) * w), float(rng.uniform(0.2, 0.8) * h)]
        for _ in range(int(rng.integers(1, 4)))
    ]
    return {
        "name": f"zone{i + 1}",
        "share": float(rng.uniform(0.2, 1.0)),
        "size_m": [w, h],
        "music_db": [back, back + float(rng.uniform(4, 12))],
        "relays": relays,
    }


def _events(
    rng: np.random.Generator, minutes: float, zones: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for _ in range(int(rng.integers(0, 4))):
        at = round(float(rng.uniform(1, minutes - 1)), 2)
        kind = str(
            rng.choice(["relays_down", "arrive", "leave", "silence", "cheer", "clap", "rogue"])
        )
        value = {
            "relays_down": 0.5,
            "arrive": 0.3,
            "leave": 0.3,
            "silence": 20.0,
            "rogue": 200.0,
        }.get(kind, 0.0)
        out.append({"at_min": at, "kind": kind, "value": value})
        if kind == "relays_down":
            out.append({"at_min": min(minutes - 0.1, at + 1.5), "kind": "relays_up"})
    if len(zones) > 1 and rng.random() < 0.2:
        out.append(
            {
                "at_min": round(float(rng.uniform(1, minutes - 1)), 2),
                "kind": "dead_zone",
                "zone": zones[-1]["name"],
            }
        )
    return out


def generate(index: int, seed: int = HELDOUT_SEED) -> Scenario:
    """The index-th held-out scenario of this seed."""
    rng = np.random.default_rng([seed, index])
    minutes = float(rng.uniform(6, 10))
    zones = [_zone(rng, i) for i in range(int(rng.integers(1, 4)))]
    timeline = [{"pick": str(rng.choice(PICKS))} for _ in range(8)]
    raw = {
        "name": f"held-out {seed}/{index}",
        "duration_min": minutes,
        "seed": int(rng.integers(1 << 30)),
        "zones": zones,
        "timeline": timeline,
        "events": _events(rng, minutes, zones),
        "absent_share": float(rng.choice([0.0, 0.0, 0.3])),
        "mqtt_share": float(rng.uniform(0, 0.3)),
    }
    return parse(raw, f"held-out {index}")
