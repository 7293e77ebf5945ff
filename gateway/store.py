"""Zone-level history in SQLite (WAL), purged after the retention period.

Only aggregates are written: one row per zone (and the venue, as zone
"_venue") per second.  Nothing per band ever reaches the disk; see
docs/privacy.md.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from typing import Any

VENUE_ROW = "_venue"
SCHEMA = """
CREATE TABLE IF NOT EXISTS zone_scores (
    t_ms INTEGER NOT NULL, zone TEXT NOT NULL, score REAL, confidence REAL,
    trend_per_min REAL, bands INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS zone_scores_t ON zone_scores (t_ms);
CREATE TABLE IF NOT EXISTS night_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class Store:
    def __init__(self, path: str, retention_hours: float) -> None:
        self.retention_ms = int(retention_hours * 3600 * 1000)
        self.db = sqlite3.connect(path, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self.lock = threading.Lock()
        self.last_purge = 0.0

    def describe(
        self, venue: str, retention_hours: float, k_anonymity: int, threshold: float = 40.0
    ) -> None:
        """What the post-show report says about the night (venue level only)."""
        rows = [
            ("venue", venue),
            ("retention_hours", str(retention_hours)),
            ("k_anonymity", str(k_anonymity)),
            ("recovery_threshold", str(threshold)),
        ]
        with self.lock, self.db:
            self.db.executemany("INSERT OR REPLACE INTO night_meta VALUES (?, ?)", rows)

    def write(self, snap: dict[str, Any]) -> None:
        rows = [
            (
                snap["t"],
                VENUE_ROW,
                snap["score"],
                snap["confidence"],
                snap["trend_per_min"],
                snap["bands"],
            )
        ]
        rows += [
            (snap["t"], z["zone"], z["score"], z["confidence"], z["trend_per_min"], z["bands"])
            for z in snap["zones"]
        ]
        with self.lock, self.db:
            self.db.executemany("INSERT INTO zone_scores VALUES (?, ?, ?, ?, ?, ?)", rows)
        if time.monotonic() - self.last_purge > 600:
            self.purge(snap["t"])

    def purge(self, now_ms: int) -> int:
        with self.lock, self.db:
            cur = self.db.execute(
                "DELETE FROM zone_scores WHERE t_ms < ?", (now_ms - self.retention_ms,)
            )
        self.last_purge = time.monotonic()
        return cur.rowcount

    def history(
        self, since_ms: int, zone: str = VENUE_ROW, step_ms: int = 1000
    ) -> list[tuple[int, float | None]]:
        with self.lock:
            rows = self.db.execute(
                "SELECT (t_ms / ?) * ?, AVG(score) FROM zone_scores WHERE t_ms >= ? AND zone = ? "
                "GROUP BY t_ms / ? ORDER BY 1",
                (step_ms, step_ms, since_ms, zone, step_ms),
            ).fetchall()
        return [(int(t), None if s is None else round(float(s), 1)) for t, s in rows]

    def close(self) -> None:
        with self.lock:
            self.db.close()
