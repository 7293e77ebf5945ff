"""`crowdpulse relay ARGS...` as the command line runs it, with the fake radio
of test_relay.py (three bands on the air) handed to the command's `run()`:
this machine has no Bluetooth adapter.  Run as a script by test_relay.py."""

from __future__ import annotations

import sys

from test_relay import AirScanner

from crowdpulse.cli import CliError, build_parser
from crowdpulse.commands import relay


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(["relay", *argv])
    try:
        return relay.run(args, scanner=AirScanner)
    except CliError as exc:  # as crowdpulse.cli.main prints it
        print(f"crowdpulse relay: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
