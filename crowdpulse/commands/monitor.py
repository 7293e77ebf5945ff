"""`crowdpulse monitor`: a live, decoded serial console for one band; Ctrl-C stops it."""

from __future__ import annotations

import argparse
import sys

from crowdpulse.cli import CliError, stop_on_signals
from crowdpulse.keys import VenueKeyError, load_venue_key
from crowdpulse.tools.link import LinkError
from crowdpulse.tools.monitor import Monitor


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", required=True, help="the band's serial port")
    parser.add_argument("--baud", type=int, default=115200, help="(default 115200, MicroPython's)")
    parser.add_argument(
        "--venue-key",
        metavar="FILE",
        help="check the tag of printed reports with the band's derived key",
    )


def run(args: argparse.Namespace) -> int:
    key = None
    if args.venue_key:
        try:
            key = load_venue_key(args.venue_key)
        except VenueKeyError as exc:
            raise CliError(str(exc)) from None
    mon = Monitor(args.port, lambda line: print(line, flush=True), key, args.baud)
    stop_on_signals()
    print(f"monitoring {args.port}; Ctrl-C stops", file=sys.stderr, flush=True)
    try:
        mon.run()
    except LinkError as exc:
        raise CliError(str(exc)) from None
    except KeyboardInterrupt:
        pass
    print("monitor stopped", file=sys.stderr, flush=True)
    return 0
