"""`crowdpulse flash`: flash and configure one band on a serial port (docs/flashing.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from crowdpulse.cli import CliError
from crowdpulse.commands import bandoptions
from crowdpulse.tools import bandconfig, uplinkwait
from crowdpulse.tools.flash import FlashError, Job, Result, flash
from crowdpulse.tools.ui import BandProgress


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", required=True, help="the band's serial port (/dev/ttyUSB0, ...)")
    parser.add_argument(
        "--image",
        metavar="FILE",
        help="MicroPython image (.bin) to write with esptool first: erase, write, verify",
    )
    parser.add_argument(
        "--venue-key",
        metavar="FILE",
        help="venue key file (default: $CROWDPULSE_VENUE_KEY; or --config)",
    )
    parser.add_argument("--band-id", required=True, help="the band's id, e.g. B0001")
    parser.add_argument("--zone", help="the band's zone, e.g. floor (default: from --config)")
    parser.add_argument(
        "--transport",
        choices=bandconfig.TRANSPORTS,
        help="ble, mqtt or both (default: both with --mqtt-host, else ble)",
    )
    add_link_arguments(parser)
    bandoptions.add_arguments(parser)


def add_link_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--connect-timeout",
        type=float,
        default=8.0,
        metavar="S",
        help="how long to try for the band's REPL (default 8 s)",
    )
    parser.add_argument(
        "--boot-timeout",
        type=float,
        default=30.0,
        metavar="S",
        help="how long to wait for the boot line (default 30 s)",
    )
    parser.add_argument(
        "--mqtt-timeout",
        type=float,
        default=20.0,
        metavar="S",
        help="how long to wait for an MQTT band's first `mqtt online` or refusal "
        "(default 20 s; 0: do not wait)",
    )


def default_transport(args: argparse.Namespace) -> str:
    return str(args.transport or ("both" if args.mqtt_host else "ble"))


def summary(result: Result) -> str:
    files = result.unchanged + len(result.written)
    copied = (
        f"{len(result.written)} of {files} files written"
        if result.written
        else f"up to date ({files} files)"
    )
    return (
        f"{result.band_id} on {result.port}: {copied}, verified, booted "
        f"({result.target}, firmware {result.firmware[:12]}, {result.seconds:.1f} s)"
    )


def venue_note(v: bandconfig.Venue, transport: str) -> str | None:
    """A band for the demo venue by default: say so, since a real venue's broker drops it."""
    if v.named or transport == "ble":
        return None
    return (
        "note: these bands are for venue 'demo' (the default); for a venue, give --config "
        "venue.toml or --venue NAME, or the venue's broker drops their reports"
    )


def run(args: argparse.Namespace) -> int:
    v = bandoptions.venue(args)
    transport = default_transport(args)
    try:
        zone = bandconfig.zone_of(v, args.band_id, args.zone, args.config or "--config")
        cfg = bandconfig.band_config(
            v.key, args.band_id, zone, transport, bandoptions.settings(args, v)
        )
    except bandconfig.ConfigError as exc:
        raise CliError(str(exc)) from None
    image = Path(args.image) if args.image else None
    job = Job(
        args.port,
        args.band_id,
        cfg,
        args.board,
        image,
        connect_timeout=args.connect_timeout,
        boot_timeout=args.boot_timeout,
        mqtt_timeout=args.mqtt_timeout,
    )
    with BandProgress() as ui:
        try:
            result = flash(job, ui.band(args.band_id))
        except FlashError as exc:
            ui.finish(args.band_id, "failed")
            raise CliError(str(exc)) from None
        ui.finish(args.band_id, "done")
    print(summary(result), flush=True)
    note = venue_note(v, transport)
    if note:
        print(note, file=sys.stderr, flush=True)
    if result.mqtt is None:
        return 0
    print(
        uplinkwait.explain(result.mqtt, cfg, args.port, args.mqtt_timeout),
        file=sys.stdout if result.mqtt.state == "up" else sys.stderr,
        flush=True,
    )
    return 0 if result.mqtt.state == "up" else 1
