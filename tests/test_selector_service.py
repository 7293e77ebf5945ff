"""The selector inside the real gateway: HTTP and MQTT actions, tokens, retained
state, Mixxx's play history, and overrides that survive kill -9."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from gateway_helpers import (
    EXE,
    VENUE,
    Bands,
    GatewayProc,
    band_ids,
    publisher,
    send_batch,
    write_venue,
)

from crowdpulse.broker import Mosquitto
from crowdpulse.mqtt import BrokerURL, make_client, topic
from crowdpulse.selector.library import sample_library

LIB = sample_library()


def _post(
    gw: GatewayProc, body: dict[str, Any], token: str | None = "test-token"
) -> tuple[int, dict]:
    req = urllib.request.Request(
        f"http://127.0.0.1:{gw.port}/api/selector/action",
        method="POST",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_actions_need_the_token_and_change_the_state(mosquitto: Mosquitto, tmp_path: Path) -> None:
    gw = GatewayProc(mosquitto.url, write_venue(tmp_path)).wait_ready()
    try:
        before = gw.get("/api/selector")
        code, body = _post(gw, {"action": "mode", "mode": "manual"}, token=None)
        assert code == 401 and body == {"error": "token required"}
        code, body = _post(gw, {"action": "mode", "mode": "manual"}, token="wrong")
        assert code == 401
        assert gw.get("/api/selector")["mode"] == before["mode"]
        code, body = _post(gw, {"action": "mode", "mode": "warp"})
        assert code == 400 and "mode must be" in body["error"]
        code, body = _post(gw, {"action": "pin", "track_id": LIB[2].id})
        assert code == 200 and body["state"]["next"]["kind"] == "pinned"
        lib = gw.get("/api/library?q=" + LIB[2].artist.split()[0])
        assert any(t["id"] == LIB[2].id for t in lib["tracks"])
    finally:
        gw.stop()


def test_mqtt_commands_and_retained_state(mosquitto: Mosquitto, tmp_path: Path) -> None:
    gw = GatewayProc(mosquitto.url, write_venue(tmp_path)).wait_ready()
    try:
        pub = publisher(mosquitto.url)
        pub.publish(
            topic(VENUE, "selector", "cmd"),
            json.dumps({"action": "veto", "track_id": LIB[0].id}),
            qos=1,
        ).wait_for_publish(5)
        pub.publish(topic(VENUE, "selector", "cmd"), b"{broken", qos=1).wait_for_publish(5)
        pub.loop_stop()
        deadline = time.monotonic() + 5
        while LIB[0].id not in gw.get("/api/selector")["vetoed_tracks"]:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        got: list[dict] = []
        c = make_client(BrokerURL.parse(mosquitto.url))
        c.on_message = lambda cl, u, m: got.append(json.loads(m.payload))
        c.connect("127.0.0.1", mosquitto.port)
        c.subscribe(topic(VENUE, "selector", "state"))
        c.loop_start()
        deadline = time.monotonic() + 5
        while not got and time.monotonic() < deadline:
            time.sleep(0.05)
        c.loop_stop()
        assert got and LIB[0].id in got[0]["vetoed_tracks"]
        assert gw.proc.poll() is None
    finally:
        gw.stop()


def _learn_one_track(gw: GatewayProc, mosquitto: Mosquitto, cfg: Path) -> None:
    """Play tracks to a reporting crowd until the selector has measured one
    response (it needs ten scores, one a second, while the track plays)."""
    bands, pub = Bands(cfg, band_ids(1, 20)), publisher(mosquitto.url)
    played, next_change = 0, 0.0
    deadline = time.monotonic() + 180
    try:
        while not any(h["response"] is not None for h in gw.get("/api/selector")["history"]):
            assert time.monotonic() < deadline, "the selector measured no response"
            if time.monotonic() >= next_change:
                assert _post(gw, {"action": "playing", "track_id": LIB[played].id})[0] == 200
                played, next_change = played + 1, time.monotonic() + 12.0
            now = int(time.time() * 1000)
            send_batch(pub, bands.reports(now), now)
            time.sleep(0.25)
    finally:
        pub.loop_stop()


def _saved_model(cfg: Path) -> dict[str, Any]:
    db = sqlite3.connect(f"file:{cfg.parent / 'gateway.db'}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT value FROM selector_state WHERE key = 'model'").fetchone()
    finally:
        db.close()
    return json.loads(row[0])  # type: ignore[no-any-return]


def _kept(s: dict[str, Any]) -> dict[str, Any]:
    return {
        "queue": [(q["track"]["id"], q["reason"], q["by"]) for q in s["queue"]],
        "history": [
            (h["track"]["id"], h["started_ms"], h["ended_ms"], h["response"]) for h in s["history"]
        ],
        "now_playing": s["now_playing"],
    }


def test_overrides_queue_history_and_model_survive_kill_9(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    cfg = write_venue(tmp_path)
    gw = GatewayProc(mosquitto.url, cfg).wait_ready()
    try:
        assert _post(gw, {"action": "mode", "mode": "assist"})[0] == 200
        _learn_one_track(gw, mosquitto, cfg)
        for _ in range(2):
            assert _post(gw, {"action": "approve"})[0] == 200
        # vetoes that leave the approved queue alone (a veto takes its tracks out)
        queued = {q["track"]["artist"].lower() for q in gw.get("/api/selector")["queue"]}
        spare = [t for t in LIB[11:] if t.artist.lower() not in queued]
        vetoed = spare[0]
        vetoed_artist = next(t.artist for t in spare if t.artist.lower() != vetoed.artist.lower())
        for body in (
            {"action": "mode", "mode": "manual"},
            {"action": "pin", "track_id": LIB[10].id},
            {"action": "veto", "track_id": vetoed.id},
            {"action": "veto_artist", "artist": vetoed_artist},
            {"action": "lock", "locked": True},
            {"action": "arc", "points": [[0, 0.5], [60, 0.9]]},
            {"action": "event_over"},
        ):
            assert _post(gw, body)[0] == 200
        before = gw.get("/api/selector")
        model = _saved_model(cfg)
    finally:
        gw.proc.send_signal(signal.SIGKILL)
        gw.proc.wait(10)
    assert len(before["queue"]) == 2 and len(before["history"]) >= 2
    assert model["updates"] >= 1  # it learned from the crowd's response
    again = GatewayProc(mosquitto.url, cfg).wait_ready()
    try:
        s = again.get("/api/selector")
        assert s["mode"] == "manual" and s["locked"] is True
        assert s["next"]["track"]["id"] == LIB[10].id
        assert vetoed.id in s["vetoed_tracks"] and vetoed_artist.lower() in s["vetoed_artists"]
        assert s["energy_arc"] == [[0.0, 0.5], [60.0, 0.9]]
        assert s["event"]["over"] is True  # bands are not told to listen again
        assert _kept(s) == _kept(before)  # the queue, the history and what is playing
        # the restarted selector saves its own model with its next change: the
        # learned one, not the prior it would start from had it not reloaded it
        assert _post(again, {"action": "lock", "locked": True})[0] == 200
        assert _saved_model(cfg) == model
    finally:
        again.stop()


def _mixxx_db(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE track_locations (id INTEGER PRIMARY KEY AUTOINCREMENT, location varchar(512) UNIQUE,
            filename varchar(512), directory varchar(512), filesize INTEGER, fs_deleted INTEGER,
            needs_verification INTEGER);
        CREATE TABLE library (id INTEGER PRIMARY KEY AUTOINCREMENT, artist varchar(64), title varchar(64),
            location INTEGER REFERENCES track_locations(location), bpm FLOAT, key varchar(8), duration FLOAT);
        CREATE TABLE Playlists (id INTEGER primary key, name varchar(48), position INTEGER,
            hidden INTEGER DEFAULT 0 NOT NULL, date_created datetime, date_modified datetime, locked integer DEFAULT 0);
        CREATE TABLE PlaylistTracks (id INTEGER primary key, playlist_id INTEGER REFERENCES Playlists(id),
            track_id INTEGER REFERENCES library(id), position INTEGER, pl_datetime_added);
        INSERT INTO Playlists (id, name, hidden) VALUES (1, 'Auto DJ', 1), (2, '2026-11-24', 2);
    """)  # noqa: E501 (the schema kept as written: its line breaks are in the string)
    for i, t in enumerate(LIB[:5], 1):
        db.execute(
            "INSERT INTO track_locations (id, location) VALUES (?, ?)", (i, f"/music/{i}.flac")
        )
        db.execute(
            "INSERT INTO library (id, artist, title, location) VALUES (?, ?, ?, ?)",
            (i, t.artist, t.title, i),
        )
    db.commit()
    return db


