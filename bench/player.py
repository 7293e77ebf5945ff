"""`crowdpulse bench player`: how fast the selector and a real MPD agree.

A real MPD (null output) serves 20 generated tracks; the selector runs in auto
mode through the MPD backend.  Measured on the wall clock:
- veto: from the artist's veto (Selector.act) until the vetoed track is gone
  from MPD's queue (seen by a second MPD client polling every 5 ms);
- follow: from the moment MPD starts a new song (its own `elapsed` clock) until
  the selector's now playing is that song.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from mpd import MPDClient

from crowdpulse.mpdserver import MpdServer
from crowdpulse.selector.library import load, sample_library
from crowdpulse.selector.picker import Selector
from crowdpulse.selector.playback import Playback
from crowdpulse.selector.player_mpd import MpdPlayer
from crowdpulse.sim.world.music import write_folder

TRACK_S = 6.0


def _after(c: MPDClient) -> list[str]:
    status, queue = c.status(), c.playlistinfo()
    cur = int(status.get("song", -1)) if status.get("state") in ("play", "pause") else -1
    return [s["file"] for s in queue if int(s["pos"]) > cur]


def run(vetoes: int = 20) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="crowdpulse-bench-player-") as d:
        first = {t.artist: t for t in reversed(sample_library())}
        write_folder(sorted(first.values(), key=lambda t: t.id), Path(d) / "music", TRACK_S)
        lib = load(Path(d) / "music")
        files = {t.id: Path(t.source).name for t in lib.tracks}
        with MpdServer(Path(d) / "music") as server:
            sel = Selector(lib.tracks, mode="auto", seed=1)
            follow: list[float] = []
            playing: list[str] = []

            def on_state(st: dict[str, Any]) -> None:
                now = st["now_playing"]
                if (
                    now
                    and now["source"] == "mpd"
                    and (not playing or playing[-1] != now["track"]["id"])
                ):
                    playing.append(now["track"]["id"])
                    if len(playing) > 1:  # the first one the selector itself started
                        follow.append(time.time() - now["started_ms"] / 1000.0)

            pb = Playback(sel, MpdPlayer("127.0.0.1", server.port, lib.tracks))
            sel.listeners.append(on_state)
            pb.start()
            watcher = server.client()  # one connection, as a DJ's MPD client would hold
            try:
                veto_ms = _vetoes(sel, watcher, files, vetoes)
            finally:
                watcher.disconnect()
                pb.stop()
    return {
        "tracks": len(lib.tracks),
        "vetoes": len(veto_ms),
        "veto_to_mpd_p50_ms": round(float(np.percentile(veto_ms, 50)), 1),
        "veto_to_mpd_p99_ms": round(float(np.percentile(veto_ms, 99)), 1),
        "veto_to_mpd_max_ms": round(float(np.max(veto_ms)), 1),
        "mpd_to_selector_follow_ms": round(1000 * float(np.median(follow)), 1) if follow else None,
        "track_changes_followed": len(follow),
    }


def _vetoes(sel: Selector, watcher: MPDClient, files: dict[str, str], n: int) -> list[float]:
    out: list[float] = []
    deadline = time.monotonic() + 30
    while len(_after(watcher)) != 1:  # the set is playing, one track ahead
        if time.monotonic() > deadline:
            raise RuntimeError("MPD never got the selector's next track")
        time.sleep(0.05)
    while len(out) < n and time.monotonic() < deadline + 120:
        with sel.lock:
            vetoed = sel.upcoming()
        if vetoed is None:
            break
        t0 = time.perf_counter()
        sel.act({"action": "veto", "track_id": vetoed})
        while True:
            if files[vetoed] not in _after(watcher):
                out.append(1000 * (time.perf_counter() - t0))
                break
            if time.perf_counter() - t0 > 10:
                break  # never gone: not counted, and the count below shows it
            time.sleep(0.005)
        sel.act({"action": "unveto", "track_id": vetoed})
        time.sleep(0.3)
    return out
