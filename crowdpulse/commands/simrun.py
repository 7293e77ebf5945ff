"""`crowdpulse sim --scenario NAME|FILE`: a simulated crowd, against a gateway.

With --broker, the night runs on the wall clock and its relays' batches and
WiFi bands' reports go to that broker, for a `crowdpulse gateway` configured
with the venue file that --write-venue writes.  With --config, against a real
venue: its venue name, key and bands (zones matched by name), the broker URL
and credentials from $CROWDPULSE_BROKER as for the gateway, and --ca-file.
Without --broker, it runs as fast as it can against a gateway engine in this
process and prints how close the gateway's sentiment came to the truth.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from crowdpulse.cli import CliError
from crowdpulse.keys import VenueKeyError, load_venue_key
from crowdpulse.mqtt import BrokerURL, BrokerURLError
from crowdpulse.sim.runs import session
from crowdpulse.sim.world import scenario as scenarios

MODES = ("fast", "twin", "faithful")
MAX_DEVICES = {
    "fast": 200_000,
    "twin": 5_000,
    "faithful": 200,
}  # faithful: ~50 in real time on 2 cores


def add_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("a simulated crowd (sim --scenario ...)")
    g.add_argument(
        "--scenario",
        metavar="NAME|FILE",
        help=f"a scenario TOML, or one of: {', '.join(scenarios.shipped())}",
    )
    g.add_argument(
        "--devices", type=int, help="virtual bands (default 2000; with --config, its bands)"
    )
    g.add_argument(
        "--mode",
        choices=MODES,
        default="fast",
        help="fast: report-level bands (calibrated against the twin); twin: synthesized audio "
        "through the DSP twin; faithful: the real firmware in MicroPython",
    )
    g.add_argument(
        "--broker",
        default=os.environ.get("CROWDPULSE_BROKER"),
        help="mqtt[s]://[user:password@]host:port: run live against a gateway on this broker "
        "(default $CROWDPULSE_BROKER, which keeps the password out of ps). With a user, "
        "the simulator publishes as that relay (a venue's ACL allows nothing else)",
    )
    g.add_argument("--ca-file", help="CA certificate for mqtts://")
    g.add_argument(
        "--config",
        metavar="VENUE_TOML",
        help="a real venue's file: its venue name, key and bands (instead of --venue, "
        "--venue-key and --devices)",
    )
    g.add_argument("--venue", default="sim", help="the venue name on the broker (default sim)")
    g.add_argument("--venue-key", metavar="FILE", help="the venue key the gateway uses (hex file)")
    g.add_argument(
        "--speed", type=float, default=1.0, help="scenario time per real second (default 1)"
    )
    g.add_argument(
        "--seconds", type=float, help="stop after this long (default: the whole scenario)"
    )
    g.add_argument(
        "--follow",
        choices=("timeline", "selector"),
        default="timeline",
        help="who picks the tracks: the scenario's timeline, or the gateway's selector (live)",
    )
    g.add_argument(
        "--reference",
        action="store_true",
        help="add a music reference, band REF at the booth: it hears the programme alone "
        "(write the venue file with it too)",
    )
    g.add_argument(
        "--truth", metavar="CSV", help="write the ground truth here (default <scenario>-truth.csv)"
    )
    g.add_argument(
        "--write-venue", metavar="TOML", help="write a venue file for these bands and exit"
    )
    g.add_argument("--json", action="store_true", help="offline: the last line is a JSON summary")
    g.add_argument(
        "--db",
        metavar="FILE",
        help="offline, with the selector playing in auto mode through a "
        "simulated deck: write the gateway's history and the selector's log here, for "
        "`crowdpulse report --db FILE`",
    )
    g.add_argument(
        "--track-s", type=float, metavar="S", help="with --db: cut every track to this long"
    )


def _venue_bands(args: argparse.Namespace, sc: scenarios.Scenario) -> list[list[str]] | None:
    """With --config: the venue's name and key, and its bands for each scenario zone."""
    if not args.config:
        return None
    from crowdpulse.gateway.venue import VenueConfigError, load

    if args.mode == "faithful":
        raise CliError("--config works with --mode fast or twin")
    try:
        cfg = load(args.config)
    except VenueConfigError as exc:
        raise CliError(str(exc)) from None
    try:
        bands = session.bands_by_zone(sc, list(cfg.bands), [z.name for z in cfg.zones], args.config)
    except session.VenueMismatchError as exc:
        raise CliError(str(exc)) from None
    args.venue, args.venue_key_bytes = cfg.venue, cfg.venue_key
    return bands


