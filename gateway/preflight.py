"""Before doors open: the venue file, its bands, its key and token files.

`crowdpulse doctor` prints these checks (with the broker's, gateway/brokerprobe.py,
and a listen, gateway/listen.py); `crowdpulse gateway` runs the same at start
and logs what is not ok.  Each check is one line with its fix.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from crowdpulse.gateway import tokenfile
from crowdpulse.gateway.brokerprobe import Check
from crowdpulse.gateway.venue import VenueConfig, VenueConfigError, load


def venue_file(path: str) -> tuple[VenueConfig | None, Check]:
    """The venue file, loaded strictly (unknown keys are errors, with a did-you-mean)."""
    try:
        cfg = load(path)
    except VenueConfigError as exc:
        return None, Check(
            "fail", str(exc), "edit the venue file (deploy/venue.example.toml lists every setting)"
        )
    return cfg, Check(
        "ok",
        f"venue file {path}: venue {cfg.venue}, {len(cfg.zones)} zones, {len(cfg.bands)} bands",
    )


def bands(cfg: VenueConfig) -> list[Check]:
    """Band ids per zone; a crowd zone with fewer bands than k_anonymity can never show a score."""
    out = []
    for z in cfg.zones:
        ids = [b for b, zone in cfg.bands if zone == z.name]
        span = f"{ids[0]} .. {ids[-1]}" if len(ids) > 1 else (ids[0] if ids else "none")
        what = f"zone {z.name}: {len(ids)} bands ({span})"
        if z.reference:
            # hears the programme, not a crowd: never scored, so k-anonymity does not apply
            out.append(Check("ok", what + ": the music reference (docs/reference.md)"))
        elif len(ids) < cfg.k_anonymity:
            out.append(
                Check(
                    "warn",
                    what + f", fewer than k_anonymity = {cfg.k_anonymity}: this zone "
                    "will never show a score",
                    "add bands to the zone, merge it with another, or lower sentiment.k_anonymity",
                )
            )
        else:
            out.append(Check("ok", what))
    return out


def key_file(cfg: VenueConfig) -> Check:
    if cfg.key_path is None:
        return Check("ok", "venue key: from the environment")
    mode = stat.S_IMODE(os.stat(cfg.key_path).st_mode)
    if mode & 0o004:
        return Check(
            "warn",
            f"venue key {cfg.key_path} is readable by every user (mode {mode:o})",
            f"chmod 640 {cfg.key_path} (owner root, group crowdpulse)",
        )
    return Check("ok", f"venue key {cfg.key_path} (mode {mode:o})")


def token(cfg: VenueConfig, venue_path: str, create: bool) -> Check:
    """The console token file; with `create`, a missing one is made."""
    if cfg.console_token_file is None:
        if cfg.console_token is None:
            return Check(
                "warn",
                "no console token: the gateway makes a new one at every start",
                'set [console] token_file = "console.token" to keep one',
            )
        return Check("ok", "console token: set in the venue file")
    path = Path(cfg.console_token_file)
    if cfg.console_token is not None:
        return Check("ok", f"console token file {path}")
    if not create:
        return Check(
            "fail",
            f"console token file {path} does not exist",
            f"crowdpulse doctor --config {venue_path} --create-token (the gateway also makes "
            "it at start, where it may write)",
        )
    try:
        cfg.console_token = tokenfile.create(path, venue_path)
    except tokenfile.TokenFileError as exc:
        return Check("fail", str(exc))
    return Check(
        "ok", f"console token file {path}: created (mode 600); the console asks for what it holds"
    )
