"""The selector in-process: rules, reasons, modes, artist control, Adaptive Flow,
learning, and persistence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from crowdpulse.selector.flow import Flow
from crowdpulse.selector.library import Track, sample_library
from crowdpulse.selector.picker import ActionError, Selector
from crowdpulse.selector.rules import Rules, bpm_ok, key_move, tier
from crowdpulse.selector.store import SelectorStore

T0 = 1_800_000_000.0


def _t(
    i: int,
    bpm: float = 124,
    key: str = "8A",
    energy: float = 0.6,
    artist: str | None = None,
    genre: str = "house",
    recovery: bool = False,
) -> Track:
    return Track(
        f"t{i}", f"Track {i}", artist or f"Artist {i}", bpm, key, energy, genre, 300.0, recovery
    )


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t


def _sel(
    tracks: list[Track] | None = None,
    mode: str = "assist",
    store: SelectorStore | None = None,
    **flow: Any,
) -> tuple[Selector, Clock]:
    clock = Clock()
    return Selector(
        tracks or sample_library(), store, Rules(), Flow(**flow), mode=mode, seed=1, clock=clock
    ), clock


def _feed(sel: Selector, clock: Clock, score: float, seconds: int) -> None:
    for _ in range(seconds):
        clock.t += 1
        sel.on_sentiment({"t": int(clock.t * 1000), "score": score, "trend_per_min": 0.0})


def test_camelot_moves_and_tempo() -> None:
    assert (
        key_move("8A", "8A") == "same"
        and key_move("8A", "9A") == "+1"
        and key_move("1A", "12A") == "-1"
    )
    assert key_move("8A", "8B") == "relative" and key_move("8A", "10A") == "+2 boost"
    assert key_move("8A", "3B") is None and key_move("8A", "9B") is None
    assert bpm_ok(124, 128, 0.06) and not bpm_ok(124, 134, 0.06)
    assert bpm_ok(140, 70, 0.06)  # half time
    assert tier(_t(1), _t(2, key="3B"), Rules())[0] == 1
    assert tier(_t(1), _t(2, bpm=134), Rules())[0] == 2


def test_reasons_say_why_in_one_line() -> None:
    tracks = [_t(1, 124, "8A", 0.5), _t(2, 126, "9A", 0.8)]
    sel, clock = _sel(tracks)
    sel.act({"action": "playing", "track_id": "t1"})
    line = sel.suggested[0].reason
    assert line.startswith("energy up: ") and "124->126 BPM" in line and "8A->9A" in line
    assert "\n" not in line


def test_no_repeats_and_artist_separation() -> None:
    tracks = [_t(1, artist="A"), _t(2, artist="A"), _t(3, artist="B")]
    sel, clock = _sel(tracks)
    sel.act({"action": "playing", "track_id": "t1"})
    assert [s.track.id for s in sel.suggested] == [
        "t3"
    ]  # same artist within the hour, and t1 played
    clock.t += 3700
    sel.act({"action": "playing", "track_id": "t3"})
    assert [s.track.id for s in sel.suggested] == ["t2"]


def test_modes_auto_fills_the_queue_assist_waits_manual_only_shows() -> None:
    auto, _ = _sel(mode="auto")
    assert len(auto.queue) == 1 and auto.next_item()["kind"] == "queued"
    assist, _ = _sel(mode="assist")
    assert assist.queue == [] and assist.next_item()["kind"] == "suggested"
    assist.act({"action": "approve"})
    assert len(assist.queue) == 1 and assist.queue[0]["by"] == "artist"
    manual, _ = _sel(mode="manual")
    assert manual.queue == [] and manual.suggested


def test_pin_veto_lock_and_arc_win_over_the_model() -> None:
    sel, clock = _sel(mode="auto")
    lib = sample_library()
    pick = lib[7]
    sel.act({"action": "pin", "track_id": pick.id})
    assert sel.next_item()["track"]["id"] == pick.id and sel.next_item()["kind"] == "pinned"
    nxt = sel.queue[0]["track_id"]
    sel.act({"action": "veto", "track_id": nxt})
    ids = {q["track_id"] for q in sel.queue} | {s.track.id for s in sel.suggested}
    assert nxt not in ids
    artist = sel.suggested[0].track.artist
    sel.act({"action": "veto_artist", "artist": artist})
    assert all(s.track.artist != artist for s in sel.suggested)
    sel.act({"action": "unpin"})
    sel.act({"action": "lock", "locked": True})
    before = list(sel.queue)
    _feed(sel, clock, 20.0, 30)  # a dip: Adaptive Flow must not touch a locked queue
    assert sel.queue == before and sel.flow.state == "recovering"
    sel.act({"action": "arc", "points": [[0, 0.9], [120, 0.9]]})
    top = [s.track.energy for s in sel.rank(3, sample=False)]
    assert min(top) >= 0.7


def test_bad_actions_raise_action_error() -> None:
    sel, _ = _sel()
    for action in (
        {"action": "fly"},
        {"action": "mode", "mode": "party"},
        {"action": "pin", "track_id": "nope"},
        {"action": "lock", "locked": "yes"},
        {"action": "arc", "points": [[0, 2]]},
        {"action": "remove", "index": 9},
        {},
    ):
        with pytest.raises(ActionError):
            sel.act(action)


def test_every_flow_state_change_reaches_the_listeners() -> None:
    sel, clock = _sel(mode="assist", threshold=40, dwell_s=20, cooldown_s=300)
    seen: list[str] = []
    sel.listeners.append(lambda snap: seen.append(snap["adaptive_flow"]["state"]))
    _feed(sel, clock, 45, 5)
    assert seen == []  # nothing changed: nothing pushed
    _feed(sel, clock, 35, 25)
    _feed(sel, clock, 55, 3)
    assert seen[:3] == ["dipping", "recovering", "cooldown"]
    assert not any(s.recovery for s in sel.suggested)  # recovery picks gave way


def test_adaptive_flow_fires_after_dwell_and_not_again_during_cooldown() -> None:
    sel, clock = _sel(mode="auto", threshold=40, dwell_s=20, cooldown_s=300)
    sel.act({"action": "playing", "track_id": sel.queue[0]["track_id"]})
    _feed(sel, clock, 45, 10)
    _feed(sel, clock, 35, 15)  # below for 15 s: not yet
    assert sel.flow.state == "dipping" and not sel.recovery
    _feed(sel, clock, 35, 10)  # 25 s below: fires
    assert sel.flow.state == "recovering"
    first = sel.queue[0]
    assert (
        first["by"] == "selector" and sel.tracks[first["track_id"]].recovery
    )  # the favourite prior
    assert sel.next_item()["kind"] == "recovery"
    _feed(sel, clock, 45, 10)  # above 40 but below 50: hysteresis holds
    assert sel.flow.state == "recovering"
    _feed(sel, clock, 55, 5)
    assert sel.flow.state == "cooldown"
    assert not sel.recovery
    _feed(sel, clock, 30, 120)  # another dip inside the cooldown: no second recovery
    assert sel.flow.state == "cooldown" and not sel.recovery
    _feed(sel, clock, 30, 300)  # after the cooldown it may fire again
    assert sel.flow.state == "recovering" and sel.recovery


def test_the_model_learns_from_the_crowd() -> None:
    tracks = [_t(i, genre="techno" if i % 2 else "disco", key="8A") for i in range(1, 13)]
    sel, clock = _sel(tracks, mode="manual")
    disco = next(t for t in tracks if t.genre == "disco")
    phi = sel.features(disco, 40.0, 0.0)
    before = sel.model.predict(phi)[0]
    for i in range(1, 9):  # the crowd loves disco and is cold to techno
        sel.act({"action": "playing", "track_id": f"t{i}"})
        _feed(sel, clock, 80.0 if i % 2 == 0 else 25.0, 300)
    sel.act({"action": "playing", "track_id": "t9"})
    after = sel.model.predict(phi)[0]
    techno = sel.model.predict(sel.features(tracks[0], 40.0, 0.0))[0]
    assert after > before and after > techno + 20
    assert all(h["response"] is not None for h in sel.history[:-1])


def test_overrides_survive_a_new_process(tmp_path: Path) -> None:
    db = str(tmp_path / "sel.db")
    sel, _ = _sel(store=SelectorStore(db), mode="assist")
    lib = sample_library()
    sel.act({"action": "mode", "mode": "auto"})
    sel.act({"action": "pin", "track_id": lib[3].id})
    sel.act({"action": "veto", "track_id": lib[4].id})
    sel.act({"action": "veto_artist", "artist": lib[5].artist})
    sel.act({"action": "lock", "locked": True})
    sel.act({"action": "arc", "points": [[0, 0.3], [90, 0.9]]})
    sel.act({"action": "playing", "track_id": lib[6].id})
    again, _ = _sel(store=SelectorStore(db), mode="assist")
    s = again.state()
    assert s["mode"] == "auto" and s["locked"] is True and s["next"]["track"]["id"] == lib[3].id
    assert lib[4].id in s["vetoed_tracks"] and lib[5].artist.lower() in s["vetoed_artists"]
    assert s["energy_arc"] == [[0.0, 0.3], [90.0, 0.9]]
    assert s["now_playing"]["track"]["id"] == lib[6].id
    assert [e["action"] for e in s["log"]][-3:] == ["lock", "energy arc", "playing"]


def test_state_is_json_ready() -> None:
    import json

    sel, clock = _sel(mode="auto")
    sel.act({"action": "playing", "track_id": sel.queue[0]["track_id"]})
    _feed(sel, clock, 60, 5)
    assert json.loads(json.dumps(sel.state()))["now_playing"]["source"] == "console"
    assert np.isfinite(sel.suggested[0].expected)