def _check(args: argparse.Namespace) -> scenarios.Scenario:
    try:
        sc = scenarios.load(args.scenario)
    except scenarios.ScenarioError as exc:
        raise CliError(str(exc)) from None
    args.band_ids = _venue_bands(args, sc)
    if args.band_ids is not None:
        if args.devices is not None:
            raise CliError("--devices and --config: the venue file says how many bands")
        args.devices = sum(len(z) for z in args.band_ids)
    elif args.devices is None:
        args.devices = 2000
    if not len(sc.zones) <= args.devices <= MAX_DEVICES[args.mode]:
        raise CliError(
            f"--devices must be {len(sc.zones)}-{MAX_DEVICES[args.mode]} in {args.mode} mode"
        )
    if not 0.1 <= args.speed <= 100:
        raise CliError("--speed must be between 0.1 and 100")
    if args.seconds is not None and args.seconds <= 0:
        raise CliError("--seconds must be positive")
    if args.mode == "faithful" and not args.broker and not args.write_venue:
        raise CliError("--mode faithful runs the real firmware against a gateway: give --broker")
    return sc


def _key(args: argparse.Namespace) -> bytes:
    if getattr(args, "venue_key_bytes", None):
        return bytes(args.venue_key_bytes)
    if not args.venue_key:
        if args.broker:
            raise CliError("--broker needs --venue-key: the gateway must hold the same key")
        return bytes(range(32))  # offline: the gateway engine is in this process
    try:
        return load_venue_key(args.venue_key)
    except VenueKeyError as exc:
        raise CliError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    sc = _check(args)
    if args.write_venue:
        key_file = str(Path(args.venue_key).resolve()) if args.venue_key else "venue.key"
        Path(args.write_venue).write_text(
            session.venue_file(
                sc, args.devices, args.venue, key_file, reference=args.reference
            ).text()
        )
        ref = ", reference REF" if args.reference else ""
        print(
            f"wrote {args.write_venue}: venue {args.venue}, bands S00001-S{args.devices:05d}{ref}"
        )
        return 0
    key = _key(args)
    if args.db:
        return _night(args, sc, key)
    if args.broker:
        res = _live(args, sc, key)
    else:
        res = session.offline(
            sc, args.devices, key, seconds=args.seconds, mode=args.mode, reference=args.reference
        )
    truth = Path(args.truth or f"{Path(args.scenario).stem}-truth.csv")
    session.write_truth(res, truth)
    _summary(args, res, truth)
    return 0


def _night(args: argparse.Namespace, sc: scenarios.Scenario, key: bytes) -> int:
    from crowdpulse.sim.runs.night import night

    if args.broker or args.mode == "faithful":
        raise CliError("--db runs offline (no --broker), in fast or twin mode")
    if args.track_s is not None and args.track_s < 10:
        raise CliError("--track-s must be at least 10")
    if Path(args.db).exists():
        raise CliError(f"{args.db} exists; give a new file")
    print(
        f"crowdpulse sim: {sc.name}, {args.devices} bands ({args.mode}), "
        f"selector in auto mode -> {args.db}",
        file=sys.stderr,
        flush=True,
    )
    n = night(
        sc, args.devices, key, args.db, seconds=args.seconds, track_s=args.track_s, mode=args.mode
    )
    out = {
        "scenario": sc.name,
        "devices": args.devices,
        "sim_s": round(n.seconds),
        "wall_s": round(n.wall_s, 1),
        "tracks": n.tracks_played,
        "adaptive_flow": n.recoveries,
        "db": args.db,
    }
    for k, v in out.items():
        print(f"{k:>14}: {v}", file=sys.stderr)
    if args.json:
        print(json.dumps(out))
    return 0


def _live(args: argparse.Namespace, sc: scenarios.Scenario, key: bytes) -> session.Result:
    try:
        url = BrokerURL.parse(args.broker)
    except BrokerURLError as exc:
        raise CliError(str(exc)) from None
    print(
        f"crowdpulse sim: {sc.name}, {args.devices} bands ({args.mode}) -> {url.host}:{url.port} "
        f"venue {args.venue}; Ctrl-C stops",
        file=sys.stderr,
        flush=True,
    )
    try:
        if args.mode == "faithful":
            from crowdpulse.sim.runs.faithful import run_faithful

            return run_faithful(
                sc,
                args.devices,
                url,
                args.venue,
                key,
                args.seconds,
                speed=args.speed,
                reference=args.reference,
            )
        return session.live(
            sc,
            args.devices,
            url,
            args.venue,
            key,
            args.speed,
            args.seconds,
            follow=args.follow == "selector",
            mode=args.mode,
            ca_file=args.ca_file,
            band_ids=args.band_ids,
            reference=args.reference,
        )
    except session.BrokerDownError as exc:
        raise CliError(str(exc)) from None


def _summary(args: argparse.Namespace, res: session.Result, truth: Path) -> None:
    out = res.summary(args.mode, truth)
    for k, v in out.items():
        print(f"{k:>14}: {v}", file=sys.stderr)
    if args.json:
        print(json.dumps(out))
