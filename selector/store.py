"""The artist's overrides and the selector's memory, in SQLite.

Every operator action is committed before it is acknowledged (WAL,
synchronous=FULL), so a gateway killed with -9 comes back with the same mode,
pins, vetoes, lock, arc, queue and history.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from typing import Any


class SelectorStore:
    def __init__(self, path: str) -> None:
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS selector_state (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
        )
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS selector_log "
            "(t_ms INTEGER, who TEXT, action TEXT, reason TEXT)"
        )
        self.lock = threading.Lock()

    def save(self, state: dict[str, Any]) -> None:
        with self.lock:
            self.db.execute("BEGIN")
            self.db.executemany(
                "INSERT OR REPLACE INTO selector_state VALUES (?, ?)",
                [(k, json.dumps(v)) for k, v in state.items()],
            )
            self.db.execute("COMMIT")

    def load(self) -> dict[str, Any]:
        with self.lock:
            rows = self.db.execute("SELECT key, value FROM selector_state").fetchall()
        return {k: json.loads(v) for k, v in rows}

    def log(self, t_ms: int, who: str, action: str, reason: str) -> None:
        with self.lock:
            self.db.execute(
                "INSERT INTO selector_log VALUES (?, ?, ?, ?)", (t_ms, who, action, reason)
            )

    def recent_log(self, n: int = 30) -> list[dict[str, Any]]:
        with self.lock:
            rows = self.db.execute(
                "SELECT t_ms, who, action, reason FROM selector_log ORDER BY rowid DESC LIMIT ?",
                (n,),
            ).fetchall()
        return [{"t": t, "who": w, "action": a, "reason": r} for t, w, a, r in reversed(rows)]

    def close(self) -> None:
        with self.lock:
            self.db.close()
