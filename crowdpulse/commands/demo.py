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

from crowdpulse import demo
from crowdpulse.cli import CliError, stop_on_signals


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


def run(args: argparse.Namespace) -> int:
    opts = demo.Options(
        args.scenario, args.devices, args.broker, args.http_port, args.player, args.seconds
    )
    stop_on_signals()
    try:
        return demo.run(opts)
    except demo.DemoError as exc:
        raise CliError(str(exc)) from None