def test_now_playing_follows_mixxx_history(mosquitto: Mosquitto, tmp_path: Path) -> None:
    db = _mixxx_db(tmp_path / "mixxxdb.sqlite")
    cfg = write_venue(tmp_path, extra=f'[selector]\nmixxx_db = "{tmp_path / "mixxxdb.sqlite"}"\n')
    gw = GatewayProc(mosquitto.url, cfg).wait_ready()
    try:
        for n, track in ((1, LIB[3]), (2, LIB[1])):
            db.execute(
                "INSERT INTO PlaylistTracks (playlist_id, track_id, position) VALUES (1, 5, ?)",
                (n,),
            )  # Auto DJ: ignored
            lib_id = LIB.index(track) + 1
            db.execute(
                "INSERT INTO PlaylistTracks (playlist_id, track_id, position) VALUES (2, ?, ?)",
                (lib_id, n),
            )
            db.commit()
            deadline = time.monotonic() + 8
            while (gw.get("/api/selector").get("now_playing") or {}).get("track", {}).get(
                "id"
            ) != track.id:
                assert time.monotonic() < deadline, f"Mixxx's track {n} not picked up"
                time.sleep(0.2)
        s = gw.get("/api/selector")
        assert s["now_playing"]["source"] == "mixxx" and len(s["history"]) == 2
    finally:
        gw.stop()
        db.close()


def test_bench_select_gives_the_documented_figures() -> None:
    # deterministic (seeded crowds, seeded Thompson sampling, simulated clock):
    # docs/selector.md and docs/benchmarks.md quote these; ratios within 0.005,
    # the recovery median within 10 s, the dips exactly
    out = subprocess.run(
        [EXE, "bench", "select", "--json"], capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["seeds"] == [1, 2, 3, 4, 5] and r["hours"] == 2.0
    assert abs(r["vs_oracle"] - 0.920) <= 0.005, r
    assert abs(r["random_vs_oracle"] - 0.804) <= 0.005, r
    assert abs(r["library_order_vs_oracle"] - 0.829) <= 0.005, r
    assert abs(r["recovery_median_s"] - 430) <= 10, r
    assert r["recoveries"] == 33, r
    assert r["vs_oracle"] >= 0.9  # the target (docs/benchmarks.md)
