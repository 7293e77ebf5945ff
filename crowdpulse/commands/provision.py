"""`crowdpulse provision`: flash and configure the bands of a fleet file (docs/flashing.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from crowdpulse.cli import CliError
from crowdpulse.commands import bandoptions
from crowdpulse.commands.flash import add_link_arguments, default_transport, venue_note
from crowdpulse.tools import bandconfig, fleetrun, provision


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--fleet", required=True, metavar="FILE", help="band_id,zone[,transport] per line"
    )
    parser.add_argument(
        "--ports",
        default="auto",
        help="auto (USB serial ports of ESP32 boards) or a comma-separated list",
    )
    parser.add_argument(
        "--parallel", type=int, default=4, metavar="N", help="bands at once (default 4)"
    )
    parser.add_argument(
        "--venue-key",
        metavar="FILE",
        help="venue key file (default: $CROWDPULSE_VENUE_KEY; or --config)",
    )
    parser.add_argument(
        "--record",
        metavar="FILE",
        help="the fleet record, JSON lines (default: FLEET.record.jsonl beside the fleet file)",
    )
    parser.add_argument(
        "--transport",
        choices=bandconfig.TRANSPORTS,
        help="for rows without one (default: both with --mqtt-host, else ble)",
    )
    parser.add_argument(
        "--image", metavar="FILE", help="write this MicroPython image on every band first"
    )
    parser.add_argument(
        "--force", action="store_true", help="flash bands the record has as done, too"
    )
    parser.add_argument(
        "--mqtt-passwords",
        metavar="FILE",
        help="write `band_id password` lines for Mosquitto here (mode 600)",
    )
    add_link_arguments(parser)
    bandoptions.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    if not 1 <= args.parallel <= 64:
        raise CliError("--parallel must be 1-64")
    v = bandoptions.venue(args)
    transport = default_transport(args)
    opts = fleetrun.Options(
        fleet=Path(args.fleet),
        transport=transport,
        ports=args.ports,
        record=Path(args.record) if args.record else None,
        parallel=args.parallel,
        force=args.force,
        board=args.board,
        image=Path(args.image) if args.image else None,
        connect_timeout=args.connect_timeout,
        boot_timeout=args.boot_timeout,
        mqtt_timeout=args.mqtt_timeout,
        config_name=args.config or "--config",
    )
    try:
        r = fleetrun.FleetRun(opts, v, bandoptions.settings(args, v))
    except (provision.FleetError, bandconfig.ConfigError) as exc:
        raise CliError(str(exc)) from None
    note = venue_note(v, transport)
    if note:
        print(note, file=sys.stderr, flush=True)
    if args.mqtt_passwords:
        n = provision.write_mqtt_passwords(Path(args.mqtt_passwords), r.key, r.fleet, r.settings)
        print(f"wrote {n} MQTT passwords to {args.mqtt_passwords}", file=sys.stderr)
    return fleetrun.run(r)
