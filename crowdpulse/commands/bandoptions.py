"""The band settings that `flash` and `provision` share: their options, and what they give."""

from __future__ import annotations

import argparse

from crowdpulse.cli import CliError
from crowdpulse.tools import bandconfig
from wristband import boards

WIFI_ENV = bandconfig.WIFI_PASSWORD_ENV
MQTT_ENV = bandconfig.MQTT_PASSWORD_ENV


def add_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("band settings (the same for every band of the venue)")
    g.add_argument(
        "--config",
        metavar="VENUE_TOML",
        help="the venue file: its venue name and key, and each band's zone, are used "
        "and checked (instead of --venue and --venue-key)",
    )
    g.add_argument("--venue", help="venue name (default: from --config, else demo)")
    g.add_argument(
        "--board",
        default=boards.DEFAULT,
        choices=sorted(boards.PROFILES),
        help=f"board profile, docs/boards.md (default {boards.DEFAULT})",
    )
    g.add_argument(
        "--window",
        nargs=2,
        metavar=("START", "END"),
        help="event window: unix seconds or ISO 8601 (default: today and tomorrow, UTC)",
    )
    g.add_argument("--interval-ms", type=int, default=250, help="report interval (default 250)")
    g.add_argument(
        "--status-every",
        type=int,
        default=60,
        metavar="S",
        help="status line every S seconds (default 60)",
    )
    g.add_argument("--wifi-ssid", help="the band WLAN")
    g.add_argument(
        "--wifi-password",
        help=f"its passphrase (better: ${WIFI_ENV} or --wifi-file)",
    )
    g.add_argument("--wifi-file", metavar="FILE", help='JSON {"ssid": ..., "password": ...}')
    g.add_argument("--mqtt-host", help="the venue broker as the bands reach it")
    g.add_argument("--mqtt-port", type=int, default=1883)
    g.add_argument("--mqtt-tls", action="store_true", help="MQTT over TLS (port 8883 usually)")
    g.add_argument("--mqtt-user", help="MQTT user name (default: the band id)")
    g.add_argument(
        "--mqtt-password",
        help=f"MQTT password (default: derived from the venue key; or ${MQTT_ENV})",
    )
    g.add_argument("--ntp", help="time server (default pool.ntp.org)")


def venue(args: argparse.Namespace) -> bandconfig.Venue:
    try:
        return bandconfig.venue(args.config, args.venue, args.venue_key)
    except bandconfig.ConfigError as exc:
        raise CliError(str(exc)) from None


def settings(args: argparse.Namespace, v: bandconfig.Venue) -> bandconfig.Settings:
    try:
        ssid, wifi_password = bandconfig.wifi(args.wifi_ssid, args.wifi_password, args.wifi_file)
        return bandconfig.Settings(
            venue=v.name,
            board=args.board,
            window=bandconfig.event_window(*args.window) if args.window else None,
            interval_ms=args.interval_ms,
            status_every_s=args.status_every,
            wifi_ssid=ssid,
            wifi_password=wifi_password,
            mqtt_host=args.mqtt_host,
            mqtt_port=args.mqtt_port,
            mqtt_tls=args.mqtt_tls,
            mqtt_user=args.mqtt_user,
            mqtt_password=bandconfig.mqtt_password_given(args.mqtt_password),
            ntp=args.ntp,
        )
    except bandconfig.ConfigError as exc:
        raise CliError(str(exc)) from None
