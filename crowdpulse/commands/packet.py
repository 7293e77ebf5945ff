"""`crowdpulse packet`: inspect reports and keys by hand."""

from __future__ import annotations

import argparse
import json
import time

from crowdpulse.cli import CliError
from crowdpulse.keys import VenueKeyError, load_venue_key, write_new_key
from crowdpulse.vectors import vectors
from wristband import packet


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="<action>", required=True)
    dec = sub.add_parser("decode", help="decode a report given in hex")
    dec.add_argument("hex", help="the 23 report bytes, in hex")
    dec.add_argument("--venue-key", metavar="FILE", help="venue key file, to check the tag")
    dec.add_argument("--band-id", help="band id, to check the tag and on-air id")
    dec.add_argument(
        "--epoch", type=int, help="id epoch (default: now's, the one before or the one after)"
    )
    sub.add_parser("vectors", help="print the protocol test vectors as JSON")
    key = sub.add_parser("keygen", help="write a new random venue key file (mode 600)")
    key.add_argument("path")


def _decode(args: argparse.Namespace) -> int:
    try:
        raw = bytes.fromhex(args.hex)
        report = packet.decode(raw)
    except ValueError:
        raise CliError("not hexadecimal") from None
    except packet.PacketError as exc:
        raise CliError(f"malformed report: {exc}") from None
    out = report.as_dict()
    if args.band_id:
        try:
            key = packet.band_key(load_venue_key(args.venue_key), args.band_id)
        except (VenueKeyError, packet.PacketError) as exc:
            raise CliError(str(exc)) from None
        if args.epoch is not None:
            epoch = args.epoch if packet.onair_id(key, args.epoch) == report.onair else None
        else:
            epoch = packet.id_epoch(key, report.onair, time.time())
        if epoch is not None and report.version == packet.VERSION:
            # the key reads the masked fields in clear, and the counter behind the seq
            out = packet.decode(raw, key, epoch).as_dict()
            out["counter"] = (report.seq - packet.seq_offset(key, epoch)) & 0xFFFF
        out["tag_ok"] = packet.verify(raw, key)
        out["id_epoch"] = epoch
    print(json.dumps(out))
    return 0


def run(args: argparse.Namespace) -> int:
    if args.action == "decode":
        return _decode(args)
    if args.action == "vectors":
        print(json.dumps(vectors(), indent=2))
        return 0
    try:
        write_new_key(args.path)
    except FileExistsError:
        raise CliError(f"{args.path} exists; refusing to overwrite a venue key") from None
    except OSError as exc:
        raise CliError(f"cannot write {args.path}: {exc.strerror}") from None
    print(f"wrote a new venue key to {args.path}")
    return 0
