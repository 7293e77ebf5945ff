"""The selector's picker: next-track suggestions and queueing, with the artist in charge.

Modes: auto (the selector keeps the queue filled and advances it), assist (it
suggests; the artist approves) and manual (it only shows).  The artist can
pin the next track, veto tracks and artists, lock the queue and draw an
energy arc for the set; those always win over the model.  Every automated
action is logged with its reason, and every change is persisted.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from crowdpulse.selector.flow import Flow
from crowdpulse.selector.library import Track
from crowdpulse.selector.model import EngagementModel, Features
from crowdpulse.selector.rules import Rules, hard_block, reason, tier
from crowdpulse.selector.store import SelectorStore

MODES = ("auto", "assist", "manual")
SKIP_HOLD_S = 1800.0
SETTLE_S = 30.0  # a track's first half minute still belongs to the last one
PLAYERS = ("mpd", "deck", "mixxx")  # sources of now playing that are a player, not the artist


class ActionError(ValueError):
    """An action that cannot be done; the message says why, in one line."""


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


class Selector:
    def __init__(
        self,
        tracks: list[Track],
        store: SelectorStore | None = None,
        rules: Rules | None = None,
        flow: Flow | None = None,
        mode: str = "assist",
        seed: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.tracks = {t.id: t for t in tracks}
        self.order = [t.id for t in tracks]
        self.rules = rules or Rules()
        self.flow = flow or Flow()
        self.clock = clock
        self.features = Features([t.genre for t in tracks])
        self.model = EngagementModel(self.features, seed=seed)
        self.store = store
        self.lock = threading.RLock()
        self.mode = mode
        self.locked = False
        self.queue: list[dict[str, Any]] = []
        self.pinned: str | None = None
        self.vetoed_tracks: set[str] = set()
        self.vetoed_artists: set[str] = set()
        self.arc: list[list[float]] = []
        self.now: dict[str, Any] | None = None
        self.history: list[dict[str, Any]] = []
        self.skipped: dict[str, float] = {}
        self.set_start: float | None = None
        self.scores: deque[tuple[float, float]] = deque(maxlen=4 * 3600)
        self.last_score: float | None = None
        self.trend: float | None = None
        self.recovery = False
        self.suggested: list[Suggestion] = []
        self.player_drives = False  # a player says what plays (selector/playback.py): no clock
        self.unplayable: set[str] = set()  # tracks the player cannot play tonight
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        self._restore()
        self._refresh()

    # -- persistence ----------------------------------------------------------
    def _persisted(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "locked": self.locked,
            "queue": self.queue,
            "pinned": self.pinned,
            "vetoed_tracks": sorted(self.vetoed_tracks),
            "vetoed_artists": sorted(self.vetoed_artists),
            "arc": self.arc,
            "now": self.now,
            "history": self.history[-500:],
            "set_start": self.set_start,
            "model": self.model.to_state(),
        }

    def _restore(self) -> None:
        if self.store is None:
            return
        s = self.store.load()
        self.mode = s.get("mode", self.mode)
        self.locked = bool(s.get("locked", False))
        self.queue = [q for q in s.get("queue", []) if q["track_id"] in self.tracks]
        self.pinned = s.get("pinned") if s.get("pinned") in self.tracks else None
        self.vetoed_tracks = set(s.get("vetoed_tracks", []))
        self.vetoed_artists = set(s.get("vetoed_artists", []))
        self.arc = s.get("arc", [])
        self.now = s.get("now")
        self.history = s.get("history", [])
        self.set_start = s.get("set_start")
        if "model" in s:
            self.model.load_state(s["model"])

    def _save(self) -> None:
        if self.store is not None:
            self.store.save(self._persisted())

    def log(self, who: str, action: str, why: str) -> None:
        if self.store is not None:
            self.store.log(int(self.clock() * 1000), who, action, why)

    # -- what the crowd does -----------------------------------------------------
    def on_sentiment(self, snap: dict[str, Any]) -> None:
        """Every gateway tick: remember the score, run Adaptive Flow, advance in auto."""
        now = snap["t"] / 1000.0
        with self.lock:
            score = snap.get("score")
            self.trend = snap.get("trend_per_min")
            if score is not None:
                self.last_score = float(score)
                if not self.scores or now - self.scores[-1][0] >= 1.0:
                    self.scores.append((now, float(score)))
            before = self.flow.state
            event = self.flow.update(score, now)
            if event == "trigger":
                self._recovery(now)
            elif event == "recovered":
                self.recovery = False
                self.log(
                    "selector",
                    "recovered",
                    f"venue back at {score:.0f} (>= {self.flow.threshold + self.flow.margin:.0f}); "
                    f"cooldown {self.flow.cooldown_s / 60:.0f} min",
                )
                self._refresh()  # recovery picks give way to the normal ranking
                self._changed()
            elif self.flow.state != before:
                self._changed()  # dipping / back to normal: the console shows it at once
            self._advance(now)

    def _recovery(self, now: float) -> None:
        self.recovery = True
        self._refresh(recovery=True)
        why = (
            f"venue below {self.flow.threshold:.0f} for {self.flow.dwell_s:.0f} s "
            f"(now {self.last_score:.0f})"
        )
        if not self.suggested:
            self.log("selector", "recovery", why + "; no track fits the rules")
        elif self.mode == "auto" and not self.locked and self.pinned is None:
            pick = self.suggested[0]
            self.queue.insert(
                0, {"track_id": pick.track.id, "reason": pick.reason, "by": "selector"}
            )
            self.log(
                "selector", "queue recovery", f"{why}: {pick.track.artist} - {pick.track.title}"
            )
        else:
            held = "locked" if self.locked else ("pinned" if self.pinned else self.mode)
            self.log("selector", "suggest recovery", f"{why} ({held}: the artist decides)")
        self._changed()

    # -- picking -------------------------------------------------------------------
    def _hours_in(self, now: float) -> float:
        return 0.0 if self.set_start is None else max(0.0, (now - self.set_start) / 3600.0)

    def target_energy(self, now: float) -> float | None:
        if not self.arc:
            return None
        xs = [p[0] for p in self.arc]
        ys = [p[1] for p in self.arc]
        return float(np.interp(self._hours_in(now) * 60.0, xs, ys))

    def _playing(self) -> Track | None:
        return self.tracks.get(self.now["track_id"]) if self.now else None

    def _excluded(self, now: float) -> set[str]:
        out = set(self.vetoed_tracks) | self.unplayable | {q["track_id"] for q in self.queue}
        out |= {tid for tid, until in self.skipped.items() if until > now}
        if self.pinned:
            out.add(self.pinned)
        if self.now:
            out.add(self.now["track_id"])
        return out

    def rank(self, n: int = 5, recovery: bool = False, sample: bool = True) -> list[Suggestion]:
        """Best next tracks under the rules; Thompson-sampled unless recovering."""
        now = self.clock()
        # a recovery pick goes to the front of the queue: it mixes out of what plays now
        prev = self._playing() if recovery else self._last_in_line()
        played = {h["track_id"] for h in self.history}
        artist_last = {
            self.tracks[h["track_id"]].artist.lower(): h["started_ms"] / 1000
            for h in self.history
            if h["track_id"] in self.tracks
        }
        excluded = self._excluded(now)
        mood = self.last_score if self.last_score is not None else 40.0
        hours = self._hours_in(now)
        target = self.target_energy(now)
        w = self.model.mean if (recovery or not sample) else self.model.sample()
        scored = []
        for tid in self.order:
            t = self.tracks[tid]
            if tid in excluded or t.artist.lower() in self.vetoed_artists:
                continue
            if hard_block(t, played, artist_last, now, self.rules) is not None:
                continue
            rank_tier, note = tier(prev, t, self.rules)
            if recovery:  # lifting the crowd comes first: a break or a tempo change is fine
                rank_tier = 0 if rank_tier < 3 else 1
            value = float(self.features(t, mood, hours) @ w)
            if target is not None and not recovery:
                value -= 30.0 * abs(t.energy - target)
            scored.append((rank_tier, -value, t, note))
        # the mixing rules first (a relaxed rule only when nothing fits), then the model
        scored.sort(key=lambda p: (p[0], p[1]))
        out = []
        for _tier, neg, t, note in scored[:n]:
            why = reason(prev, t, self.trend, recovery, target)
            out.append(Suggestion(t, -neg, why + (f" ({note})" if note else ""), recovery))
        return out

    def _last_in_line(self) -> Track | None:
        """The track the next one must mix out of."""
        if self.queue:
            return self.tracks.get(self.queue[-1]["track_id"])
        if self.pinned:
            return self.tracks.get(self.pinned)
        return self._playing()

    def _refresh(self, recovery: bool = False) -> None:
        self.suggested = self.rank(5, recovery=recovery or self.recovery)
        if (
            self.mode == "auto"
            and not self.locked
            and not self.queue
            and self.pinned is None
            and self.suggested
        ):
            pick = self.suggested[0]
            self.queue.append({"track_id": pick.track.id, "reason": pick.reason, "by": "selector"})
            self.log(
                "selector", "queue", f"{pick.track.artist} - {pick.track.title}: {pick.reason}"
            )
            self.suggested = self.rank(5, recovery=self.recovery)

    # -- the set moving on ----------------------------------------------------------
    def _advance(self, now: float) -> None:
        if self.mode != "auto" or self.now is None or self.player_drives:
            return
        t = self._playing()
        if t is not None and now - self.now["started_ms"] / 1000.0 >= t.duration_s:
            nxt = self.pinned or (self.queue[0]["track_id"] if self.queue else None)
            if nxt is not None:
                self._start(nxt, "queue", now)
                self._changed()

    def _start(self, track_id: str, source: str, now: float) -> None:
        if self.now is not None:
            self._close(now)
        if self.set_start is None:
            self.set_start = now
        t = self.tracks[track_id]
        mood = self.last_score if self.last_score is not None else 40.0
        phi = self.features(t, mood, self._hours_in(now))
        self.now = {"track_id": track_id, "started_ms": int(now * 1000), "source": source}
        # title and artist too: the post-show report reads the history without the library
        self.history.append(
            {
                "track_id": track_id,
                "started_ms": int(now * 1000),
                "ended_ms": None,
                "before": mood,
                "phi": phi.tolist(),
                "response": None,
                "title": t.title,
                "artist": t.artist,
            }
        )
        if self.pinned == track_id:
            self.pinned = None
        self.queue = [q for q in self.queue if q["track_id"] != track_id]
        who = "selector" if source == "queue" else source if source in PLAYERS else "artist"
        self.log(who, "playing", f"{t.artist} - {t.title} ({source})")
        self._refresh()

    def _close(self, now: float) -> None:
        """Measure the crowd's response to the track that just ended, and learn from it."""
        h = self.history[-1] if self.history else None
        if h is None or h["ended_ms"] is not None:
            return
        start = h["started_ms"] / 1000.0
        h["ended_ms"] = int(now * 1000)
        during = [s for t, s in self.scores if start + SETTLE_S <= t <= now]
        if len(during) < 10:
            during = [s for t, s in self.scores if start <= t <= now]
        if len(during) >= 10:
            h["response"] = float(np.mean(during))
            self.model.update(np.array(h["phi"]), h["response"])
        self.now = None

    # -- the player (selector/playback.py) ------------------------------------------
    def upcoming(self) -> str | None:
        """The track that plays next: the pinned one, else the first in the queue."""
        return self.pinned or (self.queue[0]["track_id"] if self.queue else None)

    def on_player(self, track_id: str | None, at: float, source: str) -> None:
        """The player says what plays since `at` (None: nothing); it wins over the clock."""
        with self.lock:
            if track_id is not None and track_id not in self.tracks:
                return
            if track_id is None:
                if self.now is None:
                    return
                self._close(at)
                self.log(source, "stopped", "nothing plays")
                self._refresh()
            elif self.now is not None and self.now["track_id"] == track_id:
                if self.now["source"] == source:
                    return
                self.now["source"] = source  # the player confirms what the artist started
            else:
                self._start(track_id, source, at)
            self._changed()

    def unplayable_track(self, track_id: str, why: str) -> None:
        """The player cannot play it: out of the queue and the picks for tonight."""
        with self.lock:
            if track_id in self.unplayable or track_id not in self.tracks:
                return
            self.unplayable.add(track_id)
            self.queue = [q for q in self.queue if q["track_id"] != track_id]
            if self.pinned == track_id:
                self.pinned = None
            t = self.tracks[track_id]
            self.log("selector", "unplayable", f"{t.artist} - {t.title}: {why}")
            self._refresh()
            self._changed()

    def notify(self) -> None:
        """Persist and tell every listener (console, MQTT) that the state changed."""
        with self.lock:
            self._changed()

    def _changed(self) -> None:
        self._save()
        snap = self.state()
        for fn in list(self.listeners):
            fn(snap)

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
