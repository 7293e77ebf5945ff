"""What the report shows, read (read-only) from a gateway's SQLite file."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from crowdpulse.gateway.store import VENUE_ROW

PLAYERS = ("selector", "mpd", "deck", "mixxx")  # who is not the artist in the selector's log
FLOW_ACTIONS = ("queue recovery", "suggest recovery", "recovery", "recovered")


class ReportError(ValueError):
    """One line: why there is no report."""


@dataclass
class Series:
    t: npt.NDArray[np.float64]  # unix seconds
    score: npt.NDArray[np.float64]  # NaN where no score was published


@dataclass
class Played:
    title: str
    artist: str
    start: float
    end: float
    response: float | None  # the crowd's mean score while it played (from 30 s in)
    before: float | None  # the venue score when it started


@dataclass
class Event:
    t: float
    who: str
    action: str
    reason: str


@dataclass
class NightData:
    venue: str
    retention_hours: float | None
    k_anonymity: int | None
    threshold: float
    venue_series: Series
    zones: dict[str, Series]
    tracks: list[Played] = field(default_factory=list)
    flow: list[Event] = field(default_factory=list)
    overrides: list[Event] = field(default_factory=list)

    @property
    def start(self) -> float:
        return float(self.venue_series.t[0])

    @property
    def end(self) -> float:
        return float(self.venue_series.t[-1])


def _open(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise ReportError(f"{path}: no such file")
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise ReportError(f"{path}: not an SQLite database ({exc})") from None
    if "zone_scores" not in tables:
        db.close()
        raise ReportError(f"{path}: not a crowdpulse gateway database (no zone_scores table)")
    return db


def _table(db: sqlite3.Connection, name: str, query: str) -> list[Any]:
    exists = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
    ).fetchone()
    return db.execute(query).fetchall() if exists else []


def load(path: str | Path) -> NightData:
    db = _open(Path(path))
    try:
        rows = db.execute("SELECT t_ms, zone, score FROM zone_scores ORDER BY t_ms").fetchall()
        meta = dict(_table(db, "night_meta", "SELECT key, value FROM night_meta"))
        state = {
            k: json.loads(v)
            for k, v in _table(db, "selector_state", "SELECT key, value FROM selector_state")
        }
        log = _table(
            db, "selector_log", "SELECT t_ms, who, action, reason FROM selector_log ORDER BY rowid"
        )
    finally:
        db.close()
    venue_rows = [(t, s) for t, z, s in rows if z == VENUE_ROW]
    if len(venue_rows) < 2:
        raise ReportError(
            f"{path}: no history yet (the gateway stores one row per zone per second)"
        )
    zones: dict[str, list[tuple[int, float | None]]] = {}
    for t, z, s in rows:
        if z != VENUE_ROW:
            zones.setdefault(z, []).append((t, s))
    night = NightData(
        venue=meta.get("venue", Path(path).stem),
        threshold=float(meta.get("recovery_threshold", 40.0)),
        retention_hours=float(meta["retention_hours"]) if "retention_hours" in meta else None,
        k_anonymity=int(meta["k_anonymity"]) if "k_anonymity" in meta else None,
        venue_series=_series(venue_rows),
        zones={z: _series(r) for z, r in sorted(zones.items())},
    )
    night.tracks = _tracks(state.get("history", []), night.end)
    for t, who, action, reason in log:
        e = Event(t / 1000.0, who, action, reason)
        if not night.start - 60 <= e.t <= night.end + 60:
            continue
        if action in FLOW_ACTIONS:
            night.flow.append(e)
        elif who not in PLAYERS:
            night.overrides.append(e)
    return night


def _series(rows: list[tuple[int, float | None]]) -> Series:
    t = np.array([r[0] / 1000.0 for r in rows])
    s = np.array([np.nan if r[1] is None else r[1] for r in rows], dtype=np.float64)
    return Series(t, s)


def _tracks(history: list[dict[str, Any]], night_end: float) -> list[Played]:
    out = []
    for h in history:
        start = h["started_ms"] / 1000.0
        end = h["ended_ms"] / 1000.0 if h.get("ended_ms") else night_end
        if end <= start:
            continue
        out.append(
            Played(
                str(h.get("title") or h["track_id"]),
                str(h.get("artist") or ""),
                start,
                end,
                h.get("response"),
                h.get("before"),
            )
        )
    return out
