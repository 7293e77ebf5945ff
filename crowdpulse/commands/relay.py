"""`crowdpulse relay`: hear band adverts over BLE and batch them to MQTT (docs/relay.md)."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import socket
import sys
import time
from typing import TYPE_CHECKING

from crowdpulse.cli import CliError
from crowdpulse.mqtt import BrokerURL, BrokerURLError
from crowdpulse.names import ID_RE, NAME_RE

if TYPE_CHECKING:  # bleak and paho load only when a relay runs, not for --help
    from crowdpulse.relay.forwarder import Relay
    from crowdpulse.relay.scanner import ScannerFactory

# The same rules as a band's config (firmware/wristband/config.py): venue names
# are lower case, ids may also hold upper case and dots.  Both end up in topics.
BROKER_ENV = "CROWDPULSE_BROKER"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # From the environment too, so a password need not show in `ps` (docs/relay.md).
    parser.add_argument(
        "--broker",
        default=os.environ.get(BROKER_ENV, "mqtt://127.0.0.1:1883"),
        help=f"mqtt[s]://[user:password@]host[:port] (default ${BROKER_ENV} "
        "or mqtt://127.0.0.1:1883)",
    )
    parser.add_argument(
        "--adapter", help="Bluetooth adapter, e.g. hci0 (default: the first powered one)"
    )
    parser.add_argument("--venue", required=True, help="the venue's short name, as in topics")
    parser.add_argument("--relay-id", help="this relay's name in topics (default: the host name)")
    parser.add_argument("--ca-file", help="CA certificate for mqtts:// (default: the system's)")
    parser.add_argument(
        "--silence",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="restart scanning after this long without any advert (default 30)",
    )
    parser.add_argument(
        "--status-every",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="print a status line this often (default 30)",
    )


def _default_relay_id() -> str:
    name = re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname().split(".")[0])
    return name[:32] or "relay"


def _log(line: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {line}", file=sys.stderr, flush=True)


def _relay(args: argparse.Namespace, scanner: ScannerFactory | None) -> Relay:
    from crowdpulse.relay.forwarder import Relay
    from crowdpulse.relay.forwarding import Timing
    from crowdpulse.relay.scanner import bleak_factory
    from crowdpulse.relay.uplink import Uplink

    try:
        broker = BrokerURL.parse(args.broker)
    except BrokerURLError as exc:
        raise CliError(str(exc)) from None
    if not NAME_RE.fullmatch(args.venue):
        raise CliError("--venue must be 1-32 of a-z 0-9 _ -")
    relay_id = args.relay_id or _default_relay_id()
    if not ID_RE.fullmatch(relay_id):
        raise CliError("--relay-id must be 1-32 of A-Z a-z 0-9 . _ -")
    if args.silence < 1 or args.status_every < 1:
        raise CliError("--silence and --status-every must be at least 1 second")
    if args.ca_file and not broker.tls:
        raise CliError("--ca-file needs an mqtts:// broker")
    try:
        uplink = Uplink(
            broker, args.venue, relay_id, _log, adapter=args.adapter, ca_file=args.ca_file
        )
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        raise CliError(f"cannot set up TLS: {exc}") from None
    timing = Timing(silence_s=args.silence, status_every_s=args.status_every)
    return Relay(
        broker,
        args.venue,
        relay_id,
        scanner=scanner or bleak_factory(args.adapter),
        adapter=args.adapter,
        timing=timing,
        log=_log,
        uplink=uplink,
    )


async def _main(relay: Relay) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, relay.request_stop)
    await relay.run()


def run(args: argparse.Namespace, scanner: ScannerFactory | None = None) -> int:
    """The relay until SIGINT/SIGTERM; `scanner` replaces bleak's (for machines
    with no Bluetooth adapter: the tests pass a fake radio here)."""
    from crowdpulse.relay.forwarder import RelayStartError

    relay = _relay(args, scanner)
    try:
        asyncio.run(_main(relay))
    except RelayStartError as exc:
        raise CliError(f"{exc}; see docs/relay.md") from None
    return 0
