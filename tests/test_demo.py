"""`crowdpulse demo`: everything up, the console answering, and Ctrl-C leaving nothing behind."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from gateway_helpers import EXE

from crowdpulse.supervisor import GatewayPart, PartStoppedError


def _children(pid: int) -> list[int]:
    """The processes `pid` started (so a second demo on the machine is not ours)."""
    kids = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                stat = (p / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(p.name))
    return kids


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().replace("\0", " ")
    except OSError:
        return ""


def _ours(tmp_dir: str) -> list[int]:
    """Processes whose command line names the demo's temporary folder."""
    pids = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if tmp_dir in (p / "cmdline").read_bytes().decode(errors="replace"):
                    pids.append(int(p.name))
            except OSError:
                pass
    return pids


@pytest.mark.parametrize(("broker", "player"), [("mosquitto", "mpd"), ("embedded", "deck")])
def test_demo_runs_and_ctrl_c_stops_everything(broker: str, player: str) -> None:
    proc = subprocess.Popen(
        [
            EXE,
            "demo",
            "--devices",
            "300",
            "--http-port",
            "0",
            "--broker",
            broker,
            "--player",
            player,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 120
        while not any("Ctrl-C stops everything" in ln for ln in lines):
            assert time.monotonic() < deadline and proc.poll() is None, "".join(lines)
            lines.append(proc.stdout.readline())
        text = "".join(lines)
        assert (
            "Mosquitto on mqtt://" if broker == "mosquitto" else "embedded amqtt on mqtt://"
        ) in text
        assert (
            "player: MPD on 127.0.0.1:" if player == "mpd" else "player: a simulated deck"
        ) in text
        url = re.search(r"console: (http://\S+)", text)
        token = re.search(r"control token: (\S+)", text)
        assert url and token
        with urllib.request.urlopen(url.group(1), timeout=5) as r:
            assert b"<html" in r.read().lower()
        state: dict = {}
        deadline = time.monotonic() + 60  # the crowd's reports reach the gateway: a score appears
        while state.get("score") is None or state["bands"] <= 50:
            assert time.monotonic() < deadline, state
            time.sleep(1)
            with urllib.request.urlopen(url.group(1) + "api/state", timeout=5) as r:
                state = json.loads(r.read())
        tmp_dir = re.search(
            r"--config (\S+)/venue.toml",
            " ".join(_cmdline(pid) for pid in _children(proc.pid)),
        )
        assert tmp_dir
        assert len(_ours(tmp_dir.group(1))) >= 2  # the gateway and the crowd (and MPD)
        with urllib.request.urlopen(url.group(1) + "api/selector", timeout=5) as r:
            sel = json.loads(r.read())
        assert sel["now_playing"]["source"] == player and sel["player"]["backend"] == player
        assert "cut to 45 s" in sel["player"]["note"]
    finally:
        proc.send_signal(signal.SIGINT)
        out = proc.communicate(timeout=60)[0]
    assert proc.returncode == 0, out
    assert "nothing left running" in out and "Traceback" not in out
    assert _ours(tmp_dir.group(1)) == []
    assert not Path(tmp_dir.group(1)).exists()  # key, token and history go with it


def _get(base: str, path: str) -> dict:
    with urllib.request.urlopen(base + path, timeout=5) as r:
        data: dict = json.loads(r.read())
    return data


def test_demo_plays_a_set_and_adaptive_flow_catches_the_dip() -> None:
    """The newcomer's three minutes: a set playing within 60 s; after 3 min a track
    playing and at least two measured tracks behind it; the artist's two unloved
    tracks (scenario demo_dip) make the room dip and Adaptive Flow fire."""
    proc = subprocess.Popen(
        [EXE, "demo", "--devices", "400", "--http-port", "0", "--scenario", "demo_dip"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 120
        while not any("Ctrl-C stops everything" in ln for ln in lines):
            assert time.monotonic() < deadline and proc.poll() is None, "".join(lines)
            lines.append(proc.stdout.readline())
        started = time.monotonic()
        url = re.search(r"console: (http://\S+)", "".join(lines))
        assert url
        base = url.group(1)
        sel = _get(base, "api/selector")
        while not sel["now_playing"]:  # a set playing within 60 s
            assert time.monotonic() - started < 60, sel
            time.sleep(1)
            sel = _get(base, "api/selector")
        time.sleep(max(0.0, 180 - (time.monotonic() - started)))
        sel = _get(base, "api/selector")
        assert sel["now_playing"] is not None and sel["now_playing"]["source"] == "mpd"
        measured = [h for h in sel["history"] if h["response"] is not None]
        assert len(measured) >= 2, sel["history"]
        assert all(h["ended_ms"] is not None for h in measured)
        dj = [e for e in sel["log"] if e["who"] == "artist" and e["action"] == "playing"]
        fired = [e for e in sel["log"] if e["action"] in ("queue recovery", "suggest recovery")]
        deadline = time.monotonic() + 120  # the dip: the artist's first unloved track comes at 0:45
        while not (dj and fired and fired[0]["t"] > dj[0]["t"]):
            assert time.monotonic() < deadline and proc.poll() is None, sel["log"]
            time.sleep(2)
            sel = _get(base, "api/selector")
            dj = [e for e in sel["log"] if e["who"] == "artist" and e["action"] == "playing"]
            fired = [e for e in sel["log"] if e["action"] in ("queue recovery", "suggest recovery")]
        fired_s = (fired[0]["t"] / 1000 - time.time()) + time.monotonic() - started
        print(f"Adaptive Flow fired {fired_s:.0f} s into the demo")
    finally:
        proc.send_signal(signal.SIGINT)
        out = proc.communicate(timeout=60)[0]
    assert proc.returncode == 0 and "Traceback" not in out, out
    assert re.search(r"playing: .+ - .+ \(\d+/45 s, mpd\)", out)  # the status line names what plays


def test_a_dead_broker_is_named_and_the_demo_stops_cleanly() -> None:
    """Every part is watched, the broker included: when Mosquitto dies the demo
    says so in one line and stops, rather than printing empty scores."""
    proc = subprocess.Popen(
        [EXE, "demo", "--devices", "100", "--http-port", "0", "--broker", "mosquitto"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 120
        while not any("Ctrl-C stops everything" in ln for ln in lines):
            assert time.monotonic() < deadline and proc.poll() is None, "".join(lines)
            lines.append(proc.stdout.readline())
        mosquitto = [p for p in _children(proc.pid) if "mosquitto" in _cmdline(p).split(" ")[0]]
        assert len(mosquitto) == 1, [_cmdline(p) for p in _children(proc.pid)]
        os.kill(mosquitto[0], signal.SIGKILL)
        out = proc.communicate(timeout=60)[0]
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "the broker stopped" in out and "nothing left running" in out, out
    assert "Traceback" not in out
    assert _children(proc.pid) == []


def test_a_gateway_that_cannot_start_is_named_with_its_own_line(tmp_path: Path) -> None:
    # the one way the demo, the benches and the tests start a gateway (supervisor.py)
    missing = tmp_path / "no-venue.toml"
    gw = GatewayPart("mqtt://127.0.0.1:9", missing, 9, tmp_path / "gateway.log")
    with pytest.raises(PartStoppedError) as info:
        gw.wait_up(timeout=60.0)
    assert str(info.value).startswith("the gateway stopped:"), info.value
    assert f"{missing}: No such file or directory" in str(info.value), info.value
    assert gw.proc.returncode == 2
