"""`crowdpulse report --db GATEWAY.db --out night.html`: the post-show report."""

from __future__ import annotations

import argparse
from pathlib import Path

from crowdpulse.cli import CliError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        required=True,
        metavar="GATEWAY.db",
        help="the gateway's SQLite file ([storage] path), or one from `crowdpulse sim --db`",
    )
    parser.add_argument(
        "--out", required=True, metavar="night.html", help="where to write the report"
    )


def run(args: argparse.Namespace) -> int:
    from crowdpulse.report import data, page

    try:
        night = data.load(args.db)
    except data.ReportError as exc:
        raise CliError(str(exc)) from None
    out = Path(args.out)
    try:
        out.write_text(page.render(night), encoding="utf-8")
    except OSError as exc:
        raise CliError(f"{out}: {exc.strerror}") from None
    print(
        f"wrote {out}: {night.venue}, {len(night.tracks)} tracks, {len(night.zones)} zones, "
        f"{(night.end - night.start) / 60:.0f} min"
    )
    return 0
