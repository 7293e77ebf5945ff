"""`crowdpulse sim`: a simulated crowd (--scenario), `sim band`: one virtual
band running the real firmware, or `sim sniff`: what a passer-by can link."""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from crowdpulse.audio import AudioError
from crowdpulse.cli import CliError, stop_on_signals
from crowdpulse.commands import simrun
from crowdpulse.keys import VenueKeyError, load_venue_key
from crowdpulse.mpylib import MpyLibMissingError
from crowdpulse.mqtt import BrokerURL, BrokerURLError
from crowdpulse.sim.bands import bandscenes
from crowdpulse.sim.bands.virtualband import Medium, VirtualBand, band_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    simrun.add_arguments(parser)
    sub = parser.add_subparsers(dest="what", metavar="<what>")
    band = sub.add_parser(
        "band", help="run firmware/main.py in MicroPython with simulated hardware"
    )
    from crowdpulse.commands import serialband  # `sim serial-band`: docs/flashing.md

    serialband.add_audio_source(band)
    band.add_argument("--config", help="the band's config.json (default: a demo band)")
    band.add_argument("--broker", help="mqtt://host:port for the band's MQTT uplink")
    band.add_argument("--venue-key", metavar="FILE", help="derive the demo band's key from this")
    band.add_argument("--band-id", default="B0001")
    band.add_argument("--seconds", type=float, default=0, help="stop after this long (0: Ctrl-C)")
    serial = sub.add_parser(
        "serial-band", help="a virtual band on a serial port, for flash and monitor"
    )
    serialband.add_arguments(serial)
    serial.set_defaults(_run=serialband.run)
    from crowdpulse.commands import sniff  # `sim sniff`: docs/privacy.md

    sniffer = sub.add_parser(
        "sniff", help="can a passer-by with a BLE sniffer follow bands across id switches?"
    )
    sniff.add_arguments(sniffer)
    sniffer.set_defaults(_run=sniff.run)


def band_audio(args: argparse.Namespace) -> np.ndarray:
    """What `--wav` or `--signal` gives the band (sim/bands/bandscenes.py)."""
    try:
        return bandscenes.band_audio(args.wav, args.signal)
    except AudioError as exc:
        raise CliError(str(exc)) from None


def _config(args: argparse.Namespace) -> dict[str, Any] | str:
    broker = None
    if args.broker:
        try:
            url = BrokerURL.parse(args.broker)
        except BrokerURLError as exc:
            raise CliError(str(exc)) from None
        broker = (url.host, url.port)
    if args.config:
        try:
            text = Path(args.config).read_text()
        except OSError as exc:
            raise CliError(f"{args.config}: {exc.strerror}") from None
        if broker:
            try:
                cfg = json.loads(text)
                cfg["mqtt"] = {**cfg.get("mqtt", {}), "host": broker[0], "port": broker[1]}
                return dict(cfg)
            except (ValueError, TypeError, AttributeError):
                return text  # the band itself will say what is wrong with it
        return text
    try:
        venue_key = load_venue_key(args.venue_key) if args.venue_key else secrets.token_bytes(32)
    except VenueKeyError as exc:
        raise CliError(str(exc)) from None
    return band_config(venue_key, args.band_id, broker=broker, status_every_s=10)


def run(args: argparse.Namespace) -> int:
    if args.what is None:
        if not args.scenario:
            raise CliError("give --scenario NAME|FILE, or a subcommand (see crowdpulse sim --help)")
        return simrun.run(args)
    if not 0.1 <= args.speed <= 100:
        raise CliError("--speed must be between 0.1 and 100")
    audio, config = band_audio(args), _config(args)
    medium = Medium()
    try:
        band = VirtualBand(
            config,
            audio,
            speed=args.speed,
            medium=medium,
            echo=lambda line: print(line, flush=True),
        ).start()
    except MpyLibMissingError as exc:
        medium.close()
        raise CliError(str(exc)) from None
    print(
        f"virtual band running (pid {band.pid}); adverts to udp 127.0.0.1:{medium.port}; "
        "Ctrl-C stops",
        file=sys.stderr,
    )
    stop_on_signals()
    try:
        deadline = time.monotonic() + args.seconds if args.seconds else None
        while band.proc is not None and band.proc.poll() is None:
            if deadline and time.monotonic() > deadline:
                break
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        code = band.stop()
        medium.close()
    print(f"band stopped; {len(medium.adverts)} adverts on the air", file=sys.stderr)
    return 0 if code in (0, None) else 1
