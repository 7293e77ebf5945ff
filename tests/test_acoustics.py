"""The acoustic model of the floor (sim/world/acoustics.py) is what docs/sim.md says.

Every number of the model has a row in docs/sim.md's table, with the same
value, the same range where the literature gives one, and its sources; the
model's central values lie inside their ranges; the accuracy bench's sweep
covers those ranges; and moving the crowd against the PA moves every crowd
sound and nothing else.
"""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from crowdpulse.bench import sweep
from crowdpulse.sim.world import acoustics
from crowdpulse.sim.world.acoustics import CROWD_FIELDS, RANGES, SOURCES, SPREAD_OF, Floor

DOC = Path(__file__).resolve().parents[1] / "docs" / "sim.md"
NUMBER = r"[−-]?\d+(?:\.\d+)?"


def _rows() -> dict[str, list[str]]:
    """The acoustic model's table: field name -> its cells."""
    text = DOC.read_text()
    table = text[text.index("## The acoustic model of the floor") : text.index("## Fidelity modes")]
    rows = {}
    for line in table.splitlines():
        m = re.match(r"\| `(\w+)`", line)
        if m:
            rows[m.group(1)] = [c.strip() for c in line.strip().strip("|").split("|")]
    return rows


def _num(s: str) -> float:
    return float(s.replace("−", "-").replace("+", ""))


ROWS = _rows()
FIELDS = [f.name for f in fields(Floor)]


@pytest.mark.parametrize("name", FIELDS)
def test_every_number_is_in_the_docs_with_its_value(name: str) -> None:
    row = ROWS[SPREAD_OF.get(name, name)]
    values = [_num(v) for v in re.findall(NUMBER, row[1])]
    want = getattr(Floor(), name)
    if name in SPREAD_OF:  # "central ± spread"
        assert "±" in row[1] and values[1] == want, (name, row[1])
    else:
        assert values[0] == want, (name, row[1])


@pytest.mark.parametrize("name", FIELDS)
def test_every_number_cites_its_sources(name: str) -> None:
    row = ROWS[SPREAD_OF.get(name, name)]
    assert row[3] in ("measured", "derived", "estimate", "physics", "setting", "the sweep"), row[3]
    for source in SOURCES[name]:
        assert source in " | ".join(row), (name, source)
    cited = re.findall(r"\[(\d+)\]", row[4])
    listed = DOC.read_text()
    for n in cited:
        assert re.search(rf"^\[{n}\] ", listed, re.M), f"{name}: reference [{n}] is not listed"


@pytest.mark.parametrize("name", sorted(RANGES))
def test_ranges_are_the_documented_ones_and_hold_the_model(name: str) -> None:
    row = ROWS[name]
    lo, hi = (_num(v) for v in re.findall(NUMBER, row[2].replace("– +", "–")))
    assert (lo, hi) == RANGES[name], (name, row[2])
    assert lo <= getattr(Floor(), name) <= hi


def test_the_sweep_covers_the_uncertain_ranges() -> None:
    assert (min(sweep.CROWD_DB), max(sweep.CROWD_DB)) == RANGES["crowd_offset_db"]
    assert (min(sweep.PA_DB), max(sweep.PA_DB)) == RANGES["pa_db"]
    assert set(sweep.IMU) == {0.0, 0.5, 1.0}
    points = sweep.design()
    assert {p.reference for p in points} == {False, True}
    for values, dim in (
        (sweep.CROWD_DB, "crowd_db"),
        (sweep.PA_DB, "pa_db"),
        (sweep.IMU, "imu_share"),
    ):
        assert {getattr(p, dim) for p in points} == set(values), (
            dim
        )  # every value of every dimension
    assert (
        len(sweep.design(full=True)) == len(sweep.CROWD_DB) * len(sweep.PA_DB) * len(sweep.IMU) * 2
    )


def test_moving_the_crowd_moves_every_crowd_sound_and_only_them() -> None:
    base, loud = Floor(), Floor().shifted(6.0)
    for f in FIELDS:
        delta = getattr(loud, f) - getattr(base, f)
        assert delta == (6.0 if f in CROWD_FIELDS or f == "crowd_offset_db" else 0.0), f
    assert loud.crowd_to_pa_db == base.crowd_to_pa_db + 6.0
    assert base.crowd_to_pa_db == base.cheer_db - base.pa_db == -3.0


def test_levels_lists_every_field() -> None:
    assert set(acoustics.levels()) == set(FIELDS)
