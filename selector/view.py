"""What the selector shows: its suggestions and its whole state, ready for JSON.

The console and MQTT get the state on every change (Selector.listeners) and
the API on request; a Suggestion is one ranked pick with the reason shown to
the artist.  The Selector (selector/picker.py) takes `next_item` and `state`
in as a mixin; the state they read is set in Selector.__init__.  Kept apart so
the picker stays short.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from crowdpulse.selector.flow import Flow
from crowdpulse.selector.store import SelectorStore
from crowdpulse.selector.track import Track


@dataclass
class Suggestion:
    track: Track
    expected: float
    reason: str
    recovery: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "track": self.track.as_dict(),
            "expected": round(min(100.0, max(0.0, self.expected)), 1),
            "reason": self.reason,
            "recovery": self.recovery,
        }


class SelectorView:
    """The selector's view, for the Selector; its attributes are set there."""

    tracks: dict[str, Track]
    lock: threading.RLock
    mode: str
    locked: bool
    queue: list[dict[str, Any]]
    pinned: str | None
    vetoed_tracks: set[str]
    vetoed_artists: set[str]
    arc: list[list[float]]
    now: dict[str, Any] | None
    history: list[dict[str, Any]]
    recovery: bool
    suggested: list[Suggestion]
    flow: Flow
    store: SelectorStore | None

    # -- the view ----------------------------------------------------------------------
    def next_item(self) -> dict[str, Any] | None:
        if self.pinned:
            t = self.tracks[self.pinned]
            return {"track": t.as_dict(), "reason": "pinned by the artist", "kind": "pinned"}
        if self.queue:
            q = self.queue[0]
            kind = "recovery" if self.recovery and q["by"] == "selector" else "queued"
            return {
                "track": self.tracks[q["track_id"]].as_dict(),
                "reason": q["reason"],
                "kind": kind,
            }
        if self.suggested:
            s = self.suggested[0]
            return {
                "track": s.track.as_dict(),
                "reason": s.reason,
                "kind": "recovery" if s.recovery else "suggested",
            }
        return None

    def state(self) -> dict[str, Any]:
        with self.lock:
            now = self.now
            return {
                "mode": self.mode,
                "locked": self.locked,
                "now_playing": None
                if now is None
                else {
                    "track": self.tracks[now["track_id"]].as_dict(),
                    "started_ms": now["started_ms"],
                    "source": now["source"],
                },
                "next": self.next_item(),
                "queue": [
                    {
                        "track": self.tracks[q["track_id"]].as_dict(),
                        "reason": q["reason"],
                        "by": q["by"],
                    }
                    for q in self.queue
                ],
                "suggestions": [s.as_dict() for s in self.suggested],
                "vetoed_tracks": sorted(self.vetoed_tracks),
                "vetoed_artists": sorted(self.vetoed_artists),
                "energy_arc": self.arc,
                "adaptive_flow": self.flow.as_dict(),
                "history": [
                    {
                        "track": self.tracks[h["track_id"]].as_dict(),
                        "started_ms": h["started_ms"],
                        "ended_ms": h["ended_ms"],
                        "response": h["response"],
                    }
                    for h in self.history[-20:]
                    if h["track_id"] in self.tracks
                ],
                "log": self.store.recent_log() if self.store is not None else [],
            }
