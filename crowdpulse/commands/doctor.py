"""`crowdpulse doctor`: check a venue before doors open; one line per check, with the fix."""

from __future__ import annotations

import argparse
import os
import sys

from crowdpulse.cli import CliError
from crowdpulse.gateway import doctor
from crowdpulse.gateway.brokerprobe import Check
from crowdpulse.mqtt import BrokerURL, BrokerURLError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", default="venue.toml", help="the venue file (default venue.toml)"
    )
    parser.add_argument(
        "--broker",
        default=os.environ.get("CROWDPULSE_BROKER", "mqtt://127.0.0.1:1883"),
        help="the gateway's broker URL, as for `crowdpulse gateway` "
        "(default $CROWDPULSE_BROKER or mqtt://127.0.0.1:1883)",
    )
    parser.add_argument("--ca-file", help="CA certificate for mqtts://")
    parser.add_argument(
        "--listen",
        type=float,
        default=10.0,
        metavar="S",
        help="listen to the venue's traffic this long (default 10 s; 0: skip)",
    )
    parser.add_argument(
        "--create-token",
        action="store_true",
        help="create the console token file when it does not exist",
    )


def _ask(question: str) -> bool:
    try:
        return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        return False


def _say(check: Check) -> None:
    print(check.line(), flush=True)


def run(args: argparse.Namespace) -> int:
    try:
        broker = BrokerURL.parse(args.broker)
    except BrokerURLError as exc:
        raise CliError(str(exc)) from None
    if not 0 <= args.listen <= 600:
        raise CliError("--listen must be 0-600 seconds")
    opt = doctor.Options(
        args.config,
        broker,
        args.ca_file,
        args.listen,
        args.create_token,
        _ask if sys.stdin.isatty() and sys.stdout.isatty() else None,
    )
    ok = doctor.run(opt, _say)
    print(
        "doctor: all checks passed" if ok else "doctor: some checks failed (FAIL lines above)",
        file=sys.stderr,
    )
    return 0 if ok else 1
