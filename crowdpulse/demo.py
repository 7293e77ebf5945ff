"""`crowdpulse demo`: a whole venue on this machine, with no network.

A broker (Mosquitto when installed, else the embedded amqtt broker), the real
gateway with the sample library and its console, a player (MPD with a null
output when installed, else a simulated deck) playing the sample library's
tracks cut short, and a simulated crowd of virtual bands whose relays publish
through the broker; the selector runs in auto mode, the player plays its
picks, and the crowd hears what plays.  Each part is its own process group, so
Ctrl-C (or SIGTERM) stops all of them and leaves nothing behind.
"""

from __future__ import annotations

import json
import secrets
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crowdpulse.broker import BrokerError, Mosquitto, find_mosquitto, free_port, wait_for_port
from crowdpulse.keys import write_new_key
from crowdpulse.mpdserver import MpdError, MpdServer, find_mpd
from crowdpulse.selector.library import sample_library
from crowdpulse.sim.runs.session import venue_file
from crowdpulse.sim.world import scenario as scenarios
from crowdpulse.sim.world.music import write_folder
from crowdpulse.supervisor import GatewayPart, Part, PartStoppedError, Supervisor

VENUE = "demo"
STATUS_EVERY_S = 10.0
TRACK_S = 45.0  # the demo's tracks are cut short, so that a set moves on within minutes


class DemoError(RuntimeError):
    """The demo cannot start (one line, perhaps with the end of a part's log)."""


@dataclass(frozen=True)
class Options:
    scenario: str = "normal"  # a shipped scenario's name, or a .toml file
    devices: int = 2000
    broker: str = "auto"  # auto, mosquitto or embedded
    http_port: int = 8080  # 0: any free port; a taken one is replaced by a free one
    player: str = "auto"  # auto, mpd or deck
    seconds: float = 0  # 0: until Ctrl-C


def run(opts: Options) -> int:
    """The whole venue until Ctrl-C, `opts.seconds` or a part dies; then nothing is left running."""
    try:
        sc = scenarios.load(opts.scenario)
    except scenarios.ScenarioError as exc:
        raise DemoError(str(exc)) from None
    if not len(sc.zones) <= opts.devices <= 50_000:
        raise DemoError(f"--devices must be {len(sc.zones)}-50000")
    sup = Supervisor()
    with tempfile.TemporaryDirectory(prefix="crowdpulse-demo-") as d:
        tmp = Path(d)
        try:
            url = _broker(opts.broker, tmp, sup)
            port = _port(opts.http_port)
            write_folder(sample_library(), tmp / "music", TRACK_S)
            player = _player(opts.player, tmp / "music", sup)
            _start(opts, sc, tmp, url, port, player, sup)
            _watch(opts, sup, f"http://127.0.0.1:{port}")
        except KeyboardInterrupt:
            print("\nstopping", flush=True)
        finally:
            sup.stop_all()
    print("demo stopped; nothing left running", flush=True)
    return 0


def _port(wanted: int) -> int:
    if wanted == 0:
        return free_port()
    if not 1 <= wanted <= 65535:
        raise DemoError("--http-port must be 1-65535")
    return wanted if not wait_for_port("127.0.0.1", wanted, timeout=0.05) else free_port()


def _broker(kind: str, tmp: Path, sup: Supervisor) -> str:
    if kind in ("auto", "mosquitto") and find_mosquitto():
        try:
            mosq = Mosquitto().start()
        except BrokerError as exc:
            raise DemoError(str(exc)) from None
        sup.add_server("broker", mosq)
        print(f"broker: Mosquitto on {mosq.url}", flush=True)
        return mosq.url
    if kind == "mosquitto":
        raise DemoError(
            "Mosquitto is not installed (apt-get install -y mosquitto); or use --broker embedded"
        )
    port = free_port()
    part = sup.add(
        Part(
            "broker",
            [sys.executable, "-m", "crowdpulse.embedded_broker", str(port)],
            tmp / "broker.log",
        )
    )
    if not wait_for_port("127.0.0.1", port, timeout=15):
        raise DemoError("the embedded broker did not start:\n" + part.tail())
    print(
        f"broker: embedded amqtt on mqtt://127.0.0.1:{port} (Mosquitto is not installed)",
        flush=True,
    )
    return f"mqtt://127.0.0.1:{port}"


