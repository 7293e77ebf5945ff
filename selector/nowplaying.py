"""What is actually playing, from Mixxx's own library database.

Mixxx (the open-source DJ software) logs every track it plays into a
"history" playlist of its SQLite library (`~/.mixxx/mixxxdb.sqlite`; on
macOS `~/Library/Containers/org.mixxx.mixxx/Data/Library/Application
Support/Mixxx/`): a row of `Playlists` with `hidden = 2` (a set log) and
one `PlaylistTracks` row per track played, newest last.  The gateway reads
that file, read-only, every couple of seconds, and tells the selector.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from crowdpulse.selector.library import Track

SET_LOG = 2  # Playlists.hidden for Mixxx's history playlists

QUERY = """
SELECT pt.id, l.artist, l.title, tl.location
FROM PlaylistTracks pt
JOIN Playlists p ON p.id = pt.playlist_id
JOIN library l ON l.id = pt.track_id
LEFT JOIN track_locations tl ON tl.id = l.location
WHERE p.hidden = ?
ORDER BY pt.id DESC LIMIT 1
"""


@dataclass(frozen=True)
class Played:
    row: int
    artist: str
    title: str
    location: str


class MixxxHistory:
    def __init__(self, db_path: str | os.PathLike[str]) -> None:
        self.path = Path(db_path)
        self.last_row: int | None = None

    def latest(self) -> Played | None:
        """The newest track in Mixxx's history, or None (no file, no history yet)."""
        if not self.path.exists():
            return None
        uri = f"file:{self.path}?mode=ro"
        try:
            with sqlite3.connect(uri, uri=True, timeout=1.0) as db:
                row = db.execute(QUERY, (SET_LOG,)).fetchone()
        except sqlite3.Error:
            return None  # Mixxx may be writing; try again on the next poll
        if row is None:
            return None
        return Played(int(row[0]), row[1] or "", row[2] or "", row[3] or "")

    def poll(self) -> Played | None:
        """The newest track if it changed since the last poll."""
        p = self.latest()
        if p is None or p.row == self.last_row:
            return None
        self.last_row = p.row
        return p


def match(played: Played, tracks: list[Track]) -> Track | None:
    """The library track Mixxx played: same file name, else same artist and title."""
    name = Path(played.location).name.lower() if played.location else ""
    for t in tracks:
        if name and t.source and Path(t.source).name.lower() == name:
            return t
    key = (played.artist.strip().lower(), played.title.strip().lower())
    for t in tracks:
        if (t.artist.strip().lower(), t.title.strip().lower()) == key:
            return t
    return None
