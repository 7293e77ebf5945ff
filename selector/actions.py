"""What the artist can do to the selector: the actions of docs/protocol.md (selector actions).

Pin, veto, skip, approve, lock the queue, draw an energy arc, change the mode,
say what plays, take a track out of the queue: each action is one `_do_<name>`
method, found by `act`.  The Selector (selector/picker.py) takes these methods
in as a mixin; the state they change is set in Selector.__init__.  Kept apart
so the picker stays short.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from crowdpulse.selector.track import Track
from crowdpulse.selector.view import Suggestion

MODES = ("auto", "assist", "manual")
SKIP_HOLD_S = 1800.0


class ActionError(ValueError):
    """An action that cannot be done; the message says why, in one line."""


class ArtistActions:
    """The artist's actions, for the Selector; its attributes are set there."""

    tracks: dict[str, Track]
    clock: Callable[[], float]
    lock: threading.RLock
    mode: str
    locked: bool
    queue: list[dict[str, Any]]
    pinned: str | None
    vetoed_tracks: set[str]
    vetoed_artists: set[str]
    arc: list[list[float]]
    skipped: dict[str, float]
    suggested: list[Suggestion]

    if TYPE_CHECKING:

        def log(self, who: str, action: str, why: str) -> None: ...
        def _refresh(self, recovery: bool = False) -> None: ...
        def _changed(self) -> None: ...
        def _start(self, track_id: str, source: str, now: float) -> None: ...

    # -- the artist -------------------------------------------------------------------
    def act(self, action: dict[str, Any], who: str = "artist") -> None:
        """Apply one action (docs/protocol.md, selector actions); ActionError if it cannot be."""
        name = action.get("action")
        handler = getattr(self, f"_do_{name}", None) if isinstance(name, str) else None
        if handler is None:
            raise ActionError(f"unknown action {name!r}")
        with self.lock:
            handler(action, who)
            self._refresh()
            self._changed()

    def _track(self, action: dict[str, Any]) -> Track:
        t = self.tracks.get(str(action.get("track_id")))
        if t is None:
            raise ActionError(f"no track {action.get('track_id')!r} in the library")
        return t

    def _do_mode(self, a: dict[str, Any], who: str) -> None:
        if a.get("mode") not in MODES:
            raise ActionError("mode must be auto, assist or manual")
        self.mode = a["mode"]
        self.log(who, "mode", self.mode)

    def _do_approve(self, a: dict[str, Any], who: str) -> None:
        if not self.suggested:
            raise ActionError("nothing to approve")
        pick = self.suggested[0]
        self.queue.append({"track_id": pick.track.id, "reason": pick.reason, "by": who})
        self.log(who, "approve", f"{pick.track.artist} - {pick.track.title}")

    def _do_skip(self, a: dict[str, Any], who: str) -> None:
        if not self.suggested:
            raise ActionError("nothing to skip")
        pick = self.suggested[0]
        self.skipped[pick.track.id] = self.clock() + SKIP_HOLD_S
        self.log(
            who, "skip", f"{pick.track.artist} - {pick.track.title} (not offered again for 30 min)"
        )

    def _do_pin(self, a: dict[str, Any], who: str) -> None:
        t = self._track(a)
        self.pinned = t.id
        self.log(who, "pin", f"{t.artist} - {t.title}")

    def _do_unpin(self, a: dict[str, Any], who: str) -> None:
        self.pinned = None
        self.log(who, "unpin", "")

    def _do_veto(self, a: dict[str, Any], who: str) -> None:
        t = self._track(a)
        self.vetoed_tracks.add(t.id)
        self.queue = [q for q in self.queue if q["track_id"] != t.id]
        if self.pinned == t.id:
            self.pinned = None
        self.log(who, "veto", f"{t.artist} - {t.title}")

    def _do_unveto(self, a: dict[str, Any], who: str) -> None:
        self.vetoed_tracks.discard(str(a.get("track_id")))
        self.log(who, "unveto", str(a.get("track_id")))

    def _do_veto_artist(self, a: dict[str, Any], who: str) -> None:
        artist = str(a.get("artist", "")).strip().lower()
        if not artist:
            raise ActionError("veto_artist needs an artist")
        self.vetoed_artists.add(artist)
        self.queue = [q for q in self.queue if self.tracks[q["track_id"]].artist.lower() != artist]
        if self.pinned and self.tracks[self.pinned].artist.lower() == artist:
            self.pinned = None
        self.log(who, "veto artist", artist)

    def _do_unveto_artist(self, a: dict[str, Any], who: str) -> None:
        self.vetoed_artists.discard(str(a.get("artist", "")).strip().lower())
        self.log(who, "unveto artist", str(a.get("artist")))

    def _do_lock(self, a: dict[str, Any], who: str) -> None:
        if not isinstance(a.get("locked"), bool):
            raise ActionError("lock needs locked: true or false")
        self.locked = a["locked"]
        self.log(who, "lock" if self.locked else "unlock", "")

    def _do_arc(self, a: dict[str, Any], who: str) -> None:
        pts = a.get("points")
        ok = isinstance(pts, list) and all(
            isinstance(p, list)
            and len(p) == 2
            and all(isinstance(v, (int, float)) for v in p)
            and 0 <= p[1] <= 1
            and p[0] >= 0
            for p in pts
        )
        if not ok or not isinstance(pts, list):
            raise ActionError("arc points must be [[minute, energy 0-1], ...]")
        self.arc = sorted([[float(m), float(e)] for m, e in pts])
        self.log(
            who, "energy arc", ", ".join(f"{m:.0f} min: {e:.1f}" for m, e in self.arc) or "cleared"
        )

    def _do_playing(self, a: dict[str, Any], who: str) -> None:
        t = self._track(a)
        self._start(t.id, str(a.get("source", "console")), self.clock())

    def _do_remove(self, a: dict[str, Any], who: str) -> None:
        i = a.get("index")
        if not isinstance(i, int) or not 0 <= i < len(self.queue):
            raise ActionError("remove needs the index of a queued track")
        gone = self.queue.pop(i)
        self.log(who, "remove", gone["track_id"])
