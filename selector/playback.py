"""The selector and a player, wired together.

Every change of the selector's state (a pick, a veto, a pin, the mode) becomes
a `Want` for the player; everything the player reports (a track started,
stopped, cannot be played) goes back to the selector.  With a player, the
selector no longer moves the set on by the clock: the player says what plays.
"""

from __future__ import annotations

from typing import Any

from crowdpulse.selector.picker import Selector
from crowdpulse.selector.player import Player, Want


class Playback:
    def __init__(self, selector: Selector, player: Player) -> None:
        self.selector = selector
        self.player = player
        self.current: str | None = None  # what the player last said it plays
        selector.player_drives = True
        selector.listeners.append(self._on_state)

    def start(self) -> None:
        self.player.start(self)
        with self.selector.lock:
            self.player.want(self._want())

    def stop(self) -> None:
        self.player.stop()

    def status(self) -> dict[str, Any]:
        return {**self.player.status(), "can_queue": self.player.can_queue}

    # -- selector -> player ---------------------------------------------------
    def _want(self) -> Want:
        s = self.selector
        now = s.now
        # the artist pressed play on a track (console, API): the player plays it now
        play_now = None
        if (
            now is not None
            and now["source"] != self.player.name
            and now["track_id"] != self.current
        ):
            play_now = now["track_id"]
        return Want(s.mode, s.upcoming(), play_now)

    def _on_state(self, _state: dict[str, Any]) -> None:
        if self.player.can_queue:
            self.player.want(self._want())

    # -- player -> selector (PlayerEvents) ---------------------------------------
    def playing(self, track_id: str | None, started_at: float, source: str) -> None:
        self.current = track_id
        self.selector.on_player(track_id, started_at, source)

    def unplayable(self, track_id: str, why: str) -> None:
        self.selector.unplayable_track(track_id, f"{self.player.name}: {why}")

    def unknown(self, source: str, what: str) -> None:
        self.selector.log(source, "unknown track", f"{what} is not in the library")

    def status_changed(self) -> None:
        self.selector.notify()
