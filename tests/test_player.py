"""The selector playing through a player: the simulated deck on simulated time,
and a real MPD (null output, short generated tracks) in this process and
behind the real gateway."""

from __future__ import annotations

import json
import logging
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import TRACK_S
from gateway_helpers import GatewayProc, write_venue

from crowdpulse.broker import Mosquitto
from crowdpulse.mpdserver import MpdServer
from crowdpulse.selector.deck import SimulatedDeck
from crowdpulse.selector.library import Track, load, sample_library
from crowdpulse.selector.picker import Selector
from crowdpulse.selector.playback import Playback
from crowdpulse.selector.player_mpd import MpdPlayer


def _started(gw: GatewayProc) -> GatewayProc:
    """Ready, or stopped: a gateway that never came up must not outlive the test."""
    try:
        return gw.wait_ready(timeout=90)
    except AssertionError:
        gw.stop()
        raise


def _until(what: Callable[[], Any], timeout: float, why: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = what()
        if got:
            return got
        assert time.monotonic() < deadline, why
        time.sleep(0.05)


# -- the simulated deck, on simulated time ---------------------------------------
class Clock:
    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t


def _deck_set(mode: str = "auto") -> tuple[Selector, SimulatedDeck, Clock]:
    clock = Clock()
    tracks = sample_library()
    sel = Selector(tracks, mode=mode, seed=3, clock=clock)
    deck = SimulatedDeck(tracks, clock=clock, driven=True)
    Playback(sel, deck).start()
    return sel, deck, clock


def _run(deck: SimulatedDeck, clock: Clock, seconds: float) -> None:
    for _ in range(int(seconds)):
        clock.t += 1.0
        deck.advance(clock.t)


def test_deck_plays_the_set_in_auto_mode() -> None:
    sel, deck, clock = _deck_set()
    deck.advance(clock.t)
    assert (
        sel.now is not None and sel.now["source"] == "deck" and deck.current == sel.now["track_id"]
    )
    first = sel.tracks[sel.now["track_id"]]
    _run(deck, clock, first.duration_s + 1)
    assert len(sel.history) == 2 and sel.history[0]["ended_ms"] == sel.history[1]["started_ms"]
    assert deck.current == sel.now["track_id"] != first.id
    _run(deck, clock, 3 * 420)
    assert len(sel.history) >= 5 and deck.current == sel.now["track_id"]
    assert len({h["track_id"] for h in sel.history}) == len(sel.history)  # no repeats


def test_deck_follows_veto_pin_and_play() -> None:
    sel, deck, clock = _deck_set()
    deck.advance(clock.t)
    playing = sel.tracks[sel.now["track_id"]] if sel.now else None
    assert playing is not None
    vetoed = sel.upcoming()
    sel.act({"action": "veto", "track_id": vetoed})
    pinned = next(
        t
        for t in sel.tracks.values()
        if t.id not in (vetoed, playing.id) and t.artist != playing.artist
    )
    sel.act({"action": "pin", "track_id": pinned.id})
    _run(deck, clock, playing.duration_s + 1)
    assert deck.current == pinned.id == sel.now["track_id"]  # the pin played, not the vetoed pick
    other = next(t for t in sel.tracks.values() if t.id not in (pinned.id, playing.id, vetoed))
    sel.act({"action": "playing", "track_id": other.id})  # the artist starts a track by hand
    deck.advance(clock.t)
    assert deck.current == other.id and sel.now["source"] == "deck"
    assert [h["track_id"] for h in sel.history] == [playing.id, pinned.id, other.id]


def test_deck_in_manual_mode_stops_after_the_track() -> None:
    sel, deck, clock = _deck_set()
    deck.advance(clock.t)
    sel.act({"action": "mode", "mode": "manual"})
    _run(deck, clock, sel.tracks[sel.now["track_id"]].duration_s + 2)
    assert deck.current is None and sel.now is None and sel.history[-1]["ended_ms"] is not None


# -- a real MPD ------------------------------------------------------------------------
def _queue(server: MpdServer) -> tuple[str | None, list[str]]:
    """(the current song's file or None, the files after it), from MPD itself."""
    c = server.client()
    try:
        status, queue = c.status(), c.playlistinfo()
    finally:
        c.disconnect()
    cur = int(status["song"]) if status["state"] in ("play", "pause") and "song" in status else -1
    current = next((s["file"] for s in queue if int(s["pos"]) == cur), None)
    return current, [s["file"] for s in queue if int(s["pos"]) > cur]


def _mpd_set(
    server: MpdServer, music: Path
) -> tuple[Selector, MpdPlayer, Playback, dict[str, Track]]:
    lib = load(music)
    assert not lib.errors and len(lib.tracks) == 20
    sel = Selector(lib.tracks, mode="auto", seed=5)
    player = MpdPlayer("127.0.0.1", server.port, lib.tracks)
    pb = Playback(sel, player)
    pb.start()
    return sel, player, pb, {t.id: t for t in lib.tracks}


def _name(track: Track) -> str:
    return Path(track.source).name


def test_auto_mode_keeps_mpd_one_track_ahead_and_follows_it(
    mpd_server: MpdServer, music_folder: Path
) -> None:
    sel, player, pb, tracks = _mpd_set(mpd_server, music_folder)
    try:
        seen: list[str] = []
        deadline = time.monotonic() + 8 * TRACK_S + 20
        while len(seen) < 4:
            assert time.monotonic() < deadline, f"MPD played only {seen}"
            current, after = _queue(mpd_server)
            if current is not None and (not seen or seen[-1] != current):
                seen.append(current)
            time.sleep(0.1)
        assert len(set(seen)) == 4  # four different songs really played in MPD

        # what the selector says plays is what MPD plays, and the queue is one ahead
        def agreed() -> bool:
            with sel.lock:
                current, after = _queue(mpd_server)
                now, nxt = sel.now, sel.upcoming()
            return bool(
                now
                and nxt
                and current == _name(tracks[now["track_id"]])
                and after == [_name(tracks[nxt])]
            )

        _until(agreed, 10, "the selector and MPD disagree on what plays and what is next")
        assert [h["track_id"] for h in sel.history[-4:-1]] == [
            next(t.id for t in tracks.values() if _name(t) == f) for f in seen[-4:-1]
        ]
        assert all(h["ended_ms"] is not None for h in sel.history[:-1])
    finally:
        pb.stop()


def test_veto_and_pin_change_mpds_queue(mpd_server: MpdServer, music_folder: Path) -> None:
    sel, player, pb, tracks = _mpd_set(mpd_server, music_folder)
    try:
        _until(lambda: len(_queue(mpd_server)[1]) == 1, 10, "MPD's queue never got a next track")
        with sel.lock:
            vetoed = sel.upcoming()
            assert vetoed is not None
            sel.act({"action": "veto", "track_id": vetoed})
            replacement = sel.upcoming()
        assert replacement not in (None, vetoed)

        # (the set goes on meanwhile: 4 s tracks; the checks allow for a track change)
        def vetoed_gone() -> bool:
            with sel.lock:
                current, after = _queue(mpd_server)
                nxt = sel.upcoming()
            return (
                _name(tracks[vetoed]) not in after
                and nxt is not None
                and after == [_name(tracks[nxt])]
            )

        _until(vetoed_gone, 5, "the vetoed track stayed in MPD's queue")
        with sel.lock:
            pin = next(
                t
                for t in tracks.values()
                if t.id not in {h["track_id"] for h in sel.history}
                and t.id not in (vetoed, replacement)
            )
            sel.act({"action": "pin", "track_id": pin.id})
        _until(
            lambda: _name(pin) in (_queue(mpd_server)[1][:1] + [_queue(mpd_server)[0]]),
            5,
            "the pin did not replace MPD's next track",
        )
        _until(
            lambda: sel.now is not None and sel.now["track_id"] == pin.id,
            2 * TRACK_S + 10,
            "the pinned track never played",
        )
        assert _queue(mpd_server)[0] == _name(pin) or sel.now["track_id"] != pin.id
    finally:
        pb.stop()


def test_mpd_down_one_line_backoff_and_nothing_lost(
    mpd_server: MpdServer, music_folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    mpd_server.stop()
    caplog.set_level(logging.INFO, logger="crowdpulse.player")
    sel, player, pb, tracks = _mpd_set(mpd_server, music_folder)
    try:
        _until(lambda: pb.status()["error"], 10, "no error while MPD is down")
        status = pb.status()
        assert status["connected"] is False and status["retry_in_s"] is not None
        assert status["error"] == "connection refused"
        pin = tracks[sorted(tracks)[7]]
        sel.act({"action": "pin", "track_id": pin.id})  # the artist acts while MPD is away
        time.sleep(2.5)  # several retries
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert (
            len(warnings) == 1
            and "unreachable (connection refused); retrying" in warnings[0].getMessage()
        )
        assert sel.pinned == pin.id
        mpd_server.start(update=False)  # MPD's database survives in its folder
        _until(lambda: pb.status()["connected"], 40, "never reconnected")
        _until(lambda: _queue(mpd_server)[0] == _name(pin), 10, "the pin was lost in the outage")
        _until(
            lambda: sel.now is not None and sel.now["track_id"] == pin.id,
            5,
            "the selector missed the start",
        )
    finally:
        pb.stop()


def test_gateway_in_auto_mode_plays_through_mpd(
    mosquitto: Mosquitto, mpd_server: MpdServer, music_folder: Path, tmp_path: Path
) -> None:
    cfg = write_venue(
        tmp_path,
        extra=f'[selector]\nlibrary = "{music_folder}"\nmode = "auto"\n'
        f'[player]\nmpd = "{mpd_server.address}"\n',
    )
    gw = _started(GatewayProc(mosquitto.url, cfg))
    try:

        def agreed() -> dict[str, Any] | None:
            s = gw.get("/api/selector")
            current, after = _queue(mpd_server)
            now, nxt = s["now_playing"], s["next"]
            if (
                now
                and nxt
                and current == Path(now["track"]["source"]).name
                and after == [Path(nxt["track"]["source"]).name]
            ):
                return s
            return None

        s = _until(
            agreed, 20, "MPD's current song is not now_playing, or its queue is not one ahead"
        )
        assert s["player"]["backend"] == "mpd" and s["player"]["connected"] is True
        assert s["now_playing"]["source"] == "mpd"
        vetoed = s["next"]["track"]
        token = {"Authorization": "Bearer test-token", "Content-Type": "application/json"}
        req = urllib.request.Request(
            f"http://127.0.0.1:{gw.port}/api/selector/action",
            method="POST",
            data=json.dumps({"action": "veto", "track_id": vetoed["id"]}).encode(),
            headers=token,
        )
        with urllib.request.urlopen(req, timeout=5) as r:
            assert json.loads(r.read())["ok"] is True
        _until(
            lambda: Path(vetoed["source"]).name not in _queue(mpd_server)[1],
            5,
            "the veto did not reach MPD's queue",
        )
        s = _until(agreed, 2 * TRACK_S + 10, "MPD and the selector disagree after the veto")
        assert vetoed["id"] in s["vetoed_tracks"]
        # the set moves on in MPD, and the selector's history follows it
        _until(
            lambda: len(gw.get("/api/selector")["history"]) >= 3,
            3 * TRACK_S + 10,
            "the set did not move on",
        )
        # MPD goes away: the console says so, the gateway keeps going, and MPD's return is picked up
        mpd_server.stop()
        down = _until(
            lambda: (p := gw.get("/api/selector")["player"]) and not p["connected"] and p,
            10,
            "the selector state does not say that MPD is down",
        )
        assert (
            down["error"] in ("connection lost", "connection refused")
            and down["retry_in_s"] is not None
        )
        assert gw.get("/api/state")["venue"] == "testclub"
        mpd_server.start(update=False)
        _until(
            lambda: gw.get("/api/selector")["player"]["connected"],
            40,
            "MPD's return was not picked up",
        )
        _until(agreed, 2 * TRACK_S + 10, "the set did not resume in MPD")
    finally:
        out = gw.stop()
    assert "Traceback" not in out
    assert len([ln for ln in out.splitlines() if "player: lost MPD" in ln]) == 1, out


def test_venue_file_player_and_osc_errors_are_one_line(tmp_path: Path) -> None:
    from crowdpulse.gateway.venue import VenueConfigError, load

    for extra, says in (
        ('[player]\nmpd = "localhost"\n', 'player.mpd must be "host:port"'),
        ('[player]\nmpd = "127.0.0.1:70000"\n', 'player.mpd must be "host:port"'),
        ('[player]\nmpd = "127.0.0.1:6600"\ndeck = true\n', "one player only"),
        ('[player]\ndeck = "yes"\n', "player.deck must be bool"),
        ('[osc]\ntargets = ["127.0.0.1:9000", 9001]\n', 'osc.targets[1] must be "host:port"'),
        ('[osc]\ntargets = "127.0.0.1:9000"\n', "osc.targets must be list"),
    ):
        cfg = write_venue(tmp_path, extra=extra)
        with pytest.raises(VenueConfigError) as err:
            load(cfg)
        assert says in str(err.value) and "\n" not in str(err.value)
    cfg = load(
        write_venue(
            tmp_path,
            extra='[player]\nmpd = "[::1]:6601"\nnote = "hi"\n'
            '[osc]\ntargets = ["127.0.0.1:9000", "lights.local:7700"]\n',
        )
    )
    assert cfg.player_mpd == ("::1", 6601) and cfg.player_note == "hi"
    assert cfg.osc_targets == [("127.0.0.1", 9000), ("lights.local", 7700)]
