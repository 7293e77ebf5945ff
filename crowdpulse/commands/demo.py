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

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any

from crowdpulse.broker import BrokerError, Mosquitto, find_mosquitto, free_port, wait_for_port
from crowdpulse.cli import CliError, stop_on_signals
from crowdpulse.keys import write_new_key
from crowdpulse.mpdserver import MpdError, MpdServer, find_mpd
from crowdpulse.selector.library import sample_library
from crowdpulse.sim import scenario as scenarios
from crowdpulse.sim.music import write_folder
from crowdpulse.sim.session import venue_toml

VENUE = "demo"
STATUS_EVERY_S = 10.0
TRACK_S = 45.0  # the demo's tracks are cut short, so that a set moves on within minutes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--devices", type=int, default=2000, help="virtual bands (default 2000)")
    parser.add_argument("--scenario", default="normal", help="the crowd and venue (default normal)")
    parser.add_argument(
        "--broker",
        choices=("auto", "mosquitto", "embedded"),
        default="auto",
        help="auto: Mosquitto when installed, else the embedded amqtt broker",
    )
    parser.add_argument(
        "--http-port",
        type=int,
        default=8080,
        help="the console's port (default 8080; a free one if that is taken)",
    )
    parser.add_argument(
        "--player",
        choices=("auto", "mpd", "deck"),
        default="auto",
        help="auto: MPD (null output) when installed, else a simulated deck",
    )
    parser.add_argument(
        "--seconds", type=float, default=0, help="stop after this long (default: Ctrl-C)"
    )


class Part:
    """One child process in its own process group, its output in a log file."""

    def __init__(self, name: str, argv: list[str], log: Path) -> None:
        self.name, self.log = name, log
        self._out: IO[bytes] = log.open("wb")
        self.proc = subprocess.Popen(
            argv,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, n: int = 5) -> str:
        lines = self.log.read_text(errors="replace").strip().splitlines()
        return "\n".join(f"  {self.name}: {line}" for line in lines[-n:])

    def stop(self) -> None:
        if self.alive():
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(8)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
            except ProcessLookupError:
                pass
        self._out.close()


def _port(wanted: int) -> int:
    if wanted == 0:
        return free_port()
    if not 1 <= wanted <= 65535:
        raise CliError("--http-port must be 1-65535")
    return wanted if not wait_for_port("127.0.0.1", wanted, timeout=0.05) else free_port()


def _broker(kind: str, tmp: Path) -> tuple[str, Mosquitto | Part]:
    if kind in ("auto", "mosquitto") and find_mosquitto():
        try:
            mosq = Mosquitto().start()
        except BrokerError as exc:
            raise CliError(str(exc)) from None
        print(f"broker: Mosquitto on {mosq.url}", flush=True)
        return mosq.url, mosq
    if kind == "mosquitto":
        raise CliError(
            "Mosquitto is not installed (apt-get install -y mosquitto); or use --broker embedded"
        )
    port = free_port()
    part = Part(
        "broker",
        [sys.executable, "-m", "crowdpulse.embedded_broker", str(port)],
        tmp / "broker.log",
    )
    if not wait_for_port("127.0.0.1", port, timeout=15):
        part.stop()
        raise CliError("the embedded broker did not start:\n" + part.tail())
    print(
        f"broker: embedded amqtt on mqtt://127.0.0.1:{port} (Mosquitto is not installed)",
        flush=True,
    )
    return f"mqtt://127.0.0.1:{port}", part


def _player(kind: str, music: Path) -> tuple[str, MpdServer | None]:
    """The venue file's [player] table, and the MPD this demo started (if any)."""
    note = f"demo: every track is cut to {TRACK_S:.0f} s"
    if kind in ("auto", "mpd") and find_mpd():
        try:
            server = MpdServer(music).start()
        except MpdError as exc:
            raise CliError(str(exc)) from None
        print(
            f"player: MPD on {server.address} (null output; tracks cut to {TRACK_S:.0f} s)",
            flush=True,
        )
        return f'[player]\nmpd = "{server.address}"\nnote = "{note}"\n', server
    if kind == "mpd":
        raise CliError("MPD is not installed (apt-get install -y mpd); or use --player deck")
    print(
        f"player: a simulated deck (MPD is not installed; tracks cut to {TRACK_S:.0f} s)",
        flush=True,
    )
    return f'[player]\ndeck = true\nnote = "{note}"\n', None


