"""`crowdpulse demo`: its arguments.  The venue it runs, and how its parts are
started and stopped, is crowdpulse/demo.py's."""

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