def _player(kind: str, music: Path, sup: Supervisor) -> dict[str, str | bool]:
    """The venue file's [player] table (an MPD this demo starts joins `sup`)."""
    note = f"demo: every track is cut to {TRACK_S:.0f} s"
    if kind in ("auto", "mpd") and find_mpd():
        try:
            server = MpdServer(music).start()
        except MpdError as exc:
            raise DemoError(str(exc)) from None
        sup.add_server("player", server)
        print(
            f"player: MPD on {server.address} (null output; tracks cut to {TRACK_S:.0f} s)",
            flush=True,
        )
        return {"mpd": server.address, "note": note}
    if kind == "mpd":
        raise DemoError("MPD is not installed (apt-get install -y mpd); or use --player deck")
    print(
        f"player: a simulated deck (MPD is not installed; tracks cut to {TRACK_S:.0f} s)",
        flush=True,
    )
    return {"deck": True, "note": note}


def _get(url: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 (loopback only)
            data = json.loads(r.read())
            return data if isinstance(data, dict) else None
    except (OSError, ValueError, urllib.error.URLError):
        return None


def _start(
    opts: Options,
    sc: scenarios.Scenario,
    tmp: Path,
    url: str,
    port: int,
    player: dict[str, str | bool],
    sup: Supervisor,
) -> None:
    key, token_file = tmp / "venue.key", tmp / "console.token"
    write_new_key(key)
    token = secrets.token_urlsafe(12)
    token_file.write_text(token + "\n")
    venue = tmp / "venue.toml"
    spec = venue_file(sc, opts.devices, VENUE, str(key), port)
    spec.token_file, spec.db_path = str(token_file), str(tmp / "gateway.db")
    spec.selector_mode, spec.library, spec.player = "auto", str(tmp / "music"), player
    venue.write_text(spec.text())
    cp = [sys.executable, "-m", "crowdpulse"]
    gw = sup.add(GatewayPart(url, venue, port, tmp / "gateway.log"))
    try:
        gw.wait_up(timeout=60.0, mqtt=False)
    except PartStoppedError as exc:
        raise DemoError(str(exc)) from None
    sim = [
        *cp,
        "sim",
        "--scenario",
        opts.scenario,
        "--devices",
        str(opts.devices),
        "--broker",
        url,
        "--venue",
        VENUE,
        "--venue-key",
        str(key),
        "--follow",
        "selector",
        "--truth",
        str(tmp / "truth.csv"),
    ]
    sup.add(Part("crowd", sim, tmp / "crowd.log"))
    print(
        f"gateway: venue {VENUE!r}, {opts.devices} simulated bands ({sc.name}), "
        "selector in auto mode"
    )
    print(f"console: http://127.0.0.1:{port}/")
    print(f"control token: {token}")
    print("Ctrl-C stops everything", flush=True)


def _watch(opts: Options, sup: Supervisor, base: str) -> None:
    started = time.monotonic()
    next_status = started + 5
    while not opts.seconds or time.monotonic() - started < opts.seconds:
        dead = sup.dead()
        if dead is not None:
            print(dead, flush=True)
            return
        if time.monotonic() >= next_status:
            next_status += STATUS_EVERY_S
            _status(base)
        time.sleep(0.25)


def _status(base: str) -> None:
    state, sel = _get(base + "/api/state"), _get(base + "/api/selector")
    if not state:
        return
    playing = (sel or {}).get("now_playing") or {}
    track = playing.get("track", {})
    zones = "  ".join(
        f"{z['zone']} {z['score'] if z['score'] is not None else '-'}"
        for z in state.get("zones", [])
    )
    if track:
        at = max(0.0, time.time() - playing.get("started_ms", 0) / 1000.0)
        what = (
            f"{track.get('artist', '?')} - {track.get('title', '?')} "
            f"({at:.0f}/{track.get('duration_s', 0):.0f} s, {playing.get('source', '?')})"
        )
    else:
        what = "nothing yet"
    flow = ((sel or {}).get("adaptive_flow") or {}).get("state", "-")
    print(
        f"sentiment {state.get('score', '-')}  ({zones})  bands {state.get('bands', 0)}  "
        f"flow {flow}  playing: {what}",
        flush=True,
    )
