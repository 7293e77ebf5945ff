"""`crowdpulse sim sniff`: a passer-by with a BLE sniffer tries to follow bands across id switches.

Runs the firmware's band.py for N bands through several epoch boundaries
(crowdpulse.sim.bands.radiotwin) and prints how often each of the observer's
strategies (crowdpulse.sim.bands.sniffer) pairs an old on-air id with its band's
next one; chance is 1/N.  `--legacy` emulates the firmware before issue 13.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from crowdpulse.cli import CliError
from crowdpulse.sim.bands.sniffer import study


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bands", type=int, default=30, help="bands in the sniffer's range (default 30)"
    )
    parser.add_argument(
        "--boundaries", type=int, default=6, help="epoch boundaries to observe (default 6)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--legacy",
        action="store_true",
        help="the old firmware: fixed public address, plain seq, no quiet time",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    if not 2 <= args.bands <= 1000:
        raise CliError("--bands must be 2-1000")
    if not 1 <= args.boundaries <= 100:
        raise CliError("--boundaries must be 1-100")
    result = study(args.bands, args.boundaries, args.seed, args.legacy)
    if args.json:
        print(json.dumps(result))
    else:
        print(_table(result))
    return 0


def _table(r: dict[str, Any]) -> str:
    head = (
        f"{'legacy' if r['legacy'] else 'current'} firmware, {r['bands']} bands, "
        f"{r['boundaries']} boundaries: "
        f"chance {100 * r['chance']:.1f} %, blind pairing stays under {100 * r['bound']:.1f} %"
    )
    rows = [
        f"  {name:<9} {s['linked']:>5} of {s['of']:<5} {100 * s['accuracy']:5.1f} %"
        for name, s in r["strategies"].items()
    ]
    return "\n".join([head, *rows])
