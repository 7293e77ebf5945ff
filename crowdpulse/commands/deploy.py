"""`crowdpulse deploy`: the venue broker's files, made from the venue file (docs/deploy.md).

    crowdpulse deploy conf --dir /etc/mosquitto --lan 10.0.0.2:1883 --tls 8883
    crowdpulse deploy acl --config venue.toml --relays stage-left,bar --readers dashboard
    crowdpulse deploy passwords --config venue.toml --relays stage-left,bar --readers dashboard \\
        --out /etc/crowdpulse/mqtt-users.txt
    crowdpulse deploy token --config venue.toml      # the console token file it names
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from crowdpulse import deploy, mqttusers
from crowdpulse.cli import CliError
from crowdpulse.gateway import tokenfile
from crowdpulse.gateway.venue import VenueConfig, VenueConfigError, load


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="what", metavar="<what>", required=True)
    conf = sub.add_parser("conf", help="Mosquitto's crowdpulse.conf, for /etc/mosquitto/conf.d/")
    conf.add_argument(
        "--dir",
        default="/etc/mosquitto",
        help="where the password file, ACL and certs/ are (default /etc/mosquitto)",
    )
    conf.add_argument(
        "--lan",
        default="10.0.0.2:1883",
        metavar="ADDRESS:PORT",
        help="the plain listener for bands, on the venue LAN (default 10.0.0.2:1883); "
        "none: TLS only",
    )
    conf.add_argument(
        "--tls",
        default="8883",
        metavar="[ADDRESS:]PORT",
        help="the TLS listener (default 8883, every interface)",
    )
    token = sub.add_parser("token", help="create the console token file the venue file names")
    token.add_argument("--config", required=True, help="the venue file")
    for name, text in (
        ("acl", "the broker's ACL for the venue"),
        ("passwords", "every user's password, kept in a notes file (user:password)"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("--config", required=True, help="the venue file")
        p.add_argument("--relays", default="", help="relay ids, comma-separated (their MQTT users)")
        p.add_argument(
            "--readers", default="", help="read-only users (dashboards), comma-separated"
        )
        p.add_argument("--gateway-user", default="gateway")
        p.add_argument("--console-user", default="console")
        if name == "acl":
            p.add_argument(
                "--ha-prefix", help="Home Assistant's discovery prefix, if the gateway publishes it"
            )
        else:
            p.add_argument(
                "--out", required=True, help="the notes file; existing passwords are kept"
            )


def _names(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def _venue(path: str) -> VenueConfig:
    try:
        return load(path)
    except VenueConfigError as exc:
        raise CliError(str(exc)) from None


def _conf(args: argparse.Namespace) -> int:
    lan = None if args.lan == "none" else args.lan.rpartition(":")
    tls = args.tls.rpartition(":")
    d = args.dir.rstrip("/")
    try:
        text = deploy.render_conf(
            password_file=f"{d}/crowdpulse.passwd",
            acl_file=f"{d}/crowdpulse.acl",
            certfile=f"{d}/certs/broker.crt",
            keyfile=f"{d}/certs/broker.key",
            lan_address=lan[0] if lan else None,
            lan_port=int(lan[2]) if lan else None,
            tls_address=tls[0] or None,
            tls_port=int(tls[2]),
        )
    except ValueError:
        raise CliError("--lan ADDRESS:PORT (or none), --tls [ADDRESS:]PORT") from None
    print(text, end="")
    return 0


def _token(cfg: VenueConfig, config: str) -> int:
    if cfg.console_token_file is None:
        raise CliError(f'{config} names no [console] token_file; add token_file = "console.token"')
    if cfg.console_token is not None:
        print(f"{cfg.console_token_file} exists; left as it is", file=sys.stderr)
        return 0
    try:
        tokenfile.create(cfg.console_token_file, config)
    except tokenfile.TokenFileError as exc:
        raise CliError(str(exc)) from None
    print(f"created {cfg.console_token_file} (mode 600)", file=sys.stderr)
    return 0


def run(args: argparse.Namespace) -> int:
    try:
        if args.what == "conf":
            return _conf(args)
        cfg = _venue(args.config)
        if args.what == "token":
            return _token(cfg, args.config)
        relays, readers = _names(args.relays), _names(args.readers)
        bands = [b for b, _ in cfg.bands]
        deploy.check_usernames(bands, relays, args.gateway_user, args.console_user, readers)
        if args.what == "acl":
            print(
                deploy.render_acl(
                    cfg.venue, relays, args.gateway_user, args.console_user, readers, args.ha_prefix
                ),
                end="",
            )
            return 0
        written, kept = mqttusers.make(
            Path(args.out),
            cfg.venue_key,
            bands,
            relays,
            args.gateway_user,
            args.console_user,
            readers,
        )
    except OSError as exc:
        raise CliError(f"{args.out}: {exc.strerror}") from None
    except (deploy.DeployError, ValueError) as exc:
        raise CliError(str(exc)) from None
    print(
        f"wrote {written} MQTT users to {args.out} ({kept} passwords kept, {len(bands)} bands); "
        "make the broker's password file from a copy: mosquitto_passwd -U",
        file=sys.stderr,
    )
    return 0
