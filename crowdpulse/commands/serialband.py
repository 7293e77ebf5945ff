"""`crowdpulse sim serial-band`: a virtual band on a serial port, for flash, provision and monitor.

It prints the port path, then runs until Ctrl-C.  The band starts blank (or
with what `--root` already holds); `crowdpulse flash --port <that path>`
installs and boots the firmware on it, exactly as on an ESP32.
"""

from __future__ import annotations

import argparse
import sys
import time

from crowdpulse.audio import AudioError
from crowdpulse.cli import CliError, stop_on_signals
from crowdpulse.sim.bands import bandscenes
from crowdpulse.sim.bands.serialband import SerialBand
from crowdpulse.sim.bands.virtualband import Medium


def add_audio_source(parser: argparse.ArgumentParser) -> None:
    """--wav or --signal, and --speed: what a virtual band hears (sim/bands/bandscenes.py)."""
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--wav", help="what the band hears, looped (any common WAV)")
    src.add_argument(
        "--signal",
        choices=bandscenes.NAMES,
        default="claps",
        help="a synthetic scene (default claps)",
    )
    parser.add_argument("--speed", type=float, default=1.0, help="audio speed (1 = real time)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--root",
        metavar="DIR",
        help="the band's flash: a folder kept between runs (default: a temporary one)",
    )
    parser.add_argument("--link", metavar="PATH", help="also make PATH a symlink to the port")
    add_audio_source(parser)
    parser.add_argument(
        "--flash-kb",
        type=int,
        metavar="KB",
        help="give the band a littlefs flash of this size in DIR/flash.img, like an ESP32",
    )
    parser.add_argument("--seconds", type=float, default=0, help="stop after this long (0: Ctrl-C)")


def run(args: argparse.Namespace) -> int:
    if not 0.1 <= args.speed <= 100:
        raise CliError("--speed must be between 0.1 and 100")
    if args.flash_kb is not None and not 16 <= args.flash_kb <= 16384:
        raise CliError("--flash-kb must be 16-16384")
    try:
        audio = bandscenes.band_audio(args.wav, args.signal)
    except AudioError as exc:
        raise CliError(str(exc)) from None
    medium = Medium()
    band = SerialBand(
        args.root,
        link=args.link,
        audio=audio,
        speed=args.speed,
        medium=medium,
        flash_kb=args.flash_kb,
    )
    try:
        band.start()
    except OSError as exc:
        band.stop()
        medium.close()
        raise CliError(f"cannot start the virtual band: {exc}") from None
    print(band.port, flush=True)
    print(
        f"virtual band on {band.port} (flash: {band.root}); "
        f"adverts to udp 127.0.0.1:{medium.port}; "
        "Ctrl-C stops",
        file=sys.stderr,
        flush=True,
    )
    stop_on_signals()
    try:
        deadline = time.monotonic() + args.seconds if args.seconds else None
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        band.stop()
        medium.close()
    print(
        f"virtual band stopped after {band.boots} boots; {len(medium.adverts)} adverts on the air",
        file=sys.stderr,
    )
    return 0
