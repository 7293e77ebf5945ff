"""A simulated deck: a player with no sound, for the demo where MPD is absent
and for simulated nights (`crowdpulse sim --db`).

It "plays" a track for the track's duration, then the track the selector
wants next, exactly as a player with a one-track-ahead queue would.  On the
wall clock it runs its own thread; a simulation drives it on simulated time
with `advance(now)` instead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from crowdpulse.selector.library import Track
from crowdpulse.selector.player import PlayerEvents, Want

TICK_S = 0.2


class SimulatedDeck:
    name = "deck"
    can_queue = True

    def __init__(
        self,
        tracks: list[Track],
        note: str = "",
        clock: Callable[[], float] = time.time,
        driven: bool = False,
    ) -> None:
        self.tracks = {t.id: t for t in tracks}
        self.note = note
        self.clock = clock
        self.driven = driven  # True: the caller calls advance(); no thread
        self.current: str | None = None
        self.started = 0.0
        self._want = Want("manual", None)
        self._lock = threading.Lock()
        self._events: PlayerEvents | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, events: PlayerEvents) -> None:
        self._events = events
        if not self.driven:
            self._thread = threading.Thread(target=self._run, name="deck", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(TICK_S):
            self.advance(self.clock())

    def want(self, want: Want) -> None:
        with self._lock:
            self._want = want

    def advance(self, now: float) -> None:
        """Move the set on to `now`; tell the selector what changed (outside the lock)."""
        with self._lock:
            w, before = self._want, self.current
            if w.play_now is not None and w.play_now != self.current and w.play_now in self.tracks:
                self._play(w.play_now, now)
            elif (
                self.current is not None
                and now >= self.started + self.tracks[self.current].duration_s
            ):
                # the track is over: the next one follows at once, as in a player's queue
                nxt = w.next_id if w.mode != "manual" else None
                end = self.started + self.tracks[self.current].duration_s
                self._play(nxt if nxt in self.tracks else None, end)
            elif self.current is None and w.mode == "auto" and w.next_id in self.tracks:
                self._play(w.next_id, now)  # auto mode starts the set
            changed, current, started = self.current != before, self.current, self.started
        if changed and self._events is not None:
            self._events.playing(current, started, self.name)

    def _play(self, track_id: str | None, at: float) -> None:
        self.current, self.started = track_id, at

    def status(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "address": None,
            "connected": True,
            "error": None,
            "retry_in_s": None,
            "note": self.note,
        }

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
