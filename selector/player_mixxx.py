"""Mixxx as a player backend: now playing only.

Mixxx's AutoDJ has no remote API, so the selector cannot queue tracks there;
it can only follow what Mixxx plays, from Mixxx's own history
(selector/nowplaying.py).  Picks stay suggestions for the DJ to load.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from crowdpulse.selector.library import Track
from crowdpulse.selector.nowplaying import MixxxHistory, match
from crowdpulse.selector.player import PlayerEvents, Want

POLL_S = 2.0


class MixxxPlayer:
    name = "mixxx"
    can_queue = False

    def __init__(self, db_path: str | os.PathLike[str], tracks: list[Track]) -> None:
        self.history = MixxxHistory(db_path)
        self.tracks = tracks
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, events: PlayerEvents) -> None:
        self._thread = threading.Thread(
            target=self._poll, args=(events,), name="mixxx", daemon=True
        )
        self._thread.start()

    def _poll(self, events: PlayerEvents) -> None:
        while not self._stop.wait(POLL_S):
            played = self.history.poll()
            if played is None:
                continue
            t = match(played, self.tracks)
            if t is None:
                events.unknown(self.name, f"{played.artist} - {played.title}")
            else:
                events.playing(t.id, time.time(), self.name)

    def want(self, want: Want) -> None:
        pass  # nothing to queue: the DJ loads the tracks

    def status(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "address": str(self.history.path),
            "connected": self.history.path.exists(),
            "error": None,
            "retry_in_s": None,
            "note": "",
        }

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(3)