def _get(url: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 (loopback only)
            data = json.loads(r.read())
            return data if isinstance(data, dict) else None
    except (OSError, ValueError, urllib.error.URLError):
        return None


def _wait_gateway(gw: Part, base: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not gw.alive():
            raise CliError("the gateway stopped:\n" + gw.tail())
        if _get(base + "/api/health") is not None:
            return
        time.sleep(0.2)
    raise CliError("the gateway did not answer in time:\n" + gw.tail())


def run(args: argparse.Namespace) -> int:
    try:
        sc = scenarios.load(args.scenario)
    except scenarios.ScenarioError as exc:
        raise CliError(str(exc)) from None
    if not len(sc.zones) <= args.devices <= 50_000:
        raise CliError(f"--devices must be {len(sc.zones)}-50000")
    stop_on_signals()
    parts: list[Part] = []
    broker: Mosquitto | Part | None = None
    mpd: MpdServer | None = None
    with tempfile.TemporaryDirectory(prefix="crowdpulse-demo-") as d:
        tmp = Path(d)
        try:
            url, broker = _broker(args.broker, tmp)
            port = _port(args.http_port)
            write_folder(sample_library(), tmp / "music", TRACK_S)
            player, mpd = _player(args.player, tmp / "music")
            parts = _start(args, sc, tmp, url, port, player)
            _watch(args, parts, f"http://127.0.0.1:{port}")
        except KeyboardInterrupt:
            print("\nstopping", flush=True)
        finally:
            for p in reversed(parts):
                p.stop()
            if mpd is not None:
                mpd.close()
            if broker is not None:
                broker.stop() if isinstance(broker, Part) else broker.close()
    print("demo stopped; nothing left running", flush=True)
    return 0


def _start(
    args: argparse.Namespace, sc: scenarios.Scenario, tmp: Path, url: str, port: int, player: str
) -> list[Part]:
    key, token_file = tmp / "venue.key", tmp / "console.token"
    write_new_key(key)
    token = secrets.token_urlsafe(12)
    token_file.write_text(token + "\n")
    venue = tmp / "venue.toml"
    venue.write_text(
        venue_toml(
            sc,
            args.devices,
            VENUE,
            str(key),
            port,
            str(token_file),
            str(tmp / "gateway.db"),
            selector_mode="auto",
            library=str(tmp / "music"),
        )
        + player
    )
    cp = [sys.executable, "-m", "crowdpulse"]
    gw = Part(
        "gateway", [*cp, "gateway", "--config", str(venue), "--broker", url], tmp / "gateway.log"
    )
    parts = [gw]
    _wait_gateway(gw, f"http://127.0.0.1:{port}")
    sim = [
        *cp,
        "sim",
        "--scenario",
        args.scenario,
        "--devices",
        str(args.devices),
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
    parts.append(Part("crowd", sim, tmp / "crowd.log"))
    print(
        f"gateway: venue {VENUE!r}, {args.devices} simulated bands ({sc.name}), selector in auto mode"
    )
    print(f"console: http://127.0.0.1:{port}/")
    print(f"control token: {token}")
    print("Ctrl-C stops everything", flush=True)
    return parts


def _watch(args: argparse.Namespace, parts: list[Part], base: str) -> None:
    started = time.monotonic()
    next_status = started + 5
    while not args.seconds or time.monotonic() - started < args.seconds:
        for p in parts:
            if not p.alive():
                print(f"the {p.name} stopped (exit {p.proc.returncode}):\n{p.tail()}", flush=True)
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
