"""`crowdpulse relay`: placeholder until crowdpulse.relay lands."""

from __future__ import annotations

import argparse

from crowdpulse.cli import CliError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--broker", default="mqtt://127.0.0.1:1883")


def run(args: argparse.Namespace) -> int:
    raise CliError("the relay is not built yet")
