"""The figures per night as a table (rich) or JSON, with which targets hold."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.table import Table

from crowdpulse.sim.recordings import targets
from crowdpulse.sim.recordings.harness import Figures

COLUMNS = (
    "night",
    "event",
    "bed",
    "music_mean",
    "music_min",
    "music_max",
    "before",
    "during",
    "lift",
)


def table(mode: str, figs: Sequence[Figures]) -> Table:
    t = Table(title=f"venue score per night, {mode}", title_justify="left")
    for col in COLUMNS:
        t.add_column(
            col.replace("_", " "), justify="left" if col in ("night", "event", "bed") else "right"
        )
    for f in figs:
        row = f.row()
        t.add_row(
            *(str(row[c]) if not isinstance(row[c], float) else f"{row[c]:.1f}" for c in COLUMNS)
        )
    return t


def verdicts(mode: str, figs: Sequence[Figures]) -> Table:
    t = Table(title=f"issue-11 targets, {mode}", title_justify="left")
    t.add_column("target")
    t.add_column("holds")
    t.add_column("nights that miss")
    for c in targets.check(figs).values():
        verdict = "n/a" if not c.checked else "yes" if c.holds else "NO"
        t.add_row(c.target, verdict, "; ".join(c.failures))
    return t


def as_json(results: Mapping[str, Sequence[Figures] | str]) -> dict[str, Any]:
    """mode -> {"nights": [...], "targets": {...}}, or {"unavailable": why}."""
    out: dict[str, Any] = {}
    for mode, figs in results.items():
        if isinstance(figs, str):
            out[mode] = {"unavailable": figs}
            continue
        out[mode] = {
            "nights": [{**f.row(), "seconds": f.seconds} for f in figs],
            "targets": {
                c.target: {"holds": c.holds, "checked": c.checked, "failures": c.failures}
                for c in targets.check(figs).values()
            },
        }
    return out
